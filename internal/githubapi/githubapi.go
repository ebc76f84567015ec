// Package githubapi builds cascade's GitHub REST clients: the one place
// that validates the API URL (--github-api-url, GITHUB_API_URL), applies
// the outbound HTTP policy (timeouts, no redirect of a mutation, no
// credentials to another host) and retries reads. The dispatcher
// (repository_dispatch, workflow_dispatch) and the pull-request
// write-back both use it.
package githubapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/go-github/v60/github"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/outbound"
	"github.com/imagecascade/cascade/internal/retry"
)

// DefaultAPIURL is the API root of github.com.
const DefaultAPIURL = "https://api.github.com/"

// Options configure a client.
type Options struct {
	// Token authenticates every request (none when empty).
	Token string
	// APIURL is the REST API root: DefaultAPIURL when empty, or a GitHub
	// Enterprise Server's "https://HOST/api/v3".
	APIURL string
	// HTTPClient sends the requests; the outbound policy is applied on
	// top of it (a new policy client when nil).
	HTTPClient *http.Client
	// ReadPolicy retries GET and HEAD requests on 408, 429, 5xx and
	// connection failures. Mutations are never retried here: their
	// callers decide (the dispatcher retries with its own policy).
	ReadPolicy retry.Policy
	// NoReadRetry turns the read retries off (the dispatcher, which
	// retries whole operations itself).
	NoReadRetry bool
}

// ParseAPIURL validates raw (DefaultAPIURL when empty): http(s), a host,
// no credentials. The path gets a trailing slash, as go-github wants. A
// malformed URL is invalid input (exit 2).
func ParseAPIURL(raw string) (*url.URL, error) {
	if raw == "" {
		raw = DefaultAPIURL
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		shown := raw
		if err == nil {
			shown = outbound.Clean(u)
		} else {
			shown = "(unparsable)"
		}
		return nil, exitcode.AsInvalid(fmt.Errorf("GitHub API URL %q (--github-api-url, GITHUB_API_URL): want http(s)://host[/path]", shown))
	}
	if u.User != nil {
		return nil, exitcode.AsInvalid(errors.New("GitHub API URL (--github-api-url, GITHUB_API_URL) must not carry credentials; use the token"))
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	return u, nil
}

// Builder makes go-github clients for one API root and token. A fresh
// client per operation has no memory of rate limits (go-github refuses
// requests itself until a remembered reset; cascade's retry policies own
// waiting).
type Builder struct {
	base  *url.URL
	token string
	hc    *http.Client
}

// New validates o and returns a Builder.
func New(o Options) (*Builder, error) {
	u, err := ParseAPIURL(o.APIURL)
	if err != nil {
		return nil, err
	}
	hc := outbound.Guard(o.HTTPClient)
	if !o.NoReadRetry {
		hc.Transport = &readRetry{policy: o.ReadPolicy, inner: hc.Transport}
	}
	return &Builder{base: u, token: o.Token, hc: hc}, nil
}

// BaseURL returns the API root (with a trailing slash).
func (b *Builder) BaseURL() *url.URL {
	u := *b.base
	return &u
}

// Client returns a fresh go-github client.
func (b *Builder) Client() *github.Client {
	c := github.NewClient(b.hc)
	if b.token != "" {
		c = c.WithAuthToken(b.token)
	}
	c.BaseURL = b.BaseURL()
	return c
}

// NewClient is New(o) then Client.
func NewClient(o Options) (*github.Client, error) {
	b, err := New(o)
	if err != nil {
		return nil, err
	}
	return b.Client(), nil
}

// readRetry retries reads under a retry.Policy.
type readRetry struct {
	policy retry.Policy
	inner  http.RoundTripper
}

func (t *readRetry) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		return t.inner.RoundTrip(req)
	}
	var resp *http.Response
	err := retry.Do(req.Context(), t.policy, func(ctx context.Context) error {
		r, err := t.inner.RoundTrip(req.Clone(ctx))
		if err != nil {
			return err
		}
		he := retry.FromResponse(r, t.policy.Now(), nil)
		if he.Status < 400 || !he.Retryable() {
			resp = r
			return nil
		}
		// Keep the last answer for the caller when retries run out.
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		_ = r.Body.Close()
		r.Body = io.NopCloser(bytes.NewReader(body))
		resp = r
		return he
	})
	if resp != nil {
		return resp, nil
	}
	return nil, err
}
