package registry

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/imagecascade/cascade/internal/exitcode"
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
	backoff     transport.Backoff
}

// defaultBackoff is go-containerregistry's remote default: three tries,
// waiting about 1 s then 3 s.
var defaultBackoff = transport.Backoff{Duration: time.Second, Factor: 3, Jitter: 0.1, Steps: 3}

func makeOptions(opts []Option) (*options, error) {
	o := &options{
		keychain:    authn.DefaultKeychain,
		base:        remote.DefaultTransport,
		insecure:    map[string]bool{},
		concurrency: DefaultConcurrency,
		userAgent:   DefaultUserAgent,
		backoff:     defaultBackoff,
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

// withRetryBackoff sets the backoff between retries of connection errors
// and retryable status codes (tests use a fast one).
func withRetryBackoff(b transport.Backoff) Option {
	return func(o *options) error {
		if b.Steps < 1 {
			return fmt.Errorf("retry backoff: steps must be at least 1, got %d", b.Steps)
		}
		o.backoff = b
		return nil
	}
}
