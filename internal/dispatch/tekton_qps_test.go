package dispatch_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/imagecascade/cascade/internal/dispatch"
)

// TestNewTektonClientSideLimit: a config without QPS and Burst (what a
// kubeconfig gives) gets TektonQPS and TektonBurst, so Burst creates go at
// once and the rest at QPS; the caller's config is not changed. B3 gives
// its raw client-go peer the same limits.
func TestNewTektonClientSideLimit(t *testing.T) {
	t.Parallel()
	var creates atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		creates.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	cfg := &rest.Config{Host: srv.URL}
	k, err := dispatch.NewTekton(cfg, dispatch.TektonOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.QPS != 0 || cfg.Burst != 0 {
		t.Errorf("NewTekton changed the caller's config: QPS %v, Burst %d", cfg.QPS, cfg.Burst)
	}
	extra := 2
	n := dispatch.TektonBurst + extra
	start := time.Now()
	for i := range n {
		tg := tektonTarget()
		tg.Name = fmt.Sprintf("app-%d", i)
		if o := k.Dispatch(context.Background(), tg); o.Status != dispatch.StatusDispatched {
			t.Fatalf("dispatch %d: %+v", i, o)
		}
	}
	elapsed := time.Since(start)
	// The limiter's bucket starts full: Burst at once, then one per 1/QPS.
	floor := time.Duration(float64(extra) / float64(dispatch.TektonQPS) * float64(time.Second))
	if elapsed < floor*9/10 {
		t.Errorf("%d creates in %v: faster than QPS %v with burst %d allows (%v)", n, elapsed, dispatch.TektonQPS, dispatch.TektonBurst, floor)
	}
	if got := int(creates.Load()); got != n {
		t.Errorf("%d creates reached the server, want %d", got, n)
	}
}
