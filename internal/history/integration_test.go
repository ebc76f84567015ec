package history

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/imagecascade/cascade/internal/dispatch"
	"github.com/imagecascade/cascade/internal/imageref"
	"github.com/imagecascade/cascade/internal/testenv"
)

// TestHistoryOnRealRegistry runs the records against Debian's
// docker-registry (distribution 2.8), which has no referrers API: the
// records are found through the sha256-<hex> tag that go-containerregistry
// maintains. Re-runs merge, failures stay retryable, concurrent runs keep
// every record, and Chain walks the generations of a tag.
func TestHistoryOnRealRegistry(t *testing.T) {
	t.Parallel()
	reg := testenv.StartRegistry(t)
	ctx := ctxT(t)

	// The registry really has no referrers API: the premise of the test.
	resp, err := http.Get("http://" + reg.Host + "/build2/acme/base/referrers/sha256:" + strings.Repeat("0", 64))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET referrers = %d, want 404 from distribution 2.8", resp.StatusCode)
	}

	s := newStore(t)
	build1 := pushImage(t, reg.Host, "acme/base:latest")
	first := sampleGeneration(t0, dispatch.StatusDispatched, dispatch.StatusFailed)
	first.Previous = ""
	if err := s.Record(ctx, build1, first); err != nil {
		t.Fatalf("Record: %v", err)
	}
	gens, err := s.Load(ctx, build1)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if diff := cmp.Diff(map[string]bool{"app-0-key": true}, Dispatched(gens)); diff != "" {
		t.Errorf("after the first run, Dispatched (-want +got):\n%s", diff)
	}

	// The re-run retries the failure only, and records that.
	retried := sampleGeneration(t0.Add(time.Minute))
	retried.Previous = ""
	retried.Dispatches = []Dispatch{{Dependent: "app-1", Kind: "tekton", Key: "app-1-key", Status: dispatch.StatusDispatched}}
	if err := s.Record(ctx, build1, retried); err != nil {
		t.Fatalf("Record: %v", err)
	}
	gens, err = s.Load(ctx, build1)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if len(gens) != 2 {
		t.Fatalf("Load = %d records, want 2", len(gens))
	}
	if diff := cmp.Diff(map[string]bool{"app-0-key": true, "app-1-key": true}, Dispatched(gens)); diff != "" {
		t.Errorf("after the re-run, Dispatched (-want +got):\n%s", diff)
	}
	checkFallbackIndex(t, build1, 2)

	// A new build of the tag, cascaded by two runs at once.
	build2 := pushImage(t, reg.Host, "acme/base:latest")
	const n = 4
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			g := sampleGeneration(t0.Add(time.Hour+time.Duration(i)*time.Second), dispatch.StatusDispatched)
			g.Previous = string(build1.Digest)
			errs[i] = s.Record(ctx, build2, g)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	// go-containerregistry rewrites the sha256-<hex> index without a
	// conditional request, so concurrent writers may drop each other from
	// it; the record tags keep every record.
	gens, err = s.Load(ctx, build2)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if len(gens) != n {
		t.Errorf("Load after %d concurrent runs = %d records", n, len(gens))
	}

	chain, err := s.Chain(ctx, imageref.MustParse(reg.Ref("acme/base:latest")), 0)
	if err != nil {
		t.Fatalf("Chain: %v", err)
	}
	var digests []string
	for _, g := range chain {
		digests = append(digests, g.Digest)
	}
	want := []string{string(build2.Digest), string(build2.Digest), string(build2.Digest), string(build2.Digest), string(build1.Digest), string(build1.Digest)}
	if diff := cmp.Diff(want, digests); diff != "" {
		t.Errorf("Chain digests (-want +got):\n%s", diff)
	}
}
