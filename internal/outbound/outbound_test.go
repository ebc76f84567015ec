package outbound_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/outbound"
	"github.com/imagecascade/cascade/internal/redact"
)

var sensitive = []string{"Authorization", "Cookie", "X-Cascade-Signature-256", "X-Hub-Signature-256"}

// TestR38_ReadRedirectHeaders: a read follows redirects; its sensitive
// headers go along on the same origin only — also when a transport above
// the policy adds them again on every hop (as go-github's does), and also
// with a client whose CheckRedirect follows everything (as client-go's).
func TestR38_ReadRedirectHeaders(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	seen := map[string]http.Header{}
	record := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			seen[name] = r.Header.Clone()
			mu.Unlock()
		})
	}
	other := httptest.NewServer(record("other"))
	t.Cleanup(other.Close)
	otherURL := strings.Replace(other.URL, "127.0.0.1", "localhost", 1)
	mux := http.NewServeMux()
	mux.Handle("/same", record("same"))
	mux.HandleFunc("/to-same", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/same", http.StatusFound) })
	mux.HandleFunc("/to-other", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, otherURL+"/x", http.StatusTemporaryRedirect)
	})
	origin := httptest.NewServer(mux)
	t.Cleanup(origin.Close)

	clients := map[string]*http.Client{
		"policy client":            outbound.Client(outbound.Options{}),
		"follow-everything client": {Transport: outbound.Transport(nil)},
	}
	for cname, hc := range clients {
		// readds sets the sensitive headers on every hop, as an
		// authentication transport above the policy does.
		hc.Transport = readds{hc.Transport}
		for _, path := range []string{"/to-same", "/to-other"} {
			t.Run(cname+path, func(t *testing.T) {
				mu.Lock()
				clear(seen)
				mu.Unlock()
				resp, err := hc.Get(origin.URL + path)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				mu.Lock()
				defer mu.Unlock()
				for _, h := range sensitive {
					if path == "/to-same" && seen["same"].Get(h) == "" {
						t.Errorf("%s dropped on a same-origin redirect", h)
					}
					if path == "/to-other" && seen["other"].Get(h) != "" {
						t.Errorf("%s sent to another host: %q", h, seen["other"].Get(h))
					}
				}
			})
		}
	}
}

type readds struct{ inner http.RoundTripper }

func (r readds) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	for _, h := range sensitive {
		req.Header.Set(h, "secret-"+h)
	}
	return r.inner.RoundTrip(req)
}

// TestR38_MutationRedirectRefused: no redirect of a mutation is followed,
// by the policy client nor by a client that follows everything.
func TestR38_MutationRedirectRefused(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	hits := 0
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits++
		mu.Unlock()
	}))
	t.Cleanup(other.Close)
	for _, status := range []int{301, 302, 303, 307, 308} {
		origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, other.URL+"/moved?token=hidden", status)
		}))
		t.Cleanup(origin.Close)
		for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
			for cname, hc := range map[string]*http.Client{"policy": outbound.Client(outbound.Options{}), "follow": {Transport: outbound.Transport(nil)}} {
				t.Run(fmt.Sprintf("%s %s %d", cname, method, status), func(t *testing.T) {
					req, _ := http.NewRequestWithContext(context.Background(), method, origin.URL, strings.NewReader("payload"))
					resp, err := hc.Do(req)
					if resp != nil {
						resp.Body.Close()
					}
					var re *outbound.RedirectError
					if !errors.As(err, &re) {
						t.Fatalf("err = %v, want a RedirectError", err)
					}
					if diff := cmp.Diff(other.URL+"/moved", re.Location); diff != "" {
						t.Errorf("Location without the query (-want +got):\n%s", diff)
					}
					// (net/http's *url.Error around it quotes the
					// request URL: callers print the RedirectError.)
					if !strings.Contains(re.Error(), other.URL+"/moved") || strings.Contains(re.Error(), "hidden") {
						t.Errorf("message %q: want the Location, not its query", re)
					}
					if exitcode.Of(err) != exitcode.Invalid {
						t.Errorf("exit class %d, want %d", exitcode.Of(err), exitcode.Invalid)
					}
				})
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if hits != 0 {
		t.Errorf("the other host got %d requests", hits)
	}
}

func TestTransportTeachesTheRedactor(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(srv.Close)
	rd := redact.New()
	req, _ := http.NewRequestWithContext(redact.NewContext(context.Background(), rd), http.MethodGet, srv.URL, nil)
	req.Header.Set("Authorization", "Bearer taught-token-123")
	resp, err := outbound.Client(outbound.Options{}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if diff := cmp.Diff("x "+redact.Marker, rd.String("x taught-token-123")); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestDefaultBaseKeepsAWaveOfConnections: n requests in flight to one host
// at once (discovery's and the registry's waves) all go back to the idle
// pool — net/http's default keeps 2 and closes the rest — and the next
// wave reuses them instead of dialling again.
func TestDefaultBaseKeepsAWaveOfConnections(t *testing.T) {
	t.Parallel()
	const n = 16
	var (
		mu      sync.Mutex
		dials   int
		arrived = make(chan struct{}, n)
		release = make(chan struct{})
	)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		r0 := release
		mu.Unlock()
		arrived <- struct{}{}
		<-r0
		fmt.Fprint(w, "ok")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			dials++
			mu.Unlock()
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	hc := outbound.Client(outbound.Options{Timeout: 10 * time.Second})

	wave := func() {
		t.Helper()
		mu.Lock()
		release = make(chan struct{})
		r0 := release
		mu.Unlock()
		putIdle := make(chan error, n)
		ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{PutIdleConn: func(err error) { putIdle <- err }})
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for range n {
			wg.Go(func() {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
				resp, err := hc.Do(req)
				if err != nil {
					errs <- err
					return
				}
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				errs <- err
			})
		}
		for range n {
			select {
			case <-arrived:
			case <-time.After(10 * time.Second):
				t.Fatal("the requests did not all arrive")
			}
		}
		close(r0)
		wg.Wait()
		for range n {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-putIdle:
				if err != nil {
					t.Errorf("a connection was not kept: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("not every connection went back to the pool")
			}
		}
	}
	wave()
	wave()
	mu.Lock()
	defer mu.Unlock()
	if dials != n {
		t.Errorf("%d connections dialled for two waves of %d requests, want %d", dials, n, n)
	}
}
