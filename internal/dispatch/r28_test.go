package dispatch_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imagecascade/cascade/internal/config"
	"github.com/imagecascade/cascade/internal/dispatch"
	"github.com/imagecascade/cascade/internal/githubtest"
	"github.com/imagecascade/cascade/internal/imageref"
	"github.com/imagecascade/cascade/internal/manifests"
	"github.com/imagecascade/cascade/internal/retry"
)

// inFlight wraps a handler, counting the requests it is serving at once
// and the most it ever served at once.
type inFlight struct {
	next     http.Handler
	now, max atomic.Int64
	total    atomic.Int64
	latency  time.Duration
}

func (f *inFlight) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := f.now.Add(1)
	defer f.now.Add(-1)
	f.total.Add(1)
	for {
		m := f.max.Load()
		if n <= m || f.max.CompareAndSwap(m, n) {
			break
		}
	}
	time.Sleep(f.latency)
	f.next.ServeHTTP(w, r)
}

// peakHeap samples the heap in use every few milliseconds until stop is
// called, which returns the peak.
func peakHeap() (stop func() uint64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return func() uint64 { close(done); wg.Wait(); return peak.Load() }
}

// TestR28_Load: 500 dependents, half rebuilt by webhook and half by
// GitHub repository_dispatch, against fakes that answer after a latency,
// plus one manifest per dependent pinned in a workspace. It finishes within
// a time budget, never has more calls in flight at a server than the
// concurrency bound, sends exactly one call per planned dispatch (each with
// its own key), changes every manifest, and keeps the heap bounded.
func TestR28_Load(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	t.Parallel()
	const (
		dependents  = 500
		concurrency = dispatch.DefaultConcurrency
		ghInFlight  = 4
		latency     = 5 * time.Millisecond
		timeBudget  = 30 * time.Second
		heapBudget  = 64 << 20
	)
	gh := githubtest.New(t, githubtest.WithLatency(latency))
	ghURL, _ := url.Parse(gh.URL)
	ghFlight := &inFlight{next: httputil.NewSingleHostReverseProxy(ghURL)}
	ghProxy := httptest.NewServer(ghFlight)
	defer ghProxy.Close()
	var hookMu sync.Mutex
	hookKeys := map[string]int{}
	hookFlight := &inFlight{latency: latency, next: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hookMu.Lock()
		hookKeys[r.URL.Path]++
		hookMu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	})}
	hook := httptest.NewServer(hookFlight)
	defer hook.Close()

	base := imageref.MustParse("registry.example.com/acme/base:1.0@" + string(newDigest))
	ws := t.TempDir()
	var targets []dispatch.Target
	for i := range dependents {
		name := fmt.Sprintf("app-%03d", i)
		var rb config.Rebuild
		if i%2 == 0 {
			gh.Repo("acme/" + name)
			rb = repoDispatch("acme/" + name)
		} else {
			rb = config.Rebuild{Webhook: &config.Webhook{URL: hook.URL + "/" + name}}
		}
		tg := target(name, rb)
		tg.Base.Ref = base
		targets = append(targets, tg)
		dir := filepath.Join(ws, "deploy", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		y := fmt.Sprintf("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: %s\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: registry.example.com/acme/base:1.0 # pinned by cascade\n      - name: other\n        image: registry.example.com/acme/%s:1.0\n", name, name)
		if err := os.WriteFile(filepath.Join(dir, "deploy.yaml"), []byte(y), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	stop := peakHeap()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), timeBudget)
	defer cancel()
	p := retry.Policy{}
	ds := map[string]dispatch.Dispatcher{
		"github":  newGitHubAt(t, ghProxy.URL, gh.Token(), p, retry.NewSpacer(time.Millisecond, ghInFlight, nil)),
		"webhook": dispatch.NewWebhook(dispatch.WebhookOptions{Policy: p}),
	}
	outs, err := dispatch.Run(ctx, targets, ds, dispatch.RunOptions{Concurrency: concurrency})
	if err != nil {
		t.Fatal(err)
	}
	dispatched := time.Since(start)
	res, err := manifests.Update(ctx, manifests.Options{Workspace: ws, Image: base})
	if err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	peak := stop()

	if err := dispatch.Summarize(outs); err != nil {
		t.Errorf("dispatches failed: %v", err)
	}
	keys := map[string]bool{}
	for _, o := range outs {
		keys[o.Key] = true
	}
	ghCalls, hookCalls := len(gh.RepositoryDispatches()), int(hookFlight.total.Load())
	t.Logf("R28: %d dependents (%d github, %d webhook), %d manifests; dispatch %v, total %v (budget %v)",
		dependents, dependents/2, dependents/2, len(res.Changed()), dispatched.Round(time.Millisecond), elapsed.Round(time.Millisecond), timeBudget)
	t.Logf("R28: calls: github repository_dispatch %d + webhook %d = %d, plan %d; distinct keys %d; github HTTP requests %d",
		ghCalls, hookCalls, ghCalls+hookCalls, len(targets), len(keys), ghFlight.total.Load())
	t.Logf("R28: max in flight: github %d (bound %d), webhook %d (bound %d)",
		ghFlight.max.Load(), ghInFlight, hookFlight.max.Load(), concurrency)
	t.Logf("R28: heap in use: before %d MiB, peak %d MiB (budget %d MiB)", before.HeapInuse>>20, peak>>20, heapBudget>>20)

	if elapsed > timeBudget {
		t.Errorf("took %v, budget %v", elapsed, timeBudget)
	}
	if ghCalls != dependents/2 || hookCalls != dependents/2 || len(keys) != dependents {
		t.Errorf("calls: github %d, webhook %d, keys %d: want %d, %d, %d", ghCalls, hookCalls, len(keys), dependents/2, dependents/2, dependents)
	}
	for path, n := range hookKeys {
		if n != 1 {
			t.Errorf("webhook %s called %d times", path, n)
		}
	}
	if m := ghFlight.max.Load(); m > ghInFlight {
		t.Errorf("%d GitHub calls in flight, bound %d", m, ghInFlight)
	}
	if m := hookFlight.max.Load(); m > concurrency {
		t.Errorf("%d webhook calls in flight, bound %d", m, concurrency)
	}
	if n := len(res.Changed()); n != dependents {
		t.Errorf("%d manifests changed, want %d", n, dependents)
	}
	if peak > heapBudget {
		t.Errorf("peak heap %d MiB, budget %d MiB", peak>>20, heapBudget>>20)
	}
}

func newGitHubAt(t *testing.T, apiURL, token string, p retry.Policy, sp *retry.Spacer) *dispatch.GitHub {
	t.Helper()
	g, err := dispatch.NewGitHub(dispatch.GitHubOptions{Token: token, APIURL: apiURL, Policy: p, Spacer: sp})
	if err != nil {
		t.Fatal(err)
	}
	return g
}
