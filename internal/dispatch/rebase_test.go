package dispatch_test

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imagecascade/cascade/internal/config"
	"github.com/imagecascade/cascade/internal/dispatch"
	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/imageref"
	"github.com/imagecascade/cascade/internal/registry"
	"github.com/imagecascade/cascade/internal/retry"
)

type rebaseFixture struct {
	host             string
	oldBase, newBase v1.Image
	newBaseDigest    imageref.Digest
	ownLayer         v1.Layer
}

func push(t *testing.T, ref string, img v1.Image) imageref.Digest {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return imageref.Digest(d.String())
}

func oci(t *testing.T, img v1.Image) v1.Image {
	t.Helper()
	return mutate.ConfigMediaType(mutate.MediaType(img, types.OCIManifestSchema1), types.OCIConfigJSON)
}

// newRebaseFixture pushes an old and a new base and, when annotate is set,
// an app built on the old base that records it.
func newRebaseFixture(t *testing.T, annotate bool) rebaseFixture {
	t.Helper()
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	f := rebaseFixture{host: u.Host}
	var err error
	if f.oldBase, err = random.Image(512, 2); err != nil {
		t.Fatal(err)
	}
	if f.newBase, err = random.Image(512, 2); err != nil {
		t.Fatal(err)
	}
	f.oldBase, f.newBase = oci(t, f.oldBase), oci(t, f.newBase)
	oldDigest := push(t, f.host+"/acme/base:latest", f.oldBase)
	f.newBaseDigest = push(t, f.host+"/acme/base:latest", f.newBase)
	if f.ownLayer, err = random.Layer(256, types.OCILayer); err != nil {
		t.Fatal(err)
	}
	app, err := mutate.AppendLayers(f.oldBase, f.ownLayer)
	if err != nil {
		t.Fatal(err)
	}
	ann := map[string]string{"org.opencontainers.image.title": "app"}
	if annotate {
		ann[registry.BaseDigestKey] = string(oldDigest)
		ann[registry.BaseNameKey] = f.host + "/acme/base:latest"
	}
	push(t, f.host+"/acme/app:latest", mutate.Annotations(app, ann).(v1.Image))
	return f
}

func (f rebaseFixture) target() dispatch.Target {
	return dispatch.Target{
		Name:    "app",
		Image:   imageref.MustParse(f.host + "/acme/app:latest"),
		Rebuild: config.Rebuild{Rebase: &config.Rebase{}},
		Base:    dispatch.BaseRef{Name: "base", Ref: imageref.MustParse(f.host + "/acme/base:latest@" + string(f.newBaseDigest))},
		Cascade: dispatch.Cascade{Depth: 1, Chain: []string{"base"}},
	}
}

func digests(t *testing.T, ls []v1.Layer) []string {
	t.Helper()
	var out []string
	for _, l := range ls {
		d, err := l.Digest()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, d.String())
	}
	return out
}

func TestRebase(t *testing.T) {
	t.Parallel()
	f := newRebaseFixture(t, true)
	r := dispatch.NewRebase(dispatch.RebaseOptions{Policy: fakePolicy(retry.NewFakeClock(t0))})
	o := r.Dispatch(context.Background(), f.target())
	if o.Status != dispatch.StatusDispatched || o.NewDigest == "" {
		t.Fatalf("outcome %+v", o)
	}
	ref, _ := name.ParseReference(f.host + "/acme/app:latest")
	got, err := remote.Image(ref)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := got.Digest(); d.String() != string(o.NewDigest) {
		t.Errorf("tag points at %s, outcome says %s", d, o.NewDigest)
	}
	gl, _ := got.Layers()
	nl, _ := f.newBase.Layers()
	want := append(digests(t, nl), digests(t, []v1.Layer{f.ownLayer})...)
	if diff := cmp.Diff(want, digests(t, gl)); diff != "" {
		t.Errorf("layers (-want +got):\n%s", diff)
	}
	m, _ := got.Manifest()
	wantAnn := map[string]string{
		"org.opencontainers.image.title": "app",
		registry.BaseDigestKey:           string(f.newBaseDigest),
		registry.BaseNameKey:             f.host + "/acme/base:latest",
	}
	if diff := cmp.Diff(wantAnn, m.Annotations); diff != "" {
		t.Errorf("annotations (-want +got):\n%s", diff)
	}
	if m.MediaType != types.OCIManifestSchema1 {
		t.Errorf("media type %s", m.MediaType)
	}
	// Again: it is now built on the new base; nothing to do.
	if o2 := r.Dispatch(context.Background(), f.target()); o2.Status != dispatch.StatusSkipped {
		t.Errorf("second rebase: %+v, want skipped", o2)
	}
}

func TestRebaseOldBaseUnknown(t *testing.T) {
	t.Parallel()
	f := newRebaseFixture(t, false)
	r := dispatch.NewRebase(dispatch.RebaseOptions{Policy: fakePolicy(retry.NewFakeClock(t0))})
	o := r.Dispatch(context.Background(), f.target())
	if o.Status != dispatch.StatusFailed || !errors.Is(o.Err, dispatch.ErrOldBaseUnknown) || o.Attempts != 1 {
		t.Fatalf("outcome %+v, want failed with ErrOldBaseUnknown after one attempt", o)
	}
	if exitcode.Of(o.Err) != exitcode.Invalid {
		t.Errorf("exit code %d", exitcode.Of(o.Err))
	}
}
