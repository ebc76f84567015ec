package registry_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/faultproxy"
	"github.com/imagecascade/cascade/internal/registry"
	"github.com/imagecascade/cascade/internal/retry"
)

// Transient faults on every kind of request are retried until the registry
// answers, and the operation succeeds.
func TestRetriesRecover(t *testing.T) {
	t.Parallel()
	bearerChallenge := func(p *faultproxy.Proxy) faultproxy.Fault {
		return faultproxy.Fault{Status: http.StatusUnauthorized, Headers: map[string]string{
			"WWW-Authenticate": `Bearer realm="http://` + p.Host() + `/token",service="registry"`}}
	}
	tests := []struct {
		name    string
		inspect bool
		script  func(p *faultproxy.Proxy)
		opts    []registry.Option
		want    []string // "METHOD path-kind" of every request the proxy saw
		waits   []time.Duration
	}{
		{name: "ping 502 then up", script: func(p *faultproxy.Proxy) {
			p.Script("GET", "/v2/", faultproxy.Fault{Status: 502})
		}, want: []string{"GET ping", "GET ping", "HEAD manifest"}, waits: []time.Duration{time.Second}},
		{name: "HEAD reset then up", script: func(p *faultproxy.Proxy) {
			p.Script("HEAD", "/v2/**", faultproxy.Fault{Reset: true})
		}, want: []string{"GET ping", "HEAD manifest", "HEAD manifest"}, waits: []time.Duration{time.Second}},
		{name: "HEAD 503 with an HTTP date, then up", script: func(p *faultproxy.Proxy) {
			p.Script("HEAD", "/v2/**", faultproxy.Fault{Status: 503, Headers: map[string]string{
				"Retry-After": epoch.Add(5 * time.Second).UTC().Format(http.TimeFormat)}})
		}, want: []string{"GET ping", "HEAD manifest", "HEAD manifest"}, waits: []time.Duration{5 * time.Second}},
		{name: "HEAD answer after the timeout, then up", opts: []registry.Option{registry.WithAttemptTimeout(500 * time.Millisecond)},
			script: func(p *faultproxy.Proxy) {
				p.Script("HEAD", "/v2/**", faultproxy.Fault{AfterTimeout: true, Status: 200})
			}, want: []string{"GET ping", "HEAD manifest", "HEAD manifest"}, waits: []time.Duration{time.Second}},
		{name: "HEAD 405 falls back to one GET", script: func(p *faultproxy.Proxy) {
			p.Script("HEAD", "/v2/**", faultproxy.Fault{Status: 405})
		}, want: []string{"GET ping", "HEAD manifest", "GET manifest"}},
		{name: "token 500 then a token", script: func(p *faultproxy.Proxy) {
			p.Script("GET", "/v2/", bearerChallenge(p))
			p.Script("*", "/token", faultproxy.Fault{Status: 500}, faultproxy.Fault{Status: 200, Body: `{"token": "t"}`})
		}, want: []string{"GET ping", "GET token", "GET token", "HEAD manifest"}, waits: []time.Duration{time.Second}},
		{name: "manifest GET 500, 502, then up; slow config blob", inspect: true, script: func(p *faultproxy.Proxy) {
			p.Script("GET", "/v2/**/manifests/*", faultproxy.Fault{Status: 500}, faultproxy.Fault{Status: 502})
			p.Script("GET", "/v2/**/blobs/*", faultproxy.Fault{SlowBody: 100 * time.Millisecond})
		}, want: []string{"GET ping", "GET manifest", "GET manifest", "GET manifest", "GET blob"},
			waits: []time.Duration{time.Second, 2 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, want := behindProxy(t)
			tt.script(p)
			clock := retry.NewFakeClock(epoch)
			cl := proxyClient(t, retry.Policy{Clock: clock, Jitter: ceilingJitter}, tt.opts...)
			ref := mustParse(t, p.Host()+"/acme/app:latest")
			if tt.inspect {
				im, err := cl.Inspect(context.Background(), ref, true)
				if err != nil {
					t.Fatalf("Inspect: %v", err)
				}
				if im.Digest != want || !im.Manifest.LabelsFetched {
					t.Errorf("inspected %s (labels fetched: %t), want %s with labels", im.Digest, im.Manifest.LabelsFetched, want)
				}
			} else {
				got, err := cl.Digest(context.Background(), ref)
				if err != nil {
					t.Fatalf("Digest: %v", err)
				}
				if got != want {
					t.Errorf("digest %s, want %s", got, want)
				}
			}
			var got []string
			for _, r := range p.Requests() {
				got = append(got, r.Method+" "+kindOfPath(r.Path))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.waits, clock.Waits()); diff != "" {
				t.Errorf("waits (-want +got):\n%s", diff)
			}
		})
	}
}

func kindOfPath(p string) string {
	switch {
	case p == "/v2/":
		return "ping"
	case strings.Contains(p, "/manifests/"):
		return "manifest"
	case strings.Contains(p, "/blobs/"):
		return "blob"
	case p == "/token":
		return "token"
	}
	return p
}

// The caller's deadline bounds the retries: a wait that would outlast it is
// not started.
func TestRetriesStopAtTheContextDeadline(t *testing.T) {
	t.Parallel()
	p, _ := behindProxy(t)
	p.Script("HEAD", "/v2/**", faultproxy.Forever(faultproxy.Fault{Status: 503, Headers: map[string]string{"Retry-After": "10"}}, 10)...)
	clock := retry.NewFakeClock(epoch)
	cl := proxyClient(t, retry.Policy{Clock: clock})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	_, err := cl.Digest(ctx, mustParse(t, p.Host()+"/acme/app:latest"))
	if exitcode.Of(err) != exitcode.Transient || !strings.Contains(err.Error(), "the server asked to wait 10s") {
		t.Fatalf("error %v (exit %d), want a transient error saying the wait was too long", err, exitcode.Of(err))
	}
	if w := clock.Waits(); len(w) != 0 {
		t.Errorf("waited %v, want no wait", w)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("took %v", took)
	}
}

// Attempts: 1 turns retries off.
func TestRetriesOff(t *testing.T) {
	t.Parallel()
	p, _ := behindProxy(t)
	p.Script("HEAD", "/v2/**", faultproxy.Fault{Status: 503})
	cl := proxyClient(t, retry.Policy{Attempts: 1, Clock: retry.NewFakeClock(epoch)})
	_, err := cl.Digest(context.Background(), mustParse(t, p.Host()+"/acme/app:latest"))
	if exitcode.Of(err) != exitcode.Transient {
		t.Fatalf("error %v (exit %d), want transient", err, exitcode.Of(err))
	}
	if diff := cmp.Diff([]string{"HEAD"}, manifestRequests(p)); diff != "" {
		t.Errorf("manifest requests (-want +got):\n%s", diff)
	}
}

func TestRetryOptionsValidated(t *testing.T) {
	t.Parallel()
	_, err := registry.New(
		registry.WithRetryPolicy(retry.Policy{Budget: -1, Attempts: -1, Base: -1}),
		registry.WithAttemptTimeout(-time.Second),
	)
	if exitcode.Of(err) != exitcode.Invalid {
		t.Fatalf("error %v (exit %d), want invalid", err, exitcode.Of(err))
	}
	for _, w := range []string{"budget must not be negative", "attempts must not be negative", "backoff bounds", "attempt timeout"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
	if _, err := registry.New(registry.WithRetryPolicy(retry.Policy{}), registry.WithAttemptTimeout(0)); err != nil {
		t.Errorf("zero policy and no attempt timeout: %v", err)
	}
}
