// Package outbound is cascade's one policy for the HTTP requests it sends:
// to GitHub, webhook receivers, Kubernetes and registries.
//
//   - Every request has a timeout (DefaultTimeout unless the caller sets
//     one); the whole run is bounded by the caller's context, which every
//     request carries.
//   - A redirect of a mutating request (POST, PUT, PATCH, DELETE) is never
//     followed: it is that request's failure, a *RedirectError naming the
//     status and the Location (exit 2, not retried). Following it would
//     turn a POST into a bodyless GET reported as success (301, 302, 303)
//     or re-send the payload and its credentials to another host (307,
//     308).
//   - A read may follow a redirect (registries send blob downloads to
//     storage hosts), but a hop to another origin (scheme, host or port)
//     never carries Authorization, Proxy-Authorization, Cookie or
//     cascade's signature headers — even when a transport above (as
//     go-github's token transport does) adds them again on every hop.
//   - Every Authorization header a request carries is taught to the run's
//     redact.Redactor (from the request's context) before it is sent, so a
//     server that echoes a credential cannot get it printed or stored.
//   - With a logger in the request's context (WithLogger), every request
//     is logged at debug level, one line per attempt: method, host, path
//     (no query), status, duration and the retry attempt (WithAttempt).
//
// Transport applies the policy below any authentication transport (use it
// as the base transport, or as client-go's WrapTransport); Client adds the
// redirect check and the timeout to an http.Client. Both are needed for
// the redirect rules to hold whatever the client does.
package outbound

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/redact"
)

// DefaultTimeout bounds one request (one attempt, body included) when the
// caller sets no timeout.
const DefaultTimeout = 30 * time.Second

// maxRedirects bounds a chain of redirects of a read.
const maxRedirects = 10

// sensitiveHeaders never cross to another origin on a redirect.
var sensitiveHeaders = []string{
	"Authorization", "Proxy-Authorization", "Cookie",
	"X-Cascade-Signature-256", "X-Hub-Signature-256",
}

// RedirectError is a redirect that was not followed.
type RedirectError struct {
	// Method is the request's method.
	Method string
	// Status is the redirect's HTTP status.
	Status int
	// Location is where the server sent the request (credentials and
	// query removed).
	Location string
}

func (e *RedirectError) Error() string {
	return fmt.Sprintf("the server answered %d %s redirecting the %s to %s; cascade does not follow redirects of a %s (update the configured URL)",
		e.Status, http.StatusText(e.Status), e.Method, e.Location, e.Method)
}

// Mutating reports whether method changes state on the server.
func Mutating(method string) bool {
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

// Options configure Client.
type Options struct {
	// Timeout bounds each request (DefaultTimeout when zero, no bound when
	// negative).
	Timeout time.Duration
	// Base is the transport below the policy (DefaultBase when nil).
	Base http.RoundTripper
}

// Client returns an http.Client that applies the policy.
func Client(o Options) *http.Client {
	t := o.Timeout
	switch {
	case t == 0:
		t = DefaultTimeout
	case t < 0:
		t = 0
	}
	return &http.Client{Transport: Transport(o.Base), CheckRedirect: CheckRedirect, Timeout: t}
}

// Guard returns hc's policy counterpart: a copy of hc (or a new Client
// when nil) with the policy transport below hc's own and the redirect
// check, keeping hc's timeout when it has one.
func Guard(hc *http.Client) *http.Client {
	if hc == nil {
		return Client(Options{})
	}
	c := *hc
	c.Transport = Transport(hc.Transport)
	c.CheckRedirect = CheckRedirect
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	return &c
}

// CheckRedirect is the http.Client redirect policy: a mutating request's
// redirect is a *RedirectError (classified invalid, so never retried); a
// read follows up to 10 redirects, without the sensitive headers once it
// leaves the first request's origin.
func CheckRedirect(req *http.Request, via []*http.Request) error {
	if len(via) == 0 {
		return nil
	}
	first := via[0]
	if Mutating(first.Method) {
		return exitcode.AsInvalid(redirectError(first.Method, req))
	}
	if len(via) >= maxRedirects {
		return exitcode.AsInvalid(fmt.Errorf("stopped after %d redirects", maxRedirects))
	}
	if !sameOrigin(first.URL, req.URL) {
		for _, h := range sensitiveHeaders {
			req.Header.Del(h)
		}
	}
	return nil
}

func redirectError(method string, next *http.Request) *RedirectError {
	e := &RedirectError{Method: method, Location: Clean(next.URL)}
	if next.Response != nil {
		e.Status = next.Response.StatusCode
	}
	return e
}

// Clean returns u without credentials, query and fragment: safe to print.
func Clean(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := *u
	c.User, c.RawQuery, c.Fragment, c.RawFragment = nil, "", "", ""
	return c.String()
}

func sameOrigin(a, b *url.URL) bool {
	return a.Scheme == b.Scheme && a.Hostname() == b.Hostname() && port(a) == port(b)
}

func port(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if u.Scheme == "http" {
		return "80"
	}
	return "443"
}

// Transport returns base (DefaultBase when nil) with the
// policy: it teaches the context's Redactor each Authorization header,
// refuses a redirect hop of a mutating request and strips the sensitive
// headers from a hop to another origin. It recognises a hop by
// http.Request.Response, which net/http sets on requests it makes to
// follow a redirect, so it holds for clients whose CheckRedirect follows
// everything (client-go's).
func Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = DefaultBase()
	}
	if t, ok := base.(*transport); ok {
		return t
	}
	return &transport{base: base}
}

// MaxIdleConnsPerHost is how many idle connections DefaultBase keeps to
// each host: more than any client of cascade has requests in flight to one
// host (the registry's 16, discovery's 8 reads and its listing), so that a
// connection freed by one wave of requests carries the next one instead of
// being closed and dialled again (net/http keeps 2; a dial is a TCP and a
// TLS handshake, round trips of their own).
const MaxIdleConnsPerHost = 64

// DefaultBase is the transport below the policy when none is given: one
// per process, a clone of http.DefaultTransport (proxy from the
// environment, timeouts, HTTP/2) keeping MaxIdleConnsPerHost idle
// connections to each host.
var DefaultBase = sync.OnceValue(func() http.RoundTripper {
	t, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return http.DefaultTransport
	}
	t = t.Clone()
	t.MaxIdleConnsPerHost = MaxIdleConnsPerHost
	return t
})

type transport struct {
	base http.RoundTripper
}

// appliedKey marks a request the policy is already applied to: a policy
// transport below another (one wrapped around a transport that holds one)
// passes it on as it is, so each request is checked and logged once.
type appliedKey struct{}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Context().Value(appliedKey{}) != nil {
		return t.base.RoundTrip(req)
	}
	req = req.WithContext(context.WithValue(req.Context(), appliedKey{}, true))
	r := redact.FromContext(req.Context())
	for _, h := range []string{"Authorization", "Proxy-Authorization"} {
		for _, v := range req.Header.Values(h) {
			r.AddAuthorization(v)
		}
	}
	if req.Response != nil {
		first := req
		for first.Response != nil && first.Response.Request != nil {
			first = first.Response.Request
		}
		if Mutating(first.Method) {
			closeBody(req)
			return nil, exitcode.AsInvalid(redirectError(first.Method, req))
		}
		if first.URL != nil && !sameOrigin(first.URL, req.URL) {
			req = req.Clone(req.Context())
			for _, h := range sensitiveHeaders {
				req.Header.Del(h)
			}
		}
	}
	return logged(t.base, req)
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

// IsRedirect reports whether err is a redirect cascade did not follow.
func IsRedirect(err error) bool {
	var re *RedirectError
	return errors.As(err, &re)
}
