package faultproxy_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/imagecascade/cascade/internal/faultproxy"
)

const upstreamBody = "the upstream answer, long enough to be cut into pieces"

// newUpstream answers every request with upstreamBody and counts requests.
func newUpstream(t *testing.T) (*url.URL, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("X-Upstream", "yes")
		w.Header().Set("X-Seen-Host", r.Host)
		io.WriteString(w, upstreamBody)
	}))
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u, &n
}

// client makes every request on a fresh connection, so that Go's transport
// never silently re-sends a request whose connection was reset.
func client(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
}

type answer struct {
	Status int
	Header string // the value of a header the test names
	Body   string
}

func do(t *testing.T, c *http.Client, method, u, header string) (answer, error) {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return answer{Status: resp.StatusCode, Header: resp.Header.Get(header), Body: string(b)}, err
}

func TestScriptedFaultsThenPassThrough(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		method, path string // the script
		faults       []faultproxy.Fault
		reqMethod    string
		reqPath      string
		header       string
		want         []answer // one per request, in order
		upstream     int32
	}{
		{
			name: "status with headers and body, then the upstream", method: "GET", path: "/v2/**/manifests/*",
			faults:    []faultproxy.Fault{{Status: 503, Headers: map[string]string{"Retry-After": "2"}, Body: "busy"}},
			reqMethod: "GET", reqPath: "/v2/acme/app/manifests/latest", header: "Retry-After",
			want:     []answer{{Status: 503, Header: "2", Body: "busy"}, {Status: 200, Body: upstreamBody}},
			upstream: 1,
		},
		{
			name: "HEAD answer has no body", method: "HEAD", path: "/v2/**",
			faults:    []faultproxy.Fault{{Status: 429, Headers: map[string]string{"Retry-After": "1"}, Body: "slow down"}},
			reqMethod: "HEAD", reqPath: "/v2/acme/app/manifests/latest", header: "Retry-After",
			want:     []answer{{Status: 429, Header: "1"}, {Status: 200}},
			upstream: 1,
		},
		{
			name: "another method passes through", method: "HEAD", path: "/v2/**",
			faults:    []faultproxy.Fault{{Status: 429}},
			reqMethod: "GET", reqPath: "/v2/acme/app/manifests/latest",
			want:     []answer{{Status: 200, Body: upstreamBody}},
			upstream: 1,
		},
		{
			name: "another path passes through", method: "*", path: "/repos/*/*/dispatches",
			faults:    []faultproxy.Fault{{Status: 500}},
			reqMethod: "POST", reqPath: "/repos/acme/app/pulls",
			want:     []answer{{Status: 200, Body: upstreamBody}},
			upstream: 1,
		},
		{
			name: "headers on a passed-through answer", method: "", path: "/**",
			faults:    []faultproxy.Fault{{Headers: map[string]string{"X-Ratelimit-Remaining": "0"}}},
			reqMethod: "GET", reqPath: "/rate", header: "X-Ratelimit-Remaining",
			want:     []answer{{Status: 200, Header: "0", Body: upstreamBody}, {Status: 200, Body: upstreamBody}},
			upstream: 2,
		},
		{
			name: "faults in order", method: "GET", path: "/x",
			faults:    []faultproxy.Fault{{Status: 502}, {Status: 504}},
			reqMethod: "GET", reqPath: "/x",
			want:     []answer{{Status: 502}, {Status: 504}, {Status: 200, Body: upstreamBody}},
			upstream: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			up, n := newUpstream(t)
			p := faultproxy.New(t, up)
			p.Script(tt.method, tt.path, tt.faults...)
			c := client(5 * time.Second)
			var got []answer
			for range tt.want {
				a, err := do(t, c, tt.reqMethod, p.URL.String()+tt.reqPath, tt.header)
				if err != nil {
					t.Fatalf("request: %v", err)
				}
				got = append(got, a)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("answers (-want +got):\n%s", diff)
			}
			if got := n.Load(); got != tt.upstream {
				t.Errorf("upstream saw %d requests, want %d", got, tt.upstream)
			}
		})
	}
}

func TestRequestsLog(t *testing.T) {
	t.Parallel()
	up, _ := newUpstream(t)
	p := faultproxy.New(t, up)
	p.Script("GET", "/a", faultproxy.Fault{Status: 418})
	c := client(5 * time.Second)
	start := time.Now()
	for _, path := range []string{"/a?x=1", "/a", "/b"} {
		req, _ := http.NewRequest(http.MethodGet, p.URL.String()+path, nil)
		req.Header.Set("Authorization", "Bearer tok")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	type entry struct {
		Method, Path, RawQuery, Auth string
		Faulted                      bool
	}
	var got []entry
	for _, r := range p.Requests() {
		if r.Time.Before(start) || r.Time.After(time.Now()) {
			t.Errorf("request %s %s logged at %v, outside the test", r.Method, r.Path, r.Time)
		}
		got = append(got, entry{r.Method, r.Path, r.RawQuery, r.Header.Get("Authorization"), r.Fault != nil})
	}
	want := []entry{
		{"GET", "/a", "x=1", "Bearer tok", true},
		{"GET", "/a", "", "Bearer tok", false},
		{"GET", "/b", "", "Bearer tok", false},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("log (-want +got):\n%s", diff)
	}
}

func TestHostIsKept(t *testing.T) {
	t.Parallel()
	up, _ := newUpstream(t)
	p := faultproxy.New(t, up)
	a, err := do(t, client(5*time.Second), "GET", p.URL.String()+"/", "X-Seen-Host")
	if err != nil {
		t.Fatal(err)
	}
	if a.Header != p.Host() {
		t.Errorf("upstream saw Host %q, want the proxy's %q", a.Header, p.Host())
	}
}

func TestReset(t *testing.T) {
	t.Parallel()
	up, n := newUpstream(t)
	p := faultproxy.New(t, up)
	p.Script("GET", "/**", faultproxy.Fault{Reset: true})
	c := client(5 * time.Second)
	if a, err := do(t, c, "GET", p.URL.String()+"/x", ""); err == nil {
		t.Fatalf("got an answer %+v, want a broken connection", a)
	}
	if a, err := do(t, c, "GET", p.URL.String()+"/x", ""); err != nil || a.Body != upstreamBody {
		t.Fatalf("after the reset: %+v, %v; want the upstream's answer", a, err)
	}
	if got := n.Load(); got != 1 {
		t.Errorf("upstream saw %d requests, want 1", got)
	}
}

func TestLatencyAndSlowBody(t *testing.T) {
	t.Parallel()
	const d = 200 * time.Millisecond
	tests := []struct {
		name  string
		fault faultproxy.Fault
		body  string
	}{
		{name: "latency", fault: faultproxy.Fault{Latency: d}, body: upstreamBody},
		{name: "slow upstream body", fault: faultproxy.Fault{SlowBody: d}, body: upstreamBody},
		{name: "slow scripted body", fault: faultproxy.Fault{Status: 200, Body: "scripted and slow", SlowBody: d}, body: "scripted and slow"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			up, _ := newUpstream(t)
			p := faultproxy.New(t, up)
			p.Script("GET", "/**", tt.fault)
			start := time.Now()
			a, err := do(t, client(5*time.Second), "GET", p.URL.String()+"/x", "")
			if err != nil {
				t.Fatal(err)
			}
			if took := time.Since(start); took < d*9/10 {
				t.Errorf("answered in %v, want at least about %v", took, d)
			}
			if a.Body != tt.body {
				t.Errorf("body %q, want %q", a.Body, tt.body)
			}
		})
	}
}

func TestSlowBodyTimesOutAClientInAHurry(t *testing.T) {
	t.Parallel()
	up, _ := newUpstream(t)
	p := faultproxy.New(t, up)
	p.Script("GET", "/**", faultproxy.Fault{SlowBody: 5 * time.Second})
	_, err := do(t, client(300*time.Millisecond), "GET", p.URL.String()+"/x", "")
	var ne interface{ Timeout() bool }
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("error %v, want a client timeout while reading the body", err)
	}
}

func TestAfterTimeout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		fault faultproxy.Fault
		// The upstream sees the request after the held one; the held one
		// itself is forwarded (if at all) with its context already ended.
		minUpstream, maxUpstream int32
	}{
		{name: "scripted answer", fault: faultproxy.Fault{AfterTimeout: true, Status: 200, Body: "too late"}, minUpstream: 1, maxUpstream: 1},
		{name: "upstream answer", fault: faultproxy.Fault{AfterTimeout: true}, minUpstream: 1, maxUpstream: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			up, n := newUpstream(t)
			p := faultproxy.New(t, up)
			p.Script("GET", "/**", tt.fault)
			start := time.Now()
			_, err := do(t, client(200*time.Millisecond), "GET", p.URL.String()+"/x", "")
			if err == nil || !strings.Contains(err.Error(), "Timeout") {
				t.Fatalf("error %v, want the client's timeout", err)
			}
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("the client waited %v", took)
			}
			a, err := do(t, client(5*time.Second), "GET", p.URL.String()+"/x", "")
			if err != nil || a.Body != upstreamBody {
				t.Fatalf("next request: %+v, %v; want the upstream's answer", a, err)
			}
			if got := n.Load(); got < tt.minUpstream || got > tt.maxUpstream {
				t.Errorf("upstream saw %d requests, want %d to %d", got, tt.minUpstream, tt.maxUpstream)
			}
			if got := len(p.Requests()); got != 2 {
				t.Errorf("proxy logged %d requests, want 2", got)
			}
		})
	}
}

func TestHeldRequestsEndWithTheTest(t *testing.T) {
	t.Parallel()
	up, _ := newUpstream(t)
	var p *faultproxy.Proxy
	done := make(chan error, 1)
	t.Run("holder", func(t *testing.T) {
		p = faultproxy.New(t, up)
		p.Script("GET", "/**", faultproxy.Fault{AfterTimeout: true, Status: 200}, faultproxy.Fault{Latency: time.Hour})
		go func() {
			_, err := client(0).Get(p.URL.String() + "/held")
			done <- err
		}()
		for len(p.Requests()) == 0 {
			time.Sleep(5 * time.Millisecond)
		}
	}) // the subtest's cleanup closes the proxy: it must not hang
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the held request did not end when the proxy closed")
	}
}

func TestForever(t *testing.T) {
	t.Parallel()
	got := faultproxy.Forever(faultproxy.Fault{Status: 503}, 3)
	want := []faultproxy.Fault{{Status: 503}, {Status: 503}, {Status: 503}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestStartLatencyAndTake: a proxy started outside a test's cleanup adds
// its latency to every request (passed through or scripted), logs without
// headers when asked, hands the log over once, and Close ends it.
func TestStartLatencyAndTake(t *testing.T) {
	t.Parallel()
	up, n := newUpstream(t)
	p, err := faultproxy.Start(up)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	const d = 60 * time.Millisecond
	p.SetLatency(d)
	p.LogHeaders(false)
	p.Script("GET", "/scripted", faultproxy.Fault{Status: http.StatusTeapot, Latency: d})
	for _, tt := range []struct {
		path    string
		status  int
		atLeast time.Duration
	}{{"/x", http.StatusOK, d}, {"/scripted", http.StatusTeapot, 2 * d}} {
		start := time.Now()
		a, err := do(t, client(5*time.Second), "GET", p.URL.String()+tt.path, "")
		if err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); a.Status != tt.status || took < tt.atLeast*9/10 {
			t.Errorf("GET %s: %d in %v, want %d after at least about %v", tt.path, a.Status, took, tt.status, tt.atLeast)
		}
	}
	got := p.TakeRequests()
	if len(got) != 2 || got[0].Path != "/x" || got[1].Path != "/scripted" || got[0].Header != nil {
		t.Errorf("TakeRequests = %+v, want /x then /scripted, without headers", got)
	}
	if again := p.TakeRequests(); len(again) != 0 {
		t.Errorf("second TakeRequests = %+v, want none", again)
	}
	if n.Load() != 1 {
		t.Errorf("upstream saw %d requests, want 1", n.Load())
	}
	p.Close()
	p.Close() // idempotent
	if _, err := do(t, client(time.Second), "GET", p.URL.String()+"/x", ""); err == nil {
		t.Error("a closed proxy still answered")
	}
}

func TestStartRefusesNoUpstream(t *testing.T) {
	t.Parallel()
	if _, err := faultproxy.Start(&url.URL{}); err == nil {
		t.Error("Start without an upstream host: no error")
	}
}

func TestStartOnGivenAddress(t *testing.T) {
	t.Parallel()
	up, _ := newUpstream(t)
	p, err := faultproxy.Start(up)
	if err != nil {
		t.Fatal(err)
	}
	addr := p.Host()
	if _, err := faultproxy.StartOn(addr, up); err == nil {
		t.Errorf("StartOn(%s) while the first proxy listens there: no error", addr)
	}
	p.Close()
	q, err := faultproxy.StartOn(addr, up)
	if err != nil {
		t.Fatalf("StartOn(%s) after Close: %v", addr, err)
	}
	defer q.Close()
	if q.Host() != addr {
		t.Errorf("Host() = %s, want %s", q.Host(), addr)
	}
	if a, err := do(t, client(5*time.Second), "GET", q.URL.String()+"/x", "X-Upstream"); err != nil || a.Body != upstreamBody {
		t.Errorf("GET through the proxy on %s: %+v, %v", addr, a, err)
	}
}
