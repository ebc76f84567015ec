package registry_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/imagecascade/cascade/internal/imageref"
	"github.com/imagecascade/cascade/internal/registry"
)

// tokenGate is a bearer registry whose token service records how many
// token requests it serves at once, and answers each after a pause.
type tokenGate struct {
	pause time.Duration
	// reach, when set, holds every token request after the first until
	// that many are in flight at once (or a few seconds pass), so that a
	// client that does run them in parallel shows it however loaded the
	// machine is: a bound that is never reached would say nothing.
	reach int

	mu       sync.Mutex
	now, max int
	seen     int
	reached  chan struct{}
	pings    atomic.Int32
}

func (g *tokenGate) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/token":
			g.mu.Lock()
			g.now++
			g.seen++
			g.max = max(g.max, g.now)
			if g.reached == nil {
				g.reached = make(chan struct{})
			}
			hold := g.reach > 0 && g.seen > 1
			if hold && g.now >= g.reach {
				select {
				case <-g.reached:
				default:
					close(g.reached)
				}
			}
			reached := g.reached
			g.mu.Unlock()
			if hold {
				select {
				case <-reached:
				case <-time.After(5 * time.Second):
				}
			}
			time.Sleep(g.pause)
			g.mu.Lock()
			g.now--
			g.mu.Unlock()
			json.NewEncoder(w).Encode(map[string]any{"token": "tok", "expires_in": 300})
			return
		case r.URL.Path == "/v2/":
			g.pings.Add(1)
		}
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="http://%s/token",service="test"`, r.Host))
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func manyRefs(t *testing.T, host string, n int) []imageref.Ref {
	t.Helper()
	var refs []imageref.Ref
	for i := range n {
		refs = append(refs, mustParse(t, fmt.Sprintf("%s/acme/app-%04d:latest", host, i)))
	}
	return refs
}

// TestPrepareOnePingTokensInParallel: preparing many batches pings the
// host once, asks for the first batch's token alone, then the others in
// parallel within the client's concurrency bound — not one ping and one
// token after another.
func TestPrepareOnePingTokensInParallel(t *testing.T) {
	t.Parallel()
	g := &tokenGate{pause: 30 * time.Millisecond, reach: 3}
	host := newRegistry(t, g.wrap)
	c := newCounter()
	cl := newClient(t, c, registry.WithConcurrency(3))
	if err := cl.Prepare(context.Background(), manyRefs(t, host, 650)); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	if diff := cmp.Diff(map[string]int{"GET ping": 1, "GET token": 7}, c.counts()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	if g.pings.Load() != 1 {
		t.Errorf("the registry was pinged %d times, want 1", g.pings.Load())
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.max != 3 {
		t.Errorf("%d token requests in flight at once, want 3 (the bound, reached)", g.max)
	}
}

// TestPingReplayedNotRecorded: a ping answered with an error status is
// not kept (the next transport asks again), and what the replay returns is
// the registry's answer: requests for repositories prepared later still
// authenticate.
func TestPingReplayedNotRecorded(t *testing.T) {
	t.Parallel()
	var fail atomic.Bool
	fail.Store(true)
	var pings atomic.Int32
	g := &tokenGate{}
	host := newRegistry(t, func(next http.Handler) http.Handler {
		inner := g.wrap(next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/v2/" {
				pings.Add(1)
				if fail.Load() {
					http.Error(w, "down", http.StatusNotImplemented) // final: not retried
					return
				}
			}
			inner.ServeHTTP(w, r)
		})
	})
	c := newCounter()
	cl := newClient(t, c)
	ctx := context.Background()
	refs := manyRefs(t, host, 2)
	if err := cl.Prepare(ctx, refs[:1]); err == nil {
		t.Fatal("Prepare with the ping failing: no error")
	}
	fail.Store(false)
	for _, r := range refs {
		if _, err := cl.Digest(ctx, r); !strings.Contains(fmt.Sprint(err), "not found") {
			t.Errorf("Digest(%s): %v, want not found (authenticated, nothing pushed)", r, err)
		}
	}
	// 1 failed ping, 1 ping answered 401 (then replayed for the second
	// repository's transport).
	if got := pings.Load(); got != 2 {
		t.Errorf("%d pings reached the registry, want 2", got)
	}
	if diff := cmp.Diff(map[string]int{"GET ping": 2, "GET token": 2, "HEAD manifest": 2}, c.counts()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}
