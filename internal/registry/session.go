package registry

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// maxScopes bounds the repositories one token is requested for: every
// scope is a query parameter of the token request, and registries limit
// URL length.
const maxScopes = 100

// session is the authenticated state for one registry host: a
// *transport.Wrapper per batch of repositories, each made with one ping and
// (for bearer registries) one token covering the batch's pull scopes.
// go-containerregistry's remote package neither re-wraps nor re-pings a
// *transport.Wrapper, so every request for a covered repository reuses it.
type session struct {
	reg  name.Registry
	base http.RoundTripper
	kc   authn.Keychain

	// create is held (ctx-aware, 1-buffered) while wrappers are made, so
	// concurrent callers for one repository share one ping.
	create chan struct{}
	auth   authn.Authenticator // resolved once, under create

	mu       sync.Mutex
	wrappers map[string]*transport.Wrapper // by repository path
}

func newSession(reg name.Registry, base http.RoundTripper, kc authn.Keychain) *session {
	return &session{
		reg:      reg,
		base:     base,
		kc:       kc,
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
// of at most maxScopes. It stops at the first batch that fails.
func (s *session) prepare(ctx context.Context, repos []string) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.unlock()
	var todo []string
	s.mu.Lock()
	for _, r := range repos {
		if s.wrappers[r] == nil && !slices.Contains(todo, r) {
			todo = append(todo, r)
		}
	}
	s.mu.Unlock()
	slices.Sort(todo)
	for batch := range slices.Chunk(todo, maxScopes) {
		w, err := s.newWrapper(ctx, batch)
		if err != nil {
			return err
		}
		s.mu.Lock()
		for _, r := range batch {
			s.wrappers[r] = w
		}
		s.mu.Unlock()
	}
	return nil
}

// newWrapper pings the registry and authenticates for the pull scopes of
// repos. Called with create held.
func (s *session) newWrapper(ctx context.Context, repos []string) (*transport.Wrapper, error) {
	if s.auth == nil {
		auth, err := authn.Resolve(ctx, s.kc, s.reg)
		if err != nil {
			return nil, fmt.Errorf("looking up credentials for %s: %w", s.reg, err)
		}
		s.auth = auth
	}
	scopes := make([]string, len(repos))
	for i, r := range repos {
		scopes[i] = s.reg.Repo(r).Scope(transport.PullScope)
	}
	rt, err := transport.NewWithContext(ctx, s.reg, s.auth, s.base, scopes)
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
