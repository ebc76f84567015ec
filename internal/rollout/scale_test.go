package rollout_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/imagecascade/cascade/internal/rollout"
	"github.com/imagecascade/cascade/internal/testenv"
)

// requestCounter counts the requests of a client-go transport by kind.
type requestCounter struct {
	next                        http.RoundTripper
	lists, gets, patches, other atomic.Int64
}

func (c *requestCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	switch {
	case r.Method == http.MethodGet && r.URL.Query().Has("limit"):
		c.lists.Add(1)
	case r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/namespaces/"):
		c.gets.Add(1)
	case r.Method == http.MethodPatch:
		c.patches.Add(1)
	default:
		c.other.Add(1) // discovery
	}
	return c.next.RoundTrip(r)
}

// TestRolloutAtScaleListsNeverGets: among 600 Deployments in 3 namespaces,
// 30 opted in, on the real rollout.API server, the cluster target reads with list
// pages only (never one GET per object) and sends exactly one dry-run and
// one real apply per workload that rolls; a second run sends none.
func TestRolloutAtScaleListsNeverGets(t *testing.T) {
	t.Parallel()
	const perNS, everyNth = 200, 20
	namespaces := []string{"ns-0", "ns-1", "ns-2"}
	k := testenv.StartKube(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cfg := k.RESTConfig()
	cfg.QPS, cfg.Burst = 1000, 1000
	admin := kubernetes.NewForConfigOrDie(cfg)
	repo := "registry.example/acme/app-a"
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, len(namespaces))
	for _, ns := range namespaces {
		if err := k.CreateNamespace(ctx, ns); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perNS {
				var ann map[string]string
				image := fmt.Sprintf("registry.example/acme/other-%d:1.0", i)
				if i%everyNth == 0 {
					ann, image = map[string]string{rollout.FollowAnnotation: "true"}, repo+":1.0@"+oldDigest
				}
				d := deployment(fmt.Sprintf("d-%03d", i), ann, ctr("web", image))
				d.Namespace = ns
				if _, err := admin.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("created %d Deployments in %v", perNS*len(namespaces), time.Since(start).Round(time.Millisecond))

	counter := &requestCounter{}
	ucfg := k.RESTConfig()
	ucfg.QPS, ucfg.Burst = 0, 0 // cascade's defaults
	ucfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { counter.next = rt; return counter })
	api, err := rollout.NewKubeAPI(ucfg)
	if err != nil {
		t.Fatal(err)
	}
	c := rollout.New(api, rollout.Target{Namespaces: namespaces, Kinds: []string{rollout.KindDeployment}, PageSize: 100})
	start = time.Now()
	res, err := c.Plan(ctx, updated)
	if err != nil {
		t.Fatal(err)
	}
	planned := time.Since(start)
	c.Apply(ctx, updated, res)
	want := len(namespaces) * perNS / everyNth
	if err := res.Err(); err != nil || res.Count(rollout.StatusRolled) != want || len(res.Workloads) != want {
		t.Fatalf("rolled %d of %d reported, want %d: %v", res.Count(rollout.StatusRolled), len(res.Workloads), want, err)
	}
	t.Logf("plan (list + %d dry runs) %v, apply %v; %d list pages, %d GETs, %d PATCHes, %d other",
		want, planned.Round(time.Millisecond), (time.Since(start) - planned).Round(time.Millisecond),
		counter.lists.Load(), counter.gets.Load(), counter.patches.Load(), counter.other.Load())
	if got, wantPages := counter.lists.Load(), int64(len(namespaces)*(perNS/100+1)); got > wantPages || counter.gets.Load() != 0 || counter.patches.Load() != int64(2*want) {
		t.Errorf("%d list pages (want at most %d), %d GETs (want 0), %d PATCHes (want %d)", got, wantPages, counter.gets.Load(), counter.patches.Load(), 2*want)
	}
	before := counter.patches.Load()
	res, err = c.Plan(ctx, updated)
	if err != nil {
		t.Fatal(err)
	}
	c.Apply(ctx, updated, res)
	if res.Count(rollout.StatusCurrent) != want || counter.patches.Load() != before {
		t.Errorf("second run: %d current, %d PATCHes", res.Count(rollout.StatusCurrent), counter.patches.Load()-before)
	}
}
