package registry_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/faultproxy"
	"github.com/imagecascade/cascade/internal/imageref"
	"github.com/imagecascade/cascade/internal/registry"
	"github.com/imagecascade/cascade/internal/retry"
)

// The reliability rows of docs/reliability.md that the registry client answers
// for, driven through the fault proxy in front of the in-process registry.

// epoch is where fake clocks start (a whole second, so HTTP dates are exact).
var epoch = time.Unix(1_700_000_000, 0)

// ceilingJitter makes backoff waits their ceiling, so tests can assert them.
func ceilingJitter(c time.Duration) time.Duration { return c }

// behindProxy starts the in-process registry with one image pushed as
// acme/app:latest, and a fault proxy in front of it. It returns the proxy
// and the image's digest.
func behindProxy(t *testing.T) (*faultproxy.Proxy, imageref.Digest) {
	t.Helper()
	host := newRegistry(t, nil)
	d := push(t, host+"/acme/app:latest", randomImage(t, nil, 1, nil, nil))
	return faultproxy.New(t, &url.URL{Scheme: "http", Host: host}), d
}

// proxyClient is a Client for the proxy's registry with the given retry
// policy, and fresh connections for every request (Go's transport would
// otherwise re-send a request on its own when a reused connection is reset).
func proxyClient(t *testing.T, p retry.Policy, opts ...registry.Option) *registry.Client {
	t.Helper()
	base := []registry.Option{
		registry.WithKeychain(anonymous),
		registry.WithTransport(&http.Transport{DisableKeepAlives: true}),
		registry.WithRetryPolicy(p),
	}
	cl, err := registry.New(append(base, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return cl
}

// manifestRequests are the proxy's manifest requests, as "METHOD".
func manifestRequests(p *faultproxy.Proxy) []string {
	var out []string
	for _, r := range p.Requests() {
		if strings.Contains(r.Path, "/manifests/") {
			out = append(out, r.Method)
		}
	}
	return out
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func TestR01_HeadRetryAfter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		retryAfter []string // per 429
	}{
		{name: "seconds", retryAfter: []string{"2", "2"}},
		{name: "HTTP date", retryAfter: []string{
			epoch.Add(2 * time.Second).UTC().Format(http.TimeFormat),
			epoch.Add(4 * time.Second).UTC().Format(http.TimeFormat),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, want := behindProxy(t)
			var faults []faultproxy.Fault
			for _, ra := range tt.retryAfter {
				faults = append(faults, faultproxy.Fault{Status: http.StatusTooManyRequests, Headers: map[string]string{"Retry-After": ra}})
			}
			p.Script("HEAD", "/v2/**/manifests/*", faults...)
			clock := retry.NewFakeClock(epoch)
			cl := proxyClient(t, retry.Policy{Clock: clock, Jitter: ceilingJitter})

			got, err := cl.Digest(context.Background(), mustParse(t, p.Host()+"/acme/app:latest"))
			if err != nil {
				t.Fatalf("Digest: %v", err)
			}
			if got != want {
				t.Errorf("digest %s, want %s", got, want)
			}
			if diff := cmp.Diff([]time.Duration{2 * time.Second, 2 * time.Second}, clock.Waits()); diff != "" {
				t.Errorf("waits (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(repeat("HEAD", 3), manifestRequests(p)); diff != "" {
				t.Errorf("manifest requests (-want +got):\n%s", diff)
			}
		})
	}
}

func TestR02_RegistryUnavailable(t *testing.T) {
	t.Parallel()
	forever := func(f faultproxy.Fault) []faultproxy.Fault { return faultproxy.Forever(f, 100) }
	tests := []struct {
		name    string
		faults  []faultproxy.Fault
		opts    []registry.Option
		heads   int
		waits   int    // how many waits
		message string // in the error
		// moreWaits allows extra waits: under load the racing HTTPS ping
		// of a plain-HTTP test registry may time out (and be retried) too.
		moreWaits bool
	}{
		{name: "503 forever", faults: forever(faultproxy.Fault{Status: http.StatusServiceUnavailable}),
			heads: registry.DefaultRetryAttempts, waits: registry.DefaultRetryAttempts - 1, message: "503 Service Unavailable (HEAD responses have no body, use GET for details) (giving up after 5 attempts)"},
		{name: "429 forever", faults: forever(faultproxy.Fault{Status: http.StatusTooManyRequests}),
			heads: registry.DefaultRetryAttempts, waits: registry.DefaultRetryAttempts - 1, message: "429 Too Many Requests (HEAD responses have no body, use GET for details) (giving up after 5 attempts)"},
		{name: "429 asking for more than the budget", faults: forever(faultproxy.Fault{Status: http.StatusTooManyRequests,
			Headers: map[string]string{"Retry-After": "3600"}}), heads: 1, waits: 0, message: "the server asked to wait 1h0m0s, more than the 30s left of the retry budget"},
		{name: "502 forever", faults: forever(faultproxy.Fault{Status: http.StatusBadGateway}),
			heads: registry.DefaultRetryAttempts, waits: registry.DefaultRetryAttempts - 1, message: "502 Bad Gateway (HEAD responses have no body, use GET for details) (giving up after 5 attempts)"},
		{name: "connection reset forever", faults: forever(faultproxy.Fault{Reset: true}),
			heads: registry.DefaultRetryAttempts, waits: registry.DefaultRetryAttempts - 1, message: "giving up after 5 attempts"},
		{name: "answers after the client gave up", faults: forever(faultproxy.Fault{AfterTimeout: true, Status: http.StatusOK}),
			opts:  []registry.Option{registry.WithAttemptTimeout(100 * time.Millisecond)},
			heads: registry.DefaultRetryAttempts, waits: registry.DefaultRetryAttempts - 1, message: "no answer from", moreWaits: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, _ := behindProxy(t)
			p.Script("HEAD", "/v2/**/manifests/*", tt.faults...)
			clock := retry.NewFakeClock(epoch)
			cl := proxyClient(t, retry.Policy{Clock: clock}, tt.opts...) // random jitter
			ref := p.Host() + "/acme/app:latest"

			_, err := cl.Digest(context.Background(), mustParse(t, ref))
			if err == nil {
				t.Fatal("Digest succeeded, want an error")
			}
			if got := exitcode.Of(err); got != exitcode.Transient {
				t.Errorf("exit code %d, want %d (error %v)", got, exitcode.Transient, err)
			}
			if msg := err.Error(); !strings.Contains(msg, ref) || !strings.Contains(msg, tt.message) {
				t.Errorf("error %q should name %q and say %q", msg, ref, tt.message)
			}
			if diff := cmp.Diff(repeat("HEAD", tt.heads), manifestRequests(p)); diff != "" {
				t.Errorf("manifest requests (-want +got):\n%s", diff)
			}
			waits := clock.Waits()
			if len(waits) != tt.waits && !(tt.moreWaits && len(waits) > tt.waits) {
				t.Fatalf("waits %v, want %d of them", waits, tt.waits)
			}
			var total time.Duration
			for n, w := range waits[:tt.waits] {
				ceiling := min(registry.DefaultRetryMax, registry.DefaultRetryBase<<n)
				if w < 0 || w > ceiling {
					t.Errorf("wait %d is %v, want within [0, %v]", n, w, ceiling)
				}
				total += w
			}
			if total > registry.DefaultRetryBudget {
				t.Errorf("waited %v in all, over the %v budget", total, registry.DefaultRetryBudget)
			}
		})
	}
}

// TestR02_RetriesAreJittered: two clients failing the same way do not wait
// the same times (full jitter), which is what keeps many cascades from
// hammering a recovering registry in step.
func TestR02_RetriesAreJittered(t *testing.T) {
	t.Parallel()
	var runs [][]time.Duration
	for range 3 {
		p, _ := behindProxy(t)
		p.Script("HEAD", "/v2/**/manifests/*", faultproxy.Forever(faultproxy.Fault{Status: http.StatusServiceUnavailable}, 100)...)
		clock := retry.NewFakeClock(epoch)
		cl := proxyClient(t, retry.Policy{Clock: clock})
		if _, err := cl.Digest(context.Background(), mustParse(t, p.Host()+"/acme/app:latest")); err == nil {
			t.Fatal("Digest succeeded, want an error")
		}
		runs = append(runs, clock.Waits())
	}
	if cmp.Equal(runs[0], runs[1]) && cmp.Equal(runs[1], runs[2]) {
		t.Errorf("three runs waited exactly alike: %v", runs[0])
	}
}

// A Docker config with a password, as `docker login` writes it.
const (
	dockerUser     = "robot"
	dockerPassword = "pa55/w0rd+s3cret=?&"
)

// writeDockerConfig writes a Docker config in a temporary folder holding
// credentials for host, and points DOCKER_CONFIG at it.
func writeDockerConfig(t *testing.T, host string) {
	t.Helper()
	dir := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte(dockerUser + ":" + dockerPassword))
	cfg := fmt.Sprintf(`{"auths": {%q: {"auth": %q}}}`, host, auth)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", dir)
}

// secretForms are the ways a secret may show up: raw, base64 (alone and as
// user:secret, standard and URL alphabets, padded or not) and URL-encoded.
func secretForms(user, secret string) []string {
	forms := []string{secret, url.QueryEscape(secret), url.PathEscape(secret)}
	for _, s := range []string{secret, user + ":" + secret} {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
			forms = append(forms, enc.EncodeToString([]byte(s)))
		}
	}
	return forms
}

// leaked returns the forms of secret found in s.
func leaked(s, user, secret string) []string {
	var out []string
	for _, f := range secretForms(user, secret) {
		if strings.Contains(s, f) {
			out = append(out, f)
		}
	}
	return out
}

// basicChallenge makes the registry's ping ask for Basic credentials, so
// that the client sends them with every later request.
var basicChallenge = faultproxy.Fault{Status: http.StatusUnauthorized, Headers: map[string]string{"WWW-Authenticate": `Basic realm="registry"`}}

// Not parallel: the credentials come from DOCKER_CONFIG, as in production.
func TestR03_RegistryAuthErrors(t *testing.T) {
	tests := []struct {
		name     string
		fault    *faultproxy.Fault // on the HEAD; nil: the registry's own answer
		tag      string
		sentinel error
		code     int
	}{
		{name: "401", fault: &faultproxy.Fault{Status: http.StatusUnauthorized}, tag: "latest", sentinel: registry.ErrUnauthorized, code: exitcode.Transient},
		{name: "403", fault: &faultproxy.Fault{Status: http.StatusForbidden}, tag: "latest", sentinel: registry.ErrUnauthorized, code: exitcode.Transient},
		{name: "404", tag: "missing", sentinel: registry.ErrNotFound, code: exitcode.Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := behindProxy(t)
			writeDockerConfig(t, p.Host())
			p.Script("GET", "/v2/", basicChallenge)
			if tt.fault != nil {
				p.Script("HEAD", "/v2/**/manifests/*", faultproxy.Forever(*tt.fault, 10)...)
			}
			clock := retry.NewFakeClock(epoch)
			cl, err := registry.New(registry.WithRetryPolicy(retry.Policy{Clock: clock})) // the Docker config keychain
			if err != nil {
				t.Fatal(err)
			}
			ref := p.Host() + "/acme/app:" + tt.tag

			_, err = cl.Digest(context.Background(), mustParse(t, ref))
			if !errors.Is(err, tt.sentinel) {
				t.Fatalf("error %v, want %v", err, tt.sentinel)
			}
			if got := exitcode.Of(err); got != tt.code {
				t.Errorf("exit code %d, want %d", got, tt.code)
			}
			msg := err.Error()
			if !strings.Contains(msg, ref) {
				t.Errorf("error %q does not name the image %q", msg, ref)
			}
			if got := leaked(msg, dockerUser, dockerPassword); got != nil {
				t.Errorf("error %q shows the credential as %q", msg, got)
			}
			if diff := cmp.Diff([]string{"HEAD"}, manifestRequests(p)); diff != "" {
				t.Errorf("manifest requests (-want +got):\n%s", diff)
			}
			if w := clock.Waits(); len(w) != 0 {
				t.Errorf("waited %v, want no retry", w)
			}
			// The credential was offered (to the registry itself): the
			// test proves it stays out of the message, not that it was
			// never used.
			var sent bool
			for _, r := range p.Requests() {
				if strings.HasPrefix(r.Header.Get("Authorization"), "Basic ") {
					sent = true
				}
			}
			if !sent {
				t.Error("the registry never received the credential; the test proves nothing")
			}
		})
	}
}

// secretKeychainFor hands out dockerUser/dockerPassword for every registry.
type passwordKeychain struct{}

func (passwordKeychain) Resolve(authn.Resource) (authn.Authenticator, error) {
	return authn.FromConfig(authn.AuthConfig{Username: dockerUser, Password: dockerPassword}), nil
}

func TestR24_HostNotAllowed(t *testing.T) {
	t.Parallel()
	t.Run("registry host", func(t *testing.T) {
		t.Parallel()
		p, _ := behindProxy(t)
		cl := proxyClient(t, retry.Policy{Clock: retry.NewFakeClock(epoch)},
			registry.WithAllow([]string{"registry.example.com"}), registry.WithKeychain(passwordKeychain{}))
		ref := mustParse(t, p.Host()+"/acme/app:latest")
		calls := map[string]func() error{
			"Digest":  func() error { _, err := cl.Digest(context.Background(), ref); return err },
			"Inspect": func() error { _, err := cl.Inspect(context.Background(), ref, true); return err },
			"Prepare": func() error { return cl.Prepare(context.Background(), []imageref.Ref{ref}) },
		}
		for name, call := range calls {
			err := call()
			if !errors.Is(err, registry.ErrHostNotAllowed) || exitcode.Of(err) != exitcode.Refused {
				t.Errorf("%s: error %v (exit %d), want ErrHostNotAllowed, exit 5", name, err, exitcode.Of(err))
			}
			if err != nil && !strings.Contains(err.Error(), p.Host()) {
				t.Errorf("%s: error %q does not name the host %s", name, err, p.Host())
			}
		}
		if got := p.Requests(); len(got) != 0 {
			t.Errorf("the registry was contacted %d times, want never", len(got))
		}
	})

	// other is a host that must never be contacted.
	other := func(t *testing.T) *faultproxy.Proxy {
		return faultproxy.New(t, &url.URL{Scheme: "http", Host: newRegistry(t, nil)})
	}
	// otherHost names the other proxy as localhost:PORT: go-containerregistry
	// itself refuses realms on loopback IP literals of another port, and
	// the allowlist is what is tested here.
	otherHost := func(o *faultproxy.Proxy) string { return "localhost:" + o.URL.Port() }
	tests := []struct {
		name     string
		script   func(p *faultproxy.Proxy, otherHost string)
		sentinel error
		named    func(otherHost string) string // the host the error names
	}{
		{name: "token realm on another host", sentinel: registry.ErrHostNotAllowed, script: func(p *faultproxy.Proxy, otherHost string) {
			p.Script("GET", "/v2/", faultproxy.Fault{Status: http.StatusUnauthorized, Headers: map[string]string{
				"WWW-Authenticate": fmt.Sprintf(`Bearer realm="http://%s/token",service="registry"`, otherHost)}})
		}},
		{name: "token realm on a private address", sentinel: registry.ErrRealmRefused, script: func(p *faultproxy.Proxy, _ string) {
			p.Script("GET", "/v2/", faultproxy.Fault{Status: http.StatusUnauthorized, Headers: map[string]string{
				"WWW-Authenticate": `Bearer realm="http://10.1.2.3/token?sig=topsecret",service="registry"`}})
		}, named: func(string) string { return "10.1.2.3" }},
		{name: "redirect to another host", sentinel: registry.ErrHostNotAllowed, script: func(p *faultproxy.Proxy, otherHost string) {
			p.Script("GET", "/v2/", basicChallenge)
			p.Script("HEAD", "/v2/**/manifests/*", faultproxy.Fault{Status: http.StatusTemporaryRedirect, Headers: map[string]string{
				"Location": "http://" + otherHost + "/v2/acme/app/manifests/latest?sig=topsecret"}})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, _ := behindProxy(t)
			o := other(t)
			tt.script(p, otherHost(o))
			cl := proxyClient(t, retry.Policy{Clock: retry.NewFakeClock(epoch)},
				registry.WithAllow([]string{p.Host()}), registry.WithKeychain(passwordKeychain{}))

			_, err := cl.Digest(context.Background(), mustParse(t, p.Host()+"/acme/app:latest"))
			if !errors.Is(err, tt.sentinel) || exitcode.Of(err) != exitcode.Refused {
				t.Fatalf("error %v (exit %d), want %v, exit 5", err, exitcode.Of(err), tt.sentinel)
			}
			msg := err.Error()
			named := otherHost(o)
			if tt.named != nil {
				named = tt.named(named)
			}
			if !strings.Contains(msg, named) {
				t.Errorf("error %q does not name the refused host %s", msg, named)
			}
			if got := leaked(msg, dockerUser, dockerPassword); got != nil || strings.Contains(msg, "topsecret") {
				t.Errorf("error %q shows a secret", msg)
			}
			if got := o.Requests(); len(got) != 0 {
				t.Errorf("the other host was contacted %d times, want never", len(got))
			}
			for _, r := range p.Requests() {
				if r.Path == "/token" {
					t.Errorf("a token was requested from the registry: %s %s", r.Method, r.Path)
				}
			}
		})
	}
}

// TestR25_TokenNeverLeaks: whatever goes wrong with a registry, the error
// never holds the password or the registry token, in any encoding.
func TestR25_TokenNeverLeaks(t *testing.T) {
	t.Parallel()
	const registryToken = "registry-T0KEN/secret+x="
	bearer := func(host string) faultproxy.Fault {
		return faultproxy.Fault{Status: http.StatusUnauthorized, Headers: map[string]string{
			"WWW-Authenticate": fmt.Sprintf(`Bearer realm="http://%s/token",service="registry"`, host)}}
	}
	token := faultproxy.Fault{Status: http.StatusOK, Body: fmt.Sprintf(`{"token": %q, "expires_in": 300}`, registryToken)}
	tests := []struct {
		name    string
		inspect bool
		script  func(p *faultproxy.Proxy)
		opts    []registry.Option
		// allowSelf allows only the registry's host.
		allowSelf bool
	}{
		{name: "ping 503 forever", script: func(p *faultproxy.Proxy) {
			p.Script("GET", "/v2/", faultproxy.Forever(faultproxy.Fault{Status: 503, Body: "down"}, 100)...)
		}},
		{name: "basic: 401 on the manifest", script: func(p *faultproxy.Proxy) {
			p.Script("GET", "/v2/", basicChallenge)
			p.Script("HEAD", "/v2/**", faultproxy.Fault{Status: 401})
		}},
		{name: "basic: 403 with a body on GET", inspect: true, script: func(p *faultproxy.Proxy) {
			p.Script("GET", "/v2/", basicChallenge)
			p.Script("GET", "/v2/**/manifests/*", faultproxy.Fault{Status: 403, Body: `{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}`})
		}},
		{name: "bearer: token service rejects the password", script: func(p *faultproxy.Proxy) {
			p.Script("GET", "/v2/", bearer(p.Host()))
			p.Script("*", "/token", faultproxy.Forever(faultproxy.Fault{Status: 401, Body: `{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}`}, 5)...)
		}},
		{name: "bearer: token service down", script: func(p *faultproxy.Proxy) {
			p.Script("GET", "/v2/", bearer(p.Host()))
			p.Script("*", "/token", faultproxy.Forever(faultproxy.Fault{Status: 503}, 100)...)
		}},
		{name: "bearer: token service resets", script: func(p *faultproxy.Proxy) {
			p.Script("GET", "/v2/", bearer(p.Host()))
			p.Script("*", "/token", faultproxy.Forever(faultproxy.Fault{Reset: true}, 100)...)
		}},
		{name: "bearer: answer without a token", script: func(p *faultproxy.Proxy) {
			p.Script("GET", "/v2/", bearer(p.Host()))
			p.Script("*", "/token", faultproxy.Fault{Status: 200, Body: `{"refresh_token": "` + dockerPassword + `"}`})
		}},
		{name: "bearer: token accepted, manifest 429 forever", script: func(p *faultproxy.Proxy) {
			p.Script("GET", "/v2/", bearer(p.Host()))
			p.Script("*", "/token", token)
			p.Script("HEAD", "/v2/**", faultproxy.Forever(faultproxy.Fault{Status: 429}, 100)...)
		}},
		{name: "bearer: token accepted, manifest 401 twice", script: func(p *faultproxy.Proxy) {
			p.Script("GET", "/v2/", bearer(p.Host()))
			p.Script("*", "/token", token, token)
			p.Script("HEAD", "/v2/**", bearer(p.Host()), bearer(p.Host()))
		}},
		{name: "bearer: token accepted, inspect 500 with a body", inspect: true, script: func(p *faultproxy.Proxy) {
			p.Script("GET", "/v2/", bearer(p.Host()))
			p.Script("*", "/token", token)
			p.Script("GET", "/v2/**", faultproxy.Forever(faultproxy.Fault{Status: 500, Body: "internal error"}, 100)...)
		}},
		{name: "manifest answer never comes", opts: []registry.Option{registry.WithAttemptTimeout(20 * time.Millisecond)}, script: func(p *faultproxy.Proxy) {
			p.Script("GET", "/v2/", basicChallenge)
			p.Script("HEAD", "/v2/**", faultproxy.Forever(faultproxy.Fault{AfterTimeout: true, Status: 200}, 100)...)
		}},
		{name: "redirect with user information", script: func(p *faultproxy.Proxy) {
			p.Script("GET", "/v2/", basicChallenge)
			p.Script("HEAD", "/v2/**", faultproxy.Fault{Status: http.StatusTemporaryRedirect, Headers: map[string]string{
				"Location": "http://" + url.UserPassword(dockerUser, dockerPassword).String() + "@blocked.example/x?token=" + url.QueryEscape(registryToken)}})
		}, allowSelf: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, _ := behindProxy(t)
			tt.script(p)
			opts := append([]registry.Option{registry.WithKeychain(passwordKeychain{})}, tt.opts...)
			if tt.allowSelf {
				opts = append(opts, registry.WithAllow([]string{p.Host()}))
			}
			cl := proxyClient(t, retry.Policy{Clock: retry.NewFakeClock(epoch)}, opts...)
			ref := mustParse(t, p.Host()+"/acme/app:latest")
			var err error
			if tt.inspect {
				_, err = cl.Inspect(context.Background(), ref, true)
			} else {
				_, err = cl.Digest(context.Background(), ref)
			}
			if err == nil {
				t.Fatal("succeeded, want an error")
			}
			if c := exitcode.Of(err); c == exitcode.Internal || c == exitcode.OK {
				t.Errorf("error %v is unclassified (exit %d)", err, c)
			}
			for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
				if got := append(leaked(s, dockerUser, dockerPassword), leaked(s, "", registryToken)...); got != nil {
					t.Errorf("error %q shows a secret as %q", s, got)
				}
			}
		})
	}
}
