// Package githubtest is an offline, in-process GitHub REST API for tests.
//
// It speaks the JSON shapes go-github v60 uses and validates requests the way
// GitHub does: bearer or token authentication with per-repository token
// scopes (a token that cannot see a repository gets 404), repository_dispatch
// payload limits (event_type ≤ 100 characters, ≤ 10 client_payload keys, body
// under 64 KB), workflow_dispatch refs and inputs (≤ 25, strings, required and
// unexpected inputs), fast-forward rules on refs, and pull request rules (one
// open pull request per head, no pull request without commits).
//
// Every repository has an in-memory git object store whose object ids are
// real git object ids (SHA-1 of git's object encoding), so a client can
// compare a local git blob id with what the server holds. Faults are
// scripted per request with [Server.Script], latency is added with
// [WithLatency], secondary rate limits (mutations closer than a second,
// too many requests at once or per minute) are detected and refused with
// [WithSecondaryLimits], and every request is recorded for assertions
// ([Server.Requests]). Every response carries x-ratelimit-* headers.
//
// Point go-github at it with
//
//	client, _ := github.NewClient(nil).WithAuthToken(srv.Token()).WithEnterpriseURLs(srv.URL, srv.URL)
//
// (paths with and without the /api/v3/ prefix are served) or by setting
// client.BaseURL to the parsed srv.URL.
package githubtest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// DefaultToken is the token accepted for every repository when no
// [WithToken] option is given.
const DefaultToken = "ghs_githubtest_default_token"

// Server is a fake GitHub REST API on a loopback httptest server.
type Server struct {
	// URL is the base URL of the API, ending with "/".
	URL string

	srv *httptest.Server
	mux *http.ServeMux

	mu         sync.Mutex
	tokens     map[string][]string // token → repositories it may see (lowercase "o/r"); nil = all
	repos      map[string]*repoState
	scripts    []*script
	requests   []Request
	latency    time.Duration
	noRunInfo  bool
	rate       rateLimit
	nextID     int64
	dispatches []RepositoryDispatch
	workflows  []WorkflowDispatch
	firstToken string
	secondary  *secondary // nil: no secondary limits enforced
}

// Option configures a Server.
type Option func(*Server)

// WithToken accepts tok. With repos ("owner/name"), the token can only see
// those repositories; requests for others answer 404 like GitHub does for a
// token without access. Without repos it can see every repository. Once any
// WithToken is given, DefaultToken is no longer accepted.
func WithToken(tok string, repos ...string) Option {
	return func(s *Server) {
		var scope []string
		for _, r := range repos {
			scope = append(scope, strings.ToLower(r))
		}
		if scope == nil {
			scope = []string{}
		}
		if s.firstToken == "" {
			s.firstToken = tok
		}
		s.tokens[tok] = scope
	}
}

// WithLatency delays every response by d (before any scripted delay).
func WithLatency(d time.Duration) Option {
	return func(s *Server) { s.latency = d }
}

// WithoutRunDetails makes workflow dispatches that ask for return_run_details
// fail with 422, as GitHub Enterprise Server versions without the parameter do.
func WithoutRunDetails() Option {
	return func(s *Server) { s.noRunInfo = true }
}

// WithRateLimit sets the primary rate limit: limit requests per window.
// Once exhausted, requests answer 403 "API rate limit exceeded" with
// x-ratelimit-remaining: 0 until the window resets. The default is 5000 per
// hour, which tests never reach.
func WithRateLimit(limit int, window time.Duration) Option {
	return func(s *Server) { s.rate.limit, s.rate.window = limit, window }
}

// New starts a Server and closes it when the test ends.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := Start(opts...)
	t.Cleanup(s.Close)
	return s
}

// Start starts a Server outside a test (a benchmark program); the caller
// closes it with [Server.Close].
func Start(opts ...Option) *Server {
	s := &Server{
		tokens: map[string][]string{},
		repos:  map[string]*repoState{},
		rate:   rateLimit{limit: 5000, window: time.Hour},
		nextID: 1000,
	}
	for _, o := range opts {
		o(s)
	}
	if len(s.tokens) == 0 {
		s.tokens[DefaultToken] = []string{}
		s.firstToken = DefaultToken
	}
	s.rate.start = time.Now()
	s.mux = http.NewServeMux()
	s.routes()
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL + "/"
	return s
}

// Close shuts the server down, waiting for the requests in flight.
func (s *Server) Close() { s.srv.Close() }

// Token returns a token the server accepts: the first WithToken token, or
// DefaultToken.
func (s *Server) Token() string { return s.firstToken }

// Client returns an *http.Client for the server (plain HTTP on loopback).
func (s *Server) Client() *http.Client { return s.srv.Client() }

// Request is one recorded request.
type Request struct {
	Method string
	// Path is the URL path without the optional /api/v3 prefix.
	Path  string
	Query string
	Body  []byte
	// Header is a copy of the request headers with Authorization redacted.
	Header http.Header
	// Time is when the request arrived.
	Time time.Time
	// Status is the status code answered.
	Status int
}

// Requests returns every request received so far, in arrival order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	copy(out, s.requests)
	return out
}

// statusRecorder remembers the status written.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

const maxBody = 10 << 20

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	arrived := time.Now()
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		writeMessage(w, http.StatusBadRequest, "Problems parsing JSON")
		return
	}
	p := strings.TrimPrefix(r.URL.Path, "/api/v3")
	if p == "" {
		p = "/"
	}
	hdr := r.Header.Clone()
	if hdr.Get("Authorization") != "" {
		hdr.Set("Authorization", "REDACTED")
	}
	s.mu.Lock()
	idx := len(s.requests)
	s.requests = append(s.requests, Request{
		Method: r.Method, Path: p, Query: r.URL.RawQuery, Body: body,
		Header: hdr, Time: arrived,
	})
	latency := s.latency
	s.mu.Unlock()

	rec := &statusRecorder{ResponseWriter: w}
	defer func() {
		s.mu.Lock()
		s.requests[idx].Status = rec.status
		s.mu.Unlock()
	}()

	refused := ""
	if s.secondary != nil {
		tok, _ := bearer(r.Header.Get("Authorization"))
		var done func()
		refused, done = s.secondary.admit(tok, r.Method, p, arrived)
		defer done()
	}
	if !sleep(r, latency) {
		return
	}
	if refused != "" {
		s.writeScripted(rec, SecondaryRateLimit(s.secondary.limits.RetryAfter))
		return
	}
	if resp, ok := s.nextScripted(r.Method, p); ok {
		if !sleep(r, resp.Delay) {
			return
		}
		if resp.Status != 0 {
			s.writeScripted(rec, resp)
			return
		}
	}

	withinLimit := s.setRateHeaders(rec)
	if len(body) > maxBody {
		writeMessage(rec, http.StatusRequestEntityTooLarge, "Request body too large")
		return
	}
	tok, ok := bearer(r.Header.Get("Authorization"))
	s.mu.Lock()
	scope, known := s.tokens[tok]
	s.mu.Unlock()
	if !ok || !known {
		writeMessage(rec, http.StatusUnauthorized, "Bad credentials")
		return
	}
	if !withinLimit {
		writeMessage(rec, http.StatusForbidden, "API rate limit exceeded for user ID 1.")
		return
	}

	r2 := r.Clone(r.Context())
	r2.URL.Path = p
	r2.URL.RawPath = strings.TrimPrefix(r.URL.RawPath, "/api/v3")
	r2.Body = io.NopCloser(bytes.NewReader(body))
	ctx := withCaller(r2.Context(), caller{token: tok, scope: scope, body: body})
	s.mux.ServeHTTP(rec, r2.WithContext(ctx))
	if rec.status == http.StatusNotModified {
		// GitHub does not count a conditional request answered 304
		// against the primary rate limit.
		s.rate.refund()
	}
}

// sleep waits d or until the client gives up; it reports whether to go on.
func sleep(r *http.Request, d time.Duration) bool {
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
	}
}

func bearer(h string) (string, bool) {
	for _, prefix := range []string{"Bearer ", "bearer ", "token ", "Token "} {
		if tok, ok := strings.CutPrefix(h, prefix); ok && strings.TrimSpace(tok) != "" {
			return strings.TrimSpace(tok), true
		}
	}
	return "", false
}

// rateLimit is the primary rate limit state.
type rateLimit struct {
	limit  int
	window time.Duration
	mu     sync.Mutex
	start  time.Time
	used   int
}

// take counts one request. It reports false when the limit is exhausted.
func (rl *rateLimit) take() (limit, remaining, used int, reset int64, ok bool) {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	now := time.Now()
	if now.Sub(rl.start) >= rl.window {
		rl.start, rl.used = now, 0
	}
	if rl.used >= rl.limit {
		return rl.limit, 0, rl.used, rl.start.Add(rl.window).Unix(), false
	}
	rl.used++
	return rl.limit, rl.limit - rl.used, rl.used, rl.start.Add(rl.window).Unix(), true
}

// refund gives back the request take counted.
func (rl *rateLimit) refund() {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if rl.used > 0 {
		rl.used--
	}
}

// setRateHeaders writes the x-ratelimit-* headers and reports whether the
// request is within the primary rate limit.
func (s *Server) setRateHeaders(w http.ResponseWriter) bool {
	limit, remaining, used, reset, ok := s.rate.take()
	h := w.Header()
	h.Set("x-ratelimit-limit", strconv.Itoa(limit))
	h.Set("x-ratelimit-remaining", strconv.Itoa(remaining))
	h.Set("x-ratelimit-used", strconv.Itoa(used))
	h.Set("x-ratelimit-reset", strconv.FormatInt(reset, 10))
	h.Set("x-ratelimit-resource", "core")
	h.Set("x-github-api-version-selected", "2022-11-28")
	return ok
}

// writeJSON answers status with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// apiError is GitHub's error body.
type apiError struct {
	Message          string       `json:"message"`
	Errors           []fieldError `json:"errors,omitempty"`
	DocumentationURL string       `json:"documentation_url,omitempty"`
	Status           string       `json:"status,omitempty"`
}

type fieldError struct {
	Resource string `json:"resource,omitempty"`
	Field    string `json:"field,omitempty"`
	Code     string `json:"code"`
	Message  string `json:"message,omitempty"`
}

const docsURL = "https://docs.github.com/rest"

func writeMessage(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, apiError{Message: msg, DocumentationURL: docsURL, Status: strconv.Itoa(status)})
}

// writeInvalid answers GitHub's schema-validation 422: "Invalid request.\n\n<detail>".
func writeInvalid(w http.ResponseWriter, detail string) {
	writeMessage(w, http.StatusUnprocessableEntity, "Invalid request.\n\n"+detail)
}

func writeValidation(w http.ResponseWriter, errs ...fieldError) {
	writeJSON(w, http.StatusUnprocessableEntity, apiError{
		Message: "Validation Failed", Errors: errs, DocumentationURL: docsURL, Status: "422",
	})
}
