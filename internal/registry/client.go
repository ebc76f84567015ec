package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/imageref"
	"github.com/imagecascade/cascade/internal/outbound"
)

// Client is the Resolver backed by registries, through go-containerregistry.
// It is safe for concurrent use. Per registry host it pings once and
// requests one token for the pull scopes of many repositories (see
// Prepare), refuses hosts not on its allowlist before any connection, and
// bounds the registry operations in flight.
type Client struct {
	o   *options
	rt  http.RoundTripper // user agent → one ping → retry → allowlist → base
	sem *semaphore.Weighted

	mu       sync.Mutex
	sessions map[string]*session // by imageref.Ref.Registry
}

var _ Resolver = (*Client)(nil)

// New returns a Client. Invalid options are reported all at once, as an
// invalid-input error (exit code 2).
func New(opts ...Option) (*Client, error) {
	o, err := makeOptions(opts)
	if err != nil {
		return nil, err
	}
	// The outbound policy, below authentication: a blob redirect to a
	// storage host goes there without credentials; a redirect of an
	// upload is refused; every credential sent is taught to the run's
	// redactor.
	o.base = outbound.Transport(o.base)
	var rt http.RoundTripper = &allowTransport{allow: o.allow, inner: o.base}
	rt = &retryTransport{policy: o.retry, timeout: o.timeout, inner: rt}
	rt = &onePing{inner: rt, answers: map[string]*pingAnswer{}}
	// Outermost, so that transport.NewWithContext does not add another.
	rt = transport.NewUserAgent(rt, o.userAgent)
	return &Client{
		o:        o,
		rt:       rt,
		sem:      semaphore.NewWeighted(int64(o.concurrency)),
		sessions: map[string]*session{},
	}, nil
}

// Prepare authenticates once per registry host for all repositories of
// refs (one ping, and one token per batch of up to 100 repositories), so
// that later calls for them neither ping nor fetch tokens again. Calling it
// is optional: repositories not prepared are authenticated on first use,
// one ping each. Hosts not on the allowlist are refused without contact.
// The error joins one error per failing host, in host order.
func (c *Client) Prepare(ctx context.Context, refs []imageref.Ref) error {
	_, byHost := c.prepare(ctx, refs)
	hosts := make([]string, 0, len(byHost))
	for h := range byHost {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	errs := make([]error, len(hosts))
	for i, h := range hosts {
		errs[i] = byHost[h]
	}
	return errors.Join(errs...)
}

// prepare prepares the repositories of refs per host, in parallel. It
// returns the error of every repository that could not be prepared, by
// repository name (imageref.Ref.Name), and the error of every failing host.
func (c *Client) prepare(ctx context.Context, refs []imageref.Ref) (byRepo, byHost map[string]error) {
	repos := map[string][]string{}
	var hosts []string
	for _, r := range refs {
		if r.Registry == "" || r.Repository == "" {
			continue // reported by the call that uses it
		}
		if _, ok := repos[r.Registry]; !ok {
			hosts = append(hosts, r.Registry)
		}
		repos[r.Registry] = append(repos[r.Registry], r.Repository)
	}
	byRepo, byHost = map[string]error{}, map[string]error{}
	var mu sync.Mutex
	var g errgroup.Group
	g.SetLimit(c.o.concurrency)
	for _, host := range hosts {
		g.Go(func() error {
			ctx, note := withRetryNote(ctx)
			s, err := c.session(host)
			if err == nil {
				err = s.prepare(ctx, repos[host])
			}
			if err == nil {
				return nil
			}
			err = classify(fmt.Sprintf("authenticating to registry %q", host), note.annotate(err))
			mu.Lock()
			defer mu.Unlock()
			byHost[host] = err
			for _, repo := range repos[host] {
				if s == nil || s.lookup(repo) == nil {
					byRepo[host+"/"+repo] = err
				}
			}
			return nil
		})
	}
	_ = g.Wait() // the goroutines record their errors
	return byRepo, byHost
}

// session returns the session of an allowed registry host.
func (c *Client) session(host string) (*session, error) {
	if !c.o.allow.empty() && !c.o.allow.contains(host) {
		return nil, &HostNotAllowedError{Host: host}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.sessions[host]; s != nil {
		return s, nil
	}
	var nopts []name.Option
	if c.o.insecure[normHost(host)] {
		nopts = append(nopts, name.Insecure)
	}
	reg, err := name.NewRegistry(host, nopts...)
	if err != nil {
		return nil, exitcode.AsInvalid(fmt.Errorf("registry host %q: %w", host, err))
	}
	s := newSession(reg, c.rt, c.o.keychain, c.o.concurrency)
	c.sessions[host] = s
	return s, nil
}

// target is what one call needs: the reference in go-containerregistry's
// terms, its repository and the authenticated transport for it.
type target struct {
	ref  name.Reference
	repo name.Repository
	opts []remote.Option
}

func (c *Client) target(ctx context.Context, ref imageref.Ref) (*target, error) {
	if ref.Registry == "" || ref.Repository == "" {
		return nil, exitcode.AsInvalid(errors.New("empty image reference"))
	}
	s, err := c.session(ref.Registry)
	if err != nil {
		return nil, err
	}
	w, err := s.wrapper(ctx, ref.Repository)
	if err != nil {
		return nil, err
	}
	repo := s.reg.Repo(ref.Repository)
	t := &target{repo: repo, opts: []remote.Option{remote.WithTransport(w), remote.WithContext(ctx)}}
	if ref.Digest != "" {
		t.ref = repo.Digest(string(ref.Digest))
	} else {
		t.ref = repo.Tag(ref.EffectiveTag())
	}
	return t, nil
}

// op runs one registry operation within the client's concurrency bound.
func (c *Client) op(ctx context.Context, f func() error) error {
	if err := c.sem.Acquire(ctx, 1); err != nil {
		return err
	}
	defer c.sem.Release(1)
	return f()
}

// Digest implements Resolver with Head.
func (c *Client) Digest(ctx context.Context, ref imageref.Ref) (imageref.Digest, error) {
	d, err := c.head(ctx, ref, fmt.Sprintf("resolving the digest of %q", ref))
	return d.Digest, err
}

// Head returns the digest and media type of ref's top-level manifest with
// one HEAD request. A registry that answers HEAD without a digest or media
// type (or refuses HEAD with 405) is asked with one GET instead. A reference
// with a digest is checked to exist.
func (c *Client) Head(ctx context.Context, ref imageref.Ref) (Descriptor, error) {
	return c.head(ctx, ref, fmt.Sprintf("resolving %q", ref))
}

func (c *Client) head(ctx context.Context, ref imageref.Ref, what string) (Descriptor, error) {
	ctx, note := withRetryNote(ctx)
	t, err := c.target(ctx, ref)
	if err != nil {
		return Descriptor{}, classify(what, note.annotate(err))
	}
	var desc *v1.Descriptor
	err = c.op(ctx, func() error {
		var err error
		desc, err = remote.Head(t.ref, t.opts...)
		if err != nil && headUnanswered(err) {
			var d *remote.Descriptor
			if d, err = remote.Get(t.ref, t.opts...); err == nil {
				desc = &d.Descriptor
			}
		}
		return err
	})
	if err != nil {
		return Descriptor{}, classify(what, note.annotate(err))
	}
	d, err := digestOf(desc.Digest)
	if err != nil {
		return Descriptor{}, fmt.Errorf("%s: registry answered: %w", what, err)
	}
	return Descriptor{Digest: d, MediaType: string(desc.MediaType), Index: desc.MediaType.IsIndex()}, nil
}

// headUnanswered reports whether a failed HEAD is worth one GET: the
// registry answered but without the headers a digest comes from, or does
// not allow HEAD. Status errors (401, 404, 5xx after retries) and
// connection errors are final.
func headUnanswered(err error) bool {
	var te *transport.Error
	if errors.As(err, &te) {
		return te.StatusCode == http.StatusMethodNotAllowed
	}
	var ue *url.Error
	return !errors.As(err, &ue) && !errors.Is(err, ErrHostNotAllowed) &&
		!errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// InspectAll inspects every reference (see Inspect) with bounded
// concurrency, after preparing all their repositories at once. Results are
// indexed like refs: for each i exactly one of images[i] and errs[i] is
// non-nil. One failure does not stop the others; the caller decides.
func (c *Client) InspectAll(ctx context.Context, refs []imageref.Ref, labels bool) ([]*Image, []error) {
	images := make([]*Image, len(refs))
	errs := make([]error, len(refs))
	failed, _ := c.prepare(ctx, refs)
	var g errgroup.Group
	g.SetLimit(c.o.concurrency)
	for i, ref := range refs {
		if err := failed[ref.Name()]; err != nil {
			errs[i] = fmt.Errorf("inspecting %q: %w", ref, err)
			continue
		}
		g.Go(func() error {
			images[i], errs[i] = c.Inspect(ctx, ref, labels)
			return nil
		})
	}
	_ = g.Wait() // errors are in errs
	return images, errs
}

// Transport returns the client's base transport with the allowlist
// enforced, for other registry writers (such as an in-registry rebase) that
// must refuse the same hosts. It adds no authentication, retry or user agent.
func (c *Client) Transport() http.RoundTripper {
	return &allowTransport{allow: c.o.allow, inner: c.o.base}
}

// Insecure reports whether host is reached over plain HTTP.
func (c *Client) Insecure(host string) bool { return c.o.insecure[normHost(host)] }

// Keychain returns the credentials source the client uses.
func (c *Client) Keychain() authn.Keychain { return c.o.keychain }
