package registry

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/retry"
)

// DefaultConcurrency bounds the registry requests a Client has in flight
// when WithConcurrency is not given.
const DefaultConcurrency = 16

// DefaultUserAgent is sent (with go-containerregistry's own token) when
// WithUserAgent is not given.
const DefaultUserAgent = "cascade"

// Option configures a Client. Options are validated by New.
type Option func(*options) error

type options struct {
	keychain    authn.Keychain
	base        http.RoundTripper
	allow       hostSet
	insecure    map[string]bool
	concurrency int
	userAgent   string
	retry       retry.Policy
	timeout     time.Duration
}

func makeOptions(opts []Option) (*options, error) {
	o := &options{
		keychain:    authn.DefaultKeychain,
		base:        remote.DefaultTransport,
		insecure:    map[string]bool{},
		concurrency: DefaultConcurrency,
		userAgent:   DefaultUserAgent,
		retry:       defaultPolicy(retry.Policy{}),
		timeout:     DefaultAttemptTimeout,
	}
	var errs []error
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(o); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, exitcode.AsInvalid(fmt.Errorf("configuring registry client: %w", err))
	}
	return o, nil
}

// WithKeychain sets where credentials come from. The default is
// authn.DefaultKeychain, the Docker config file (~/.docker/config.json,
// $DOCKER_CONFIG, credential helpers).
func WithKeychain(kc authn.Keychain) Option {
	return func(o *options) error {
		if kc == nil {
			return errors.New("keychain: must not be nil")
		}
		o.keychain = kc
		return nil
	}
}

// WithTransport sets the base transport, below authentication, retries and
// the allowlist check. The default is go-containerregistry's
// remote.DefaultTransport.
func WithTransport(rt http.RoundTripper) Option {
	return func(o *options) error {
		if rt == nil {
			return errors.New("transport: must not be nil")
		}
		o.base = rt
		return nil
	}
}

// WithAllow restricts the hosts the Client ever sends a request to: the
// image's registry, token realms and redirect targets alike. An empty list
// allows every host. Entries are "host" or "host:port" (":443" and ":80"
// are the same as no port), or "*.example.com" for every subdomain of
// example.com. "docker.io" also allows the hosts Docker Hub serves from
// (index.docker.io, registry-1.docker.io, auth.docker.io,
// production.cloudflare.docker.com).
func WithAllow(hosts []string) Option {
	return func(o *options) error {
		set, err := parseHostSet(hosts, true)
		if err != nil {
			return fmt.Errorf("allow: %w", err)
		}
		o.allow = set
		return nil
	}
}

// WithInsecure lists registry hosts ("host" or "host:port") spoken to over
// plain HTTP when HTTPS fails. go-containerregistry already does this for
// localhost, 127.0.0.1, ::1 and private (RFC 1918) addresses.
func WithInsecure(hosts []string) Option {
	return func(o *options) error {
		set, err := parseHostSet(hosts, false)
		if err != nil {
			return fmt.Errorf("insecure: %w", err)
		}
		for h := range set.exact {
			o.insecure[h] = true
		}
		return nil
	}
}

// WithConcurrency bounds the registry operations (manifest and blob
// requests) the Client has in flight at once, across all callers. The
// default is DefaultConcurrency.
func WithConcurrency(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("concurrency: must be at least 1, got %d", n)
		}
		o.concurrency = n
		return nil
	}
}

// WithUserAgent sets the product token sent in the User-Agent header, before
// go-containerregistry's own. The default is DefaultUserAgent.
func WithUserAgent(ua string) Option {
	return func(o *options) error {
		for i := 0; i < len(ua); i++ {
			if c := ua[i]; c < ' ' || c == 0x7f {
				return fmt.Errorf("user agent %q: contains a control character", ua)
			}
		}
		o.userAgent = ua
		return nil
	}
}

// WithRetryPolicy sets how requests are retried: connection failures,
// answers that do not come within the attempt timeout, and 408, 429, 499 and
// 5xx (but 501 and 505) answers, with full-jitter backoff, never less than
// the registry's Retry-After (seconds or HTTP date), all within the policy's
// budget (and the caller's context deadline). 401, 403 and 404 are never
// retried; a HEAD is retried as a HEAD. Zero fields take the registry
// defaults (DefaultRetryBudget, DefaultRetryAttempts, DefaultRetryBase,
// DefaultRetryMax, the real clock); Attempts: 1 turns retries off. Tests set
// Clock (a retry.FakeClock) and Jitter to assert exact waits.
func WithRetryPolicy(p retry.Policy) Option {
	return func(o *options) error {
		var errs []error
		if p.Budget < 0 {
			errs = append(errs, fmt.Errorf("retry policy: budget must not be negative, got %s", p.Budget))
		}
		if p.Attempts < 0 {
			errs = append(errs, fmt.Errorf("retry policy: attempts must not be negative, got %d", p.Attempts))
		}
		if p.Base < 0 || p.Max < 0 {
			errs = append(errs, fmt.Errorf("retry policy: backoff bounds must not be negative, got %s and %s", p.Base, p.Max))
		}
		if err := errors.Join(errs...); err != nil {
			return err
		}
		o.retry = defaultPolicy(p)
		return nil
	}
}

// WithAttemptTimeout bounds how long one request waits for the headers of
// its answer before it is abandoned (and retried, see WithRetryPolicy);
// reading the body is bounded only by the caller's context. The default is
// DefaultAttemptTimeout; 0 waits as long as the context allows.
func WithAttemptTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return fmt.Errorf("attempt timeout: must not be negative, got %s", d)
		}
		o.timeout = d
		return nil
	}
}
