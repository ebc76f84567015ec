package history

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imagecascade/cascade/internal/dispatch"
	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/imageref"
	"github.com/imagecascade/cascade/internal/registry"
)

// modes are the two ways records are found: the referrers API, and the
// tag scheme of registries without it (distribution 2.8).
var modes = []struct {
	name      string
	referrers bool
}{
	{"referrers API", true},
	{"tag fallback", false},
}

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func sampleGeneration(at time.Time, statuses ...dispatch.Status) Generation {
	g := Generation{
		Previous:  "sha256:" + strings.Repeat("a", 64),
		Time:      at,
		CascadeID: "base-aaaaaaaaaaaa",
		Origin:    "registry.example.com/base@sha256:" + strings.Repeat("b", 64),
		Chain:     []string{"registry.example.com/base"},
	}
	for i, s := range statuses {
		d := Dispatch{Dependent: fmt.Sprintf("app-%d", i), Kind: "tekton", Key: fmt.Sprintf("app-%d-key", i), Status: s, Time: at}
		if s == dispatch.StatusFailed {
			d.Error = "HTTP 500"
		}
		g.Dispatches = append(g.Dispatches, d)
	}
	return g
}

func TestRecordLoadRoundTrip(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			reg := newTestRegistry(t, m.referrers)
			img := pushImage(t, reg.Host, "acme/base:1.0")
			s := newStore(t)
			g := sampleGeneration(t0, dispatch.StatusDispatched, dispatch.StatusFailed)
			if err := s.Record(ctxT(t), img, g); err != nil {
				t.Fatalf("Record: %v", err)
			}
			got, err := s.Load(ctxT(t), img)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			want := g
			want.SchemaVersion, want.Image, want.Tag, want.Digest = 1, img.Name(), "1.0", string(img.Digest)
			if diff := cmp.Diff([]Generation{want}, got); diff != "" {
				t.Errorf("Load (-want +got):\n%s", diff)
			}
			// The referrers API is asked first either way; only the
			// fallback writes and reads the sha256-<hex> tag.
			fallback := "/manifests/" + strings.Replace(string(img.Digest), ":", "-", 1)
			if n := reg.count(fallback); (n > 0) == m.referrers {
				t.Errorf("%d requests for the fallback tag, referrers API %v", n, m.referrers)
			}
		})
	}
}

func TestLoadMergesRuns(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			reg := newTestRegistry(t, m.referrers)
			img := pushImage(t, reg.Host, "acme/base:1.0")
			s := newStore(t)
			second := sampleGeneration(t0.Add(time.Hour), dispatch.StatusDispatched, dispatch.StatusDispatched)
			first := sampleGeneration(t0, dispatch.StatusDispatched, dispatch.StatusFailed)
			// Written newest first: Load orders by time.
			for _, g := range []Generation{second, first} {
				if err := s.Record(ctxT(t), img, g); err != nil {
					t.Fatalf("Record: %v", err)
				}
			}
			got, err := s.Load(ctxT(t), img)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			var times []time.Time
			for _, g := range got {
				times = append(times, g.Time)
			}
			if diff := cmp.Diff([]time.Time{first.Time, second.Time}, times); diff != "" {
				t.Errorf("record times (-want +got):\n%s", diff)
			}
			wantKeys := map[string]bool{"app-0-key": true, "app-1-key": true}
			if diff := cmp.Diff(wantKeys, Dispatched(got)); diff != "" {
				t.Errorf("Dispatched (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadWithoutRecords(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			reg := newTestRegistry(t, m.referrers)
			img := pushImage(t, reg.Host, "acme/base:1.0")
			s := newStore(t)
			got, err := s.Load(ctxT(t), img)
			if err != nil || len(got) != 0 {
				t.Errorf("Load of an image without records = %v, %v; want none, nil", got, err)
			}
			unknown := imageref.MustParse(reg.Host + "/acme/nothing-here@sha256:" + strings.Repeat("c", 64))
			got, err = s.Load(ctxT(t), unknown)
			if err != nil || len(got) != 0 {
				t.Errorf("Load of an unknown repository = %v, %v; want none, nil", got, err)
			}
		})
	}
}

// TestLoadIgnoresForeignReferrers: a signature or SBOM attached to the same
// digest is not a record; neither is a record of another digest.
func TestLoadIgnoresForeignReferrers(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			reg := newTestRegistry(t, m.referrers)
			img := pushImage(t, reg.Host, "acme/base:1.0")
			subj, err := remote.Head(mustDigestRef(t, img))
			if err != nil {
				t.Fatal(err)
			}
			sbom, err := random.Image(32, 1)
			if err != nil {
				t.Fatal(err)
			}
			sbom = mutate.MediaType(sbom, types.OCIManifestSchema1)
			sbom = mutate.ConfigMediaType(sbom, "application/vnd.example.sbom.v1+json")
			attached, ok := mutate.Subject(sbom, *subj).(v1.Image)
			if !ok {
				t.Fatal("mutate.Subject did not return an image")
			}
			d, err := attached.Digest()
			if err != nil {
				t.Fatal(err)
			}
			push(t, reg.Host+"/acme/base@"+d.String(), attached)

			s := newStore(t)
			if err := s.Record(ctxT(t), img, sampleGeneration(t0, dispatch.StatusDispatched)); err != nil {
				t.Fatal(err)
			}
			got, err := s.Load(ctxT(t), img)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 {
				t.Errorf("Load = %d records, want 1 (the SBOM is not one)", len(got))
			}
		})
	}
}

func mustDigestRef(t *testing.T, r imageref.Ref) name.Digest {
	t.Helper()
	d, err := name.NewDigest(r.Name()+"@"+string(r.Digest), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestFallbackTagIndex: on a registry without the referrers API,
// go-containerregistry keeps the OCI referrers tag "sha256-<hex>" as an
// index listing each record with its artifact type.
func TestFallbackTagIndex(t *testing.T) {
	t.Parallel()
	reg := newTestRegistry(t, false)
	img := pushImage(t, reg.Host, "acme/base:1.0")
	s := newStore(t)
	for i := range 2 {
		if err := s.Record(ctxT(t), img, sampleGeneration(t0.Add(time.Duration(i)*time.Minute), dispatch.StatusDispatched)); err != nil {
			t.Fatal(err)
		}
	}
	checkFallbackIndex(t, img, 2)
}

// checkFallbackIndex checks that img's referrers tag lists n records.
func checkFallbackIndex(t *testing.T, img imageref.Ref, n int) {
	t.Helper()
	tag, err := name.NewTag(img.Name()+":"+strings.Replace(string(img.Digest), ":", "-", 1), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(tag)
	if err != nil {
		t.Fatalf("reading the referrers tag: %v", err)
	}
	if desc.MediaType != types.OCIImageIndex {
		t.Errorf("referrers tag media type = %s, want %s", desc.MediaType, types.OCIImageIndex)
	}
	var im v1.IndexManifest
	if err := json.Unmarshal(desc.Manifest, &im); err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, d := range im.Manifests {
		types = append(types, d.ArtifactType)
	}
	want := make([]string, n)
	for i := range want {
		want[i] = ArtifactType
	}
	if diff := cmp.Diff(want, types); diff != "" {
		t.Errorf("artifact types in the referrers tag (-want +got):\n%s", diff)
	}
}

// TestRecordTags: without the referrers API each record is also tagged
// sha256-<hex>.cascade-<record>; with it, no tag is added.
func TestRecordTags(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			reg := newTestRegistry(t, m.referrers)
			img := pushImage(t, reg.Host, "acme/base:1.0")
			s := newStore(t)
			for i := range 2 {
				if err := s.Record(ctxT(t), img, sampleGeneration(t0.Add(time.Duration(i)*time.Minute))); err != nil {
					t.Fatal(err)
				}
			}
			tags, err := remote.List(mustDigestRef(t, img).Context())
			if err != nil {
				t.Fatal(err)
			}
			prefix := strings.Replace(string(img.Digest), ":", "-", 1) + ".cascade-"
			n := 0
			for _, tag := range tags {
				if strings.HasPrefix(tag, prefix) {
					n++
					if len(tag) != len(prefix)+16 {
						t.Errorf("record tag %q: want %d hex characters after the prefix", tag, 16)
					}
				}
			}
			want := 2
			if m.referrers {
				want = 0
			}
			if n != want {
				t.Errorf("%d record tags in %v, want %d", n, tags, want)
			}
		})
	}
}

// TestLoadUntaggedFallbackRecord: a record listed only in the referrers
// tag's index (written by a writer that does not tag) is found too.
func TestLoadUntaggedFallbackRecord(t *testing.T) {
	t.Parallel()
	reg := newTestRegistry(t, false)
	img := pushImage(t, reg.Host, "acme/base:1.0")
	s := newStore(t)
	g := sampleGeneration(t0, dispatch.StatusDispatched)
	g.SchemaVersion, g.Image, g.Tag, g.Digest = 1, img.Name(), img.Tag, string(img.Digest)
	body, err := json.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.write(ctxT(t), mustDigestRef(t, img), body, t0, false, ""); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load(ctxT(t), img)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Generation{g}, got); diff != "" {
		t.Errorf("Load (-want +got):\n%s", diff)
	}
}

// TestRecordConcurrent: runs recording at once all keep their record, also
// where they race to rewrite the fallback tag's index (the record tags
// keep what the index loses).
func TestRecordConcurrent(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			reg := newTestRegistry(t, m.referrers)
			img := pushImage(t, reg.Host, "acme/base:1.0")
			s := newStore(t)
			const n = 8
			var wg sync.WaitGroup
			errs := make([]error, n)
			for i := range n {
				wg.Go(func() {
					errs[i] = s.Record(ctxT(t), img, sampleGeneration(t0.Add(time.Duration(i)*time.Second), dispatch.StatusDispatched))
				})
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatal(err)
			}
			got, err := s.Load(ctxT(t), img)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != n {
				t.Errorf("Load = %d records, want %d", len(got), n)
			}
		})
	}
}

func TestRecordRefusesBadInput(t *testing.T) {
	t.Parallel()
	reg := newTestRegistry(t, true)
	img := pushImage(t, reg.Host, "acme/base:1.0")
	missing := img
	missing.Digest = imageref.Digest("sha256:" + strings.Repeat("d", 64))
	noDigest := img
	noDigest.Digest = ""
	other := sampleGeneration(t0)
	other.Digest = string(missing.Digest)
	tests := []struct {
		name     string
		image    imageref.Ref
		g        Generation
		notFound bool
	}{
		{name: "no digest", image: noDigest, g: sampleGeneration(t0)},
		{name: "generation for another digest", image: img, g: other},
		{name: "digest not in the registry", image: missing, g: sampleGeneration(t0), notFound: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := newStore(t).Record(ctxT(t), tt.image, tt.g)
			if code := exitcode.Of(err); code != exitcode.Invalid {
				t.Errorf("Record error %v: exit code %d, want %d", err, code, exitcode.Invalid)
			}
			if got := errors.Is(err, registry.ErrNotFound); got != tt.notFound {
				t.Errorf("errors.Is(%v, ErrNotFound) = %v, want %v", err, got, tt.notFound)
			}
		})
	}
}

func TestLoadRegistryErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		status   int
		times    int // how many requests fail; -1 forever
		wantCode int
		wantReqs int // referrers requests made (the API probe included)
	}{
		// The probe for the API fails, then probe and listing succeed.
		{name: "503 once then fine", status: http.StatusServiceUnavailable, times: 1, wantCode: exitcode.OK, wantReqs: 3},
		{name: "429 forever", status: http.StatusTooManyRequests, times: -1, wantCode: exitcode.Transient, wantReqs: 3},
		{name: "401 is not retried", status: http.StatusUnauthorized, times: -1, wantCode: exitcode.Transient, wantReqs: 1},
		{name: "403 is not retried", status: http.StatusForbidden, times: -1, wantCode: exitcode.Transient, wantReqs: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg := newTestRegistry(t, true)
			img := pushImage(t, reg.Host, "acme/base:1.0")
			var mu sync.Mutex
			left := tt.times
			reg.setFault(func(r *http.Request) (int, bool) {
				mu.Lock()
				defer mu.Unlock()
				if !strings.Contains(r.URL.Path, "/referrers/") || left == 0 {
					return 0, false
				}
				left--
				return tt.status, true
			})
			_, err := newStore(t).Load(ctxT(t), img)
			if code := exitcode.Of(err); code != tt.wantCode {
				t.Errorf("Load error %v: exit code %d, want %d", err, code, tt.wantCode)
			}
			if n := reg.count("/referrers/"); n != tt.wantReqs {
				t.Errorf("%d referrers requests, want %d", n, tt.wantReqs)
			}
			if tt.status == http.StatusUnauthorized && !errors.Is(err, registry.ErrUnauthorized) {
				t.Errorf("error %v is not ErrUnauthorized", err)
			}
		})
	}
}

func TestRecordRefusedHost(t *testing.T) {
	t.Parallel()
	reg := newTestRegistry(t, true)
	img := pushImage(t, reg.Host, "acme/base:1.0")
	rc, err := registry.New(registry.WithAllow([]string{"registry.example.com"}))
	if err != nil {
		t.Fatal(err)
	}
	s := New(Options{Transport: rc.Transport(), Keychain: anonymous{}, Insecure: func(string) bool { return true }})
	before := reg.count("")
	err = s.Record(ctxT(t), img, sampleGeneration(t0))
	if code := exitcode.Of(err); code != exitcode.Refused {
		t.Errorf("Record error %v: exit code %d, want %d", err, code, exitcode.Refused)
	}
	if n := reg.count("") - before; n != 0 {
		t.Errorf("%d requests reached a host off the allowlist", n)
	}
}
