// Package faultproxy is a fault-injecting HTTP proxy for tests. It sits on
// loopback in front of any upstream (an in-process registry, the GitHub test
// API) and answers requests from a script: a status with headers and body,
// latency, a connection reset, a body trickled slowly, or an answer sent
// only after the client gave up. Requests no script claims pass through
// unchanged. Every request is logged. A latency may be added to every
// request (SetLatency), as a registry far away adds it to each round trip.
// Tests start it with New; benchmarks (bench/) with Start and Close.
package faultproxy

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bmatcuk/doublestar/v4"
)

// Fault is one scripted answer. The zero Fault passes the request through.
// Latency is waited first, then:
//   - Reset closes the connection without an answer (a TCP reset);
//   - AfterTimeout holds the request until the client gives up (closes its
//     connection or cancels), then answers as below into the void;
//   - a non-zero Status answers with Status, Headers and Body without asking
//     the upstream;
//   - a zero Status passes the request through, with Headers set on the
//     upstream's answer.
//
// SlowBody trickles the body (scripted or upstream) over that duration.
type Fault struct {
	// Status answers without the upstream when non-zero.
	Status int
	// Headers are set on the answer (scripted or upstream).
	Headers map[string]string
	// Body of a scripted answer.
	Body string
	// Latency is waited before anything else.
	Latency time.Duration
	// Reset closes the connection without an answer.
	Reset bool
	// SlowBody spreads the body's bytes over this duration.
	SlowBody time.Duration
	// AfterTimeout answers only once the client has given up.
	AfterTimeout bool
}

// Request is one logged request.
type Request struct {
	Method string
	// Path is the URL path, RawQuery its query.
	Path     string
	RawQuery string
	// Header is a copy of the request's headers (tests look for
	// credentials that must not be there); nil after LogHeaders(false).
	Header http.Header
	// Time is when the request arrived.
	Time time.Time
	// Fault is the scripted fault that answered, nil when passed through
	// unchanged.
	Fault *Fault
}

// Proxy is a running fault-injecting proxy. It is safe for concurrent use.
type Proxy struct {
	// URL is the proxy's base URL ("http://127.0.0.1:PORT").
	URL *url.URL

	srv      *httptest.Server
	upstream *httputil.ReverseProxy
	done     chan struct{} // closed by Close: held requests return
	closed   sync.Once

	mu        sync.Mutex
	scripts   []*script
	requests  []Request
	latency   time.Duration
	noHeaders bool
}

type script struct {
	method  string // "" for any
	pattern string
	faults  []Fault
}

// New starts a Proxy in front of upstream on loopback and stops it when the
// test ends. Requests keep the Host the client sent, so that URLs the
// upstream builds from it (token realms, redirects) point at the proxy.
func New(t testing.TB, upstream *url.URL) *Proxy {
	t.Helper()
	p, err := Start(upstream)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// Start starts a Proxy in front of upstream on a free loopback port, as New
// does, for callers that are not tests (benchmarks); Close stops it.
func Start(upstream *url.URL) (*Proxy, error) {
	return StartOn("127.0.0.1:0", upstream)
}

// StartOn is Start on the given address ("127.0.0.1:PORT"), for callers
// whose stored data names the proxy's host and port.
func StartOn(addr string, upstream *url.URL) (*Proxy, error) {
	if upstream == nil || upstream.Host == "" {
		return nil, errors.New("faultproxy: upstream URL without host")
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: %w", err)
	}
	p := &Proxy{done: make(chan struct{})}
	// Enough idle connections to the upstream for a client with many
	// requests in flight, instead of a new connection for most of them.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 256, 256
	p.upstream = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(upstream)
			pr.Out.Host = pr.In.Host
		},
		Transport:     tr,
		FlushInterval: -1, // write trickled bodies as they come
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			http.Error(w, "faultproxy: upstream: "+err.Error(), http.StatusBadGateway)
		},
	}
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(p.serve))
	p.srv.Listener.Close()
	p.srv.Listener = l
	p.srv.Start()
	p.URL, _ = url.Parse(p.srv.URL)
	return p, nil
}

// Close stops the proxy: held and delayed requests return at once.
// Safe to call more than once.
func (p *Proxy) Close() {
	p.closed.Do(func() {
		close(p.done)
		p.srv.Close()
		p.upstream.Transport.(*http.Transport).CloseIdleConnections()
	})
}

// SetLatency delays every request by d from now on, before its scripted
// fault (whose own Latency adds to it) or its passing through.
func (p *Proxy) SetLatency(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.latency = d
}

// LogHeaders sets whether logged requests keep a copy of their headers
// (the default). Clients sending thousands of requests with large bearer
// tokens turn it off.
func (p *Proxy) LogHeaders(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.noHeaders = !on
}

// TakeRequests returns every request received so far, in arrival order,
// and forgets them: the next call returns only later ones.
func (p *Proxy) TakeRequests() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.requests
	p.requests = nil
	return out
}

// Host is the proxy's "127.0.0.1:PORT", for image references.
func (p *Proxy) Host() string { return p.URL.Host }

// Script queues faults for requests whose method and path match: method ""
// or "*" matches any method; pathPattern is a doublestar glob over the URL
// path ("/v2/**/manifests/*", "/repos/*/*/dispatches"). Each matching
// request takes the next fault of the first script (in the order scripts
// were added) that still has one; once every matching script is used up,
// requests pass through.
func (p *Proxy) Script(method, pathPattern string, faults ...Fault) {
	method = strings.ToUpper(method)
	if method == "*" {
		method = ""
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.scripts = append(p.scripts, &script{method: method, pattern: pathPattern, faults: faults})
}

// Requests returns every request received so far, in arrival order.
func (p *Proxy) Requests() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Request(nil), p.requests...)
}

// Forever repeats f n times, for scripts like "503 forever" (n larger than
// any retry policy allows).
func Forever(f Fault, n int) []Fault {
	out := make([]Fault, n)
	for i := range out {
		out[i] = f
	}
	return out
}

// next takes the fault for a request and logs it; it also returns the
// latency every request gets.
func (p *Proxy) next(r *http.Request) (*Fault, time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var f *Fault
	for _, s := range p.scripts {
		if len(s.faults) == 0 || (s.method != "" && s.method != r.Method) {
			continue
		}
		if ok, _ := doublestar.Match(s.pattern, r.URL.Path); !ok {
			continue
		}
		f = &s.faults[0]
		s.faults = s.faults[1:]
		break
	}
	req := Request{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Time: time.Now(), Fault: f}
	if !p.noHeaders {
		req.Header = r.Header.Clone()
	}
	p.requests = append(p.requests, req)
	return f, p.latency
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	f, latency := p.next(r)
	if !p.wait(r, latency) {
		return
	}
	if f == nil {
		p.upstream.ServeHTTP(w, r)
		return
	}
	if !p.wait(r, f.Latency) {
		return
	}
	if f.Reset {
		reset(w)
		return
	}
	if f.AfterTimeout {
		select {
		case <-r.Context().Done():
		case <-p.done:
			return
		}
	}
	if f.Status == 0 {
		p.upstream.ServeHTTP(&faultWriter{ResponseWriter: w, f: f, done: p.done, req: r}, r)
		return
	}
	for k, v := range f.Headers {
		w.Header().Set(k, v)
	}
	if f.Body != "" && w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	if w.Header().Get("Content-Length") == "" {
		w.Header().Set("Content-Length", strconv.Itoa(len(f.Body)))
	}
	w.WriteHeader(f.Status)
	if r.Method == http.MethodHead {
		return
	}
	fw := &faultWriter{ResponseWriter: w, f: f, done: p.done, req: r, wroteHeader: true}
	_, _ = fw.Write([]byte(f.Body))
}

// wait sleeps d unless the client or the test ends first.
func (p *Proxy) wait(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	case <-p.done:
		return false
	}
}

// reset closes the connection under w at once; with SO_LINGER 0 the client
// sees a TCP reset rather than an orderly close.
func reset(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // the server drops the connection
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}
