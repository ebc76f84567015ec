package registry_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/imageref"
	"github.com/imagecascade/cascade/internal/registry"
)

func TestNewValidatesOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts []registry.Option
		want []string // substrings of the error; nil for success
	}{
		{name: "defaults"},
		{name: "all set", opts: []registry.Option{
			registry.WithKeychain(anonymous), registry.WithTransport(newCounter()),
			registry.WithAllow([]string{"registry.example.com", "localhost:5000", "*.cdn.example.com", "docker.io"}),
			registry.WithInsecure([]string{"registry.internal:5000"}),
			registry.WithConcurrency(4), registry.WithUserAgent("cascade/1.0"),
		}},
		{name: "empty allowlist allows all", opts: []registry.Option{registry.WithAllow(nil)}},
		{name: "every problem at once", opts: []registry.Option{
			registry.WithKeychain(nil), registry.WithTransport(nil), registry.WithConcurrency(0),
			registry.WithAllow([]string{"https://registry.example.com", "", "host/path", "*", "*.x.com:5000"}),
			registry.WithInsecure([]string{"*.example.com"}),
			registry.WithUserAgent("bad\nagent"),
		}, want: []string{
			"keychain: must not be nil", "transport: must not be nil", "concurrency: must be at least 1, got 0",
			`allow: [0] "https://registry.example.com"`, `[1] ""`, `[2] "host/path"`, `[3] "*"`, `[4] "*.x.com:5000"`,
			`insecure: [0] "*.example.com"`, "user agent",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := registry.New(tt.opts...)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("New succeeded, want an error")
			}
			if got := exitcode.Of(err); got != exitcode.Invalid {
				t.Errorf("exit code %d, want %d", got, exitcode.Invalid)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestDigest(t *testing.T) {
	t.Parallel()
	host := newRegistry(t, nil)
	img := randomImage(t, nil, 2, nil, nil)
	want := push(t, host+"/acme/base:latest", img)

	tests := []struct {
		name    string
		ref     string
		prepare bool
		want    map[string]int
	}{
		{name: "prepared tag", ref: host + "/acme/base:latest", prepare: true,
			want: map[string]int{"GET ping": 1, "HEAD manifest": 1}},
		{name: "lazy tag", ref: host + "/acme/base:latest",
			want: map[string]int{"GET ping": 1, "HEAD manifest": 1}},
		{name: "digest is still checked with HEAD", ref: host + "/acme/base@" + string(want),
			want: map[string]int{"GET ping": 1, "HEAD manifest": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newCounter()
			cl := newClient(t, c)
			ctx := context.Background()
			ref := mustParse(t, tt.ref)
			if tt.prepare {
				if err := cl.Prepare(ctx, []imageref.Ref{ref}); err != nil {
					t.Fatalf("Prepare: %v", err)
				}
			}
			got, err := cl.Digest(ctx, ref)
			if err != nil {
				t.Fatalf("Digest: %v", err)
			}
			if got != want {
				t.Errorf("Digest = %s, want %s", got, want)
			}
			if diff := cmp.Diff(tt.want, c.counts()); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDigestFallsBackToGETWithoutDigestHeader(t *testing.T) {
	t.Parallel()
	host := newRegistry(t, stripHeadDigest)
	want := push(t, host+"/acme/base:latest", randomImage(t, nil, 1, nil, nil))
	c := newCounter()
	cl := newClient(t, c)

	got, err := cl.Digest(context.Background(), mustParse(t, host+"/acme/base:latest"))
	if err != nil {
		t.Fatalf("Digest: %v", err)
	}
	if got != want {
		t.Errorf("Digest = %s, want %s", got, want)
	}
	if diff := cmp.Diff(map[string]int{"GET ping": 1, "HEAD manifest": 1, "GET manifest": 1}, c.counts()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

func TestInspectImage(t *testing.T) {
	t.Parallel()
	host := newRegistry(t, nil)
	base := randomImage(t, nil, 2, nil, nil)
	baseDigest := push(t, host+"/acme/base:latest", base)
	buildAnns := map[string]string{registry.BaseDigestKey: string(baseDigest), registry.BaseNameKey: host + "/acme/base:latest"}
	buildLabels := map[string]string{registry.BaseDigestKey: string(baseDigest), "maintainer": "acme"}

	annotated := randomImage(t, base, 1, buildAnns, buildLabels)
	push(t, host+"/acme/annotated:latest", annotated)
	labelled := randomImage(t, base, 1, nil, buildLabels)
	push(t, host+"/acme/labelled:latest", labelled)
	bare := randomImage(t, base, 1, nil, nil)
	push(t, host+"/acme/bare:latest", bare)

	tests := []struct {
		name   string
		repo   string
		img    v1.Image
		labels bool
		want   registry.Manifest // Layers filled from img
		reqs   map[string]int
	}{
		{name: "annotations, labels not asked", repo: "annotated", img: annotated,
			want: registry.Manifest{Annotations: buildAnns},
			reqs: map[string]int{"GET ping": 1, "GET manifest": 1}},
		{name: "annotations carry the base, labels not needed", repo: "annotated", img: annotated, labels: true,
			want: registry.Manifest{Annotations: buildAnns},
			reqs: map[string]int{"GET ping": 1, "GET manifest": 1}},
		{name: "labels not asked", repo: "labelled", img: labelled,
			reqs: map[string]int{"GET ping": 1, "GET manifest": 1}},
		{name: "labels read from the config blob", repo: "labelled", img: labelled, labels: true,
			want: registry.Manifest{Labels: buildLabels, LabelsFetched: true},
			reqs: map[string]int{"GET ping": 1, "GET manifest": 1, "GET blob": 1}},
		{name: "no labels at all", repo: "bare", img: bare, labels: true,
			want: registry.Manifest{LabelsFetched: true},
			reqs: map[string]int{"GET ping": 1, "GET manifest": 1, "GET blob": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newCounter()
			cl := newClient(t, c)
			ref := mustParse(t, host+"/acme/"+tt.repo+":latest")
			got, err := cl.Inspect(context.Background(), ref, tt.labels)
			if err != nil {
				t.Fatalf("Inspect: %v", err)
			}
			wantM := tt.want
			wantM.Layers = layersOf(t, tt.img)
			mt, err := tt.img.MediaType()
			if err != nil {
				t.Fatal(err)
			}
			want := &registry.Image{Ref: ref, Digest: digestOf(t, tt.img), MediaType: string(mt), Manifest: wantM}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Inspect (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(layersOf(t, base), got.Manifest.Layers[:2]); diff != "" {
				t.Errorf("base layers are not a prefix (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.reqs, c.counts()); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
		})
	}
}

func TestInspectIndexSkipsAttestations(t *testing.T) {
	t.Parallel()
	host := newRegistry(t, nil)
	amd := randomImage(t, nil, 2, map[string]string{registry.BaseDigestKey: "sha256:" + strings.Repeat("a", 64)}, nil)
	arm := randomImage(t, nil, 2, map[string]string{registry.BaseDigestKey: "sha256:" + strings.Repeat("b", 64)}, nil)
	att := randomImage(t, nil, 1, nil, nil)
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}},
		mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{
			Platform: &v1.Platform{OS: "unknown", Architecture: "unknown"},
			Annotations: map[string]string{
				"vnd.docker.reference.type":   "attestation-manifest",
				"vnd.docker.reference.digest": string(digestOf(t, amd)),
			},
		}},
	)
	idx = mutate.Annotations(idx, map[string]string{"org.opencontainers.image.version": "1.2"}).(v1.ImageIndex)
	idxDigest := pushIndex(t, host+"/acme/multi:latest", idx)

	c := newCounter()
	cl := newClient(t, c)
	ref := mustParse(t, host+"/acme/multi:latest")
	got, err := cl.Inspect(context.Background(), ref, true)
	if err != nil {
		t.Fatalf("Inspect: %v", err)
	}
	want := &registry.Image{
		Ref: ref, Digest: idxDigest, MediaType: string(types.OCIImageIndex), Index: true,
		Manifest: registry.Manifest{Annotations: map[string]string{"org.opencontainers.image.version": "1.2"}},
		Platforms: []registry.Platform{
			{Platform: "linux/amd64", Digest: digestOf(t, amd), Manifest: registry.Manifest{
				Annotations: map[string]string{registry.BaseDigestKey: "sha256:" + strings.Repeat("a", 64)},
				Layers:      layersOf(t, amd)}},
			{Platform: "linux/arm64/v8", Digest: digestOf(t, arm), Manifest: registry.Manifest{
				Annotations: map[string]string{registry.BaseDigestKey: "sha256:" + strings.Repeat("b", 64)},
				Layers:      layersOf(t, arm)}},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Inspect (-want +got):\n%s", diff)
	}
	// 1 index + P=2 platform manifests; the attestation is never fetched;
	// the annotations carry the base, so no config blob either.
	if diff := cmp.Diff(map[string]int{"GET ping": 1, "GET manifest": 3}, c.counts()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	if p, ok := got.Find("linux/arm64/v8"); !ok || p.Digest != digestOf(t, arm) {
		t.Errorf("Find(linux/arm64/v8) = %v, %v", p, ok)
	}

	// Head tells an index from an image with one HEAD, on the same session.
	d, err := cl.Head(context.Background(), ref)
	if err != nil {
		t.Fatalf("Head: %v", err)
	}
	wantD := registry.Descriptor{Digest: idxDigest, MediaType: string(types.OCIImageIndex), Index: true}
	if diff := cmp.Diff(wantD, d); diff != "" {
		t.Errorf("Head (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int{"HEAD manifest": 1}, c.counts()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

func TestInspectManyRepositoriesOnePing(t *testing.T) {
	t.Parallel()
	host := newRegistry(t, nil)
	const n = 6
	var refs []imageref.Ref
	want := map[int]imageref.Digest{}
	for i := range n {
		r := fmt.Sprintf("%s/acme/app-%d:latest", host, i)
		refs = append(refs, mustParse(t, r))
		if i != 3 { // app-3 is missing
			want[i] = push(t, r, randomImage(t, nil, 1, nil, nil))
		}
	}
	modes := map[string]func(*registry.Client) ([]*registry.Image, []error){
		"InspectAll": func(cl *registry.Client) ([]*registry.Image, []error) {
			return cl.InspectAll(context.Background(), refs, false)
		},
		"Prepare then Inspect each": func(cl *registry.Client) ([]*registry.Image, []error) {
			if err := cl.Prepare(context.Background(), refs); err != nil {
				t.Fatalf("Prepare: %v", err)
			}
			images, errs := make([]*registry.Image, n), make([]error, n)
			var wg sync.WaitGroup
			for i, r := range refs {
				wg.Go(func() { images[i], errs[i] = cl.Inspect(context.Background(), r, false) })
			}
			wg.Wait()
			return images, errs
		},
	}
	for mode, inspect := range modes {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			c := newCounter()
			cl := newClient(t, c, registry.WithConcurrency(3))
			images, errs := inspect(cl)
			for i := range n {
				if i == 3 {
					if !errors.Is(errs[i], registry.ErrNotFound) || images[i] != nil {
						t.Errorf("[%d] = %v, %v; want nil, ErrNotFound", i, images[i], errs[i])
					}
					continue
				}
				if errs[i] != nil {
					t.Errorf("[%d]: %v", i, errs[i])
					continue
				}
				if images[i].Digest != want[i] || images[i].Ref != refs[i] {
					t.Errorf("[%d] = %s %s, want %s %s", i, images[i].Ref, images[i].Digest, refs[i], want[i])
				}
			}
			if diff := cmp.Diff(map[string]int{"GET ping": 1, "GET manifest": n}, c.counts()); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
		})
	}
}

func TestConcurrentCallersShareOnePing(t *testing.T) {
	t.Parallel()
	host := newRegistry(t, nil)
	push(t, host+"/acme/base:latest", randomImage(t, nil, 1, nil, nil))
	c := newCounter()
	cl := newClient(t, c)
	ref := mustParse(t, host+"/acme/base:latest")
	const n = 20
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if _, err := cl.Digest(context.Background(), ref); err != nil {
				t.Errorf("Digest: %v", err)
			}
		})
	}
	wg.Wait()
	if diff := cmp.Diff(map[string]int{"GET ping": 1, "HEAD manifest": n}, c.counts()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

// inFlight records the most manifest requests a registry was serving at
// once.
type inFlight struct {
	mu       sync.Mutex
	now, max int
}

func (f *inFlight) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/manifests/") && r.Method == http.MethodGet {
			f.mu.Lock()
			f.now++
			f.max = max(f.max, f.now)
			f.mu.Unlock()
			time.Sleep(5 * time.Millisecond)
			// Leave before answering: the client holds its slot until
			// it has the answer, so this interval lies within it.
			f.mu.Lock()
			f.now--
			f.mu.Unlock()
		}
		next.ServeHTTP(w, r)
	})
}

func TestConcurrencyBoundsRequestsInFlight(t *testing.T) {
	t.Parallel()
	var f inFlight
	host := newRegistry(t, f.wrap)
	var refs []imageref.Ref
	for i := range 6 {
		r := fmt.Sprintf("%s/acme/app-%d:latest", host, i)
		var adds []mutate.IndexAddendum
		for _, arch := range []string{"amd64", "arm64", "s390x"} {
			adds = append(adds, mutate.IndexAddendum{Add: randomImage(t, nil, 1, nil, nil),
				Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
		}
		pushIndex(t, r, mutate.AppendManifests(empty.Index, adds...))
		refs = append(refs, mustParse(t, r))
	}
	f.mu.Lock()
	f.max = 0 // pushing checks manifests concurrently
	f.mu.Unlock()
	c := newCounter()
	cl := newClient(t, c, registry.WithConcurrency(2))
	_, errs := cl.InspectAll(context.Background(), refs, false)
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.max != 2 {
		t.Errorf("%d manifest requests in flight at once, want 2 (the bound, reached)", f.max)
	}
	if diff := cmp.Diff(map[string]int{"GET ping": 1, "GET manifest": 6 * 4}, c.counts()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}
