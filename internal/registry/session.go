package registry

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"golang.org/x/sync/errgroup"
)

// maxScopes bounds the repositories one token is requested for: every
// scope is a query parameter of the token request, and registries limit
// URL length.
const maxScopes = 100

// session is the authenticated state for one registry host: a
// *transport.Wrapper per batch of repositories, each made with (for bearer
// registries) one token covering the batch's pull scopes. The host is
// pinged once: go-containerregistry pings whenever it makes a wrapper, and
// the client's transport answers the later pings from the first answer
// (onePing).
// go-containerregistry's remote package neither re-wraps nor re-pings a
// *transport.Wrapper, so every request for a covered repository reuses it.
type session struct {
	reg  name.Registry
	base http.RoundTripper
	kc   authn.Keychain
	// limit bounds the token requests in flight when many batches are
	// prepared at once.
	limit int

	// create is held (ctx-aware, 1-buffered) while wrappers are made, so
	// concurrent callers for one repository share one ping.
	create chan struct{}
	auth   authn.Authenticator // resolved once, under create

	mu       sync.Mutex
	wrappers map[string]*transport.Wrapper // by repository path
}

func newSession(reg name.Registry, base http.RoundTripper, kc authn.Keychain, limit int) *session {
	return &session{
		reg:      reg,
		base:     base,
		kc:       kc,
		limit:    max(limit, 1),
		create:   make(chan struct{}, 1),
		wrappers: map[string]*transport.Wrapper{},
	}
}

func (s *session) lookup(repo string) *transport.Wrapper {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.wrappers[repo]
}

func (s *session) lock(ctx context.Context) error {
	select {
	case s.create <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *session) unlock() { <-s.create }

// wrapper returns the wrapper covering repo, making one for repo alone if
// it was not prepared.
func (s *session) wrapper(ctx context.Context, repo string) (*transport.Wrapper, error) {
	if w := s.lookup(repo); w != nil {
		return w, nil
	}
	if err := s.prepare(ctx, []string{repo}); err != nil {
		return nil, err
	}
	return s.lookup(repo), nil
}

// prepare makes wrappers for the repositories not yet covered, in batches
// of at most maxScopes: the first alone (it pings, if no wrapper was made
// before), then the others in parallel, up to s.limit at a time. It stops
// at the first batch that fails.
func (s *session) prepare(ctx context.Context, repos []string) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.unlock()
	var todo []string
	s.mu.Lock()
	for _, r := range repos {
		if s.wrappers[r] == nil {
			todo = append(todo, r)
		}
	}
	s.mu.Unlock()
	slices.Sort(todo)
	todo = slices.Compact(todo)
	batches := slices.Collect(slices.Chunk(todo, maxScopes))
	wrap := func(ctx context.Context, batch []string) error {
		w, err := s.newWrapper(ctx, batch)
		if err != nil {
			return err
		}
		s.mu.Lock()
		for _, r := range batch {
			s.wrappers[r] = w
		}
		s.mu.Unlock()
		return nil
	}
	if len(batches) == 0 {
		return nil
	}
	if err := wrap(ctx, batches[0]); err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.limit)
	for _, batch := range batches[1:] {
		g.Go(func() error { return wrap(gctx, batch) })
	}
	return g.Wait()
}

// newWrapper pings the registry (answered by onePing after the first time)
// and authenticates for the pull scopes of repos. Called with create held,
// possibly for several batches at once.
func (s *session) newWrapper(ctx context.Context, repos []string) (*transport.Wrapper, error) {
	s.mu.Lock()
	auth := s.auth
	s.mu.Unlock()
	if auth == nil {
		var err error
		auth, err = authn.Resolve(ctx, s.kc, s.reg)
		if err != nil {
			return nil, fmt.Errorf("looking up credentials for %s: %w", s.reg, err)
		}
		s.mu.Lock()
		s.auth = auth
		s.mu.Unlock()
	}
	scopes := make([]string, len(repos))
	for i, r := range repos {
		scopes[i] = s.reg.Repo(r).Scope(transport.PullScope)
	}
	rt, err := transport.NewWithContext(ctx, s.reg, auth, s.base, scopes)
	if err != nil {
		return nil, err
	}
	w, ok := rt.(*transport.Wrapper)
	if !ok {
		// go-containerregistry always returns a Wrapper; anything else
		// would be re-wrapped and re-pinged on every request.
		return nil, fmt.Errorf("authenticating to %s: unexpected transport %T", s.reg, rt)
	}
	return w, nil
}

// maxPingBody bounds the body of a ping answer kept for replay.
const maxPingBody = 64 << 10

// onePing answers go-containerregistry's ping — GET /v2/ — from the first
// real answer to the same URL: 200 (no authentication) or 401 with the
// challenge. transport.NewWithContext pings every time it makes a
// transport, and a session makes one per batch of repositories; the
// registry's answer does not change within a run. Every other request, and
// a ping whose URL has no answer yet (or got another status), goes through
// to inner.
type onePing struct {
	inner http.RoundTripper

	mu      sync.Mutex
	answers map[string]*pingAnswer // by URL
}

type pingAnswer struct {
	status int
	proto  string
	header http.Header
	body   []byte
}

func isPing(req *http.Request) bool {
	return req.Method == http.MethodGet && req.URL.Path == "/v2/" && req.URL.RawQuery == ""
}

func (p *onePing) RoundTrip(req *http.Request) (*http.Response, error) {
	if !isPing(req) {
		return p.inner.RoundTrip(req)
	}
	key := req.URL.String()
	p.mu.Lock()
	a := p.answers[key]
	p.mu.Unlock()
	if a != nil {
		return &http.Response{
			Status: fmt.Sprintf("%d %s", a.status, http.StatusText(a.status)), StatusCode: a.status,
			Proto: a.proto, ProtoMajor: 1, ProtoMinor: 1,
			Header: a.header.Clone(), Body: io.NopCloser(bytes.NewReader(a.body)),
			ContentLength: int64(len(a.body)), Request: req,
		}, nil
	}
	resp, err := p.inner.RoundTrip(req)
	if err != nil || (resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusUnauthorized) {
		return resp, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPingBody+1))
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if len(body) <= maxPingBody {
		p.mu.Lock()
		p.answers[key] = &pingAnswer{status: resp.StatusCode, proto: resp.Proto, header: resp.Header.Clone(), body: body}
		p.mu.Unlock()
	}
	return resp, nil
}
