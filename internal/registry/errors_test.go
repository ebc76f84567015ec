package registry_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/imageref"
	"github.com/imagecascade/cascade/internal/registry"
)

// stripHeadDigest makes HEAD answers lack Docker-Content-Digest, as some
// registries do.
func stripHeadDigest(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			w = &dropHeader{ResponseWriter: w, name: "Docker-Content-Digest"}
		}
		next.ServeHTTP(w, r)
	})
}

type dropHeader struct {
	http.ResponseWriter
	name string
}

func (d *dropHeader) WriteHeader(code int) {
	d.Header().Del(d.name)
	d.ResponseWriter.WriteHeader(code)
}

// failManifests answers every manifest request with status, after a ping
// that challenges for Basic credentials.
func failManifests(status int) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/v2/" && r.Header.Get("Authorization") == "" {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			if strings.Contains(r.URL.Path, "/manifests/") {
				w.WriteHeader(status)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// secretKeychain hands out Basic credentials with a recognisable password.
type secretKeychain struct{}

const secret = "s3cret-Pa55word"

func (secretKeychain) Resolve(authn.Resource) (authn.Authenticator, error) {
	return authn.FromConfig(authn.AuthConfig{Username: "robot", Password: secret}), nil
}

func TestErrorsAreClassifiedAndNotRetried(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		status   int
		sentinel error
		code     int
		heads    int // HEAD requests answered: 1 unless retried
	}{
		{name: "404", status: http.StatusNotFound, sentinel: registry.ErrNotFound, code: exitcode.Invalid, heads: 1},
		{name: "401", status: http.StatusUnauthorized, sentinel: registry.ErrUnauthorized, code: exitcode.Transient, heads: 1},
		{name: "403", status: http.StatusForbidden, sentinel: registry.ErrUnauthorized, code: exitcode.Transient, heads: 1},
		{name: "503 retried to the budget", status: http.StatusServiceUnavailable, code: exitcode.Transient, heads: 3},
		{name: "429 retried to the budget", status: http.StatusTooManyRequests, code: exitcode.Transient, heads: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			host := newRegistry(t, failManifests(tt.status))
			c := newCounter()
			cl := newClient(t, c, registry.WithKeychain(secretKeychain{}))
			ref := host + "/acme/app:latest"
			_, err := cl.Digest(context.Background(), mustParse(t, ref))
			if err == nil {
				t.Fatal("Digest succeeded, want an error")
			}
			if tt.sentinel != nil && !errors.Is(err, tt.sentinel) {
				t.Errorf("error %v does not wrap %v", err, tt.sentinel)
			}
			if got := exitcode.Of(err); got != tt.code {
				t.Errorf("exit code %d, want %d (error %v)", got, tt.code, err)
			}
			msg := err.Error()
			if !strings.Contains(msg, ref) {
				t.Errorf("error %q does not name the image %q", msg, ref)
			}
			if strings.Contains(msg, secret) || strings.Contains(msg, "robot:") {
				t.Errorf("error %q shows the credential", msg)
			}
			if diff := cmp.Diff(map[string]int{"GET ping": 1, "HEAD manifest": tt.heads}, c.counts()); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	host := newRegistry(t, nil)
	push(t, host+"/acme/app:latest", randomImage(t, nil, 1, nil, nil))
	tests := []struct {
		name, ref string
		inspect   bool
		reqs      map[string]int
	}{
		{name: "digest: unknown tag", ref: host + "/acme/app:nope", reqs: map[string]int{"GET ping": 1, "HEAD manifest": 1}},
		{name: "digest: unknown repository", ref: host + "/acme/nope:latest", reqs: map[string]int{"GET ping": 1, "HEAD manifest": 1}},
		{name: "digest: unknown digest", ref: host + "/acme/app@sha256:" + strings.Repeat("0", 64), reqs: map[string]int{"GET ping": 1, "HEAD manifest": 1}},
		{name: "inspect: unknown tag", ref: host + "/acme/app:nope", inspect: true, reqs: map[string]int{"GET ping": 1, "GET manifest": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newCounter()
			cl := newClient(t, c)
			var err error
			if tt.inspect {
				_, err = cl.Inspect(context.Background(), mustParse(t, tt.ref), false)
			} else {
				_, err = cl.Digest(context.Background(), mustParse(t, tt.ref))
			}
			if !errors.Is(err, registry.ErrNotFound) {
				t.Fatalf("error %v, want ErrNotFound", err)
			}
			if got := exitcode.Of(err); got != exitcode.Invalid {
				t.Errorf("exit code %d, want %d", got, exitcode.Invalid)
			}
			if !strings.Contains(err.Error(), tt.ref) {
				t.Errorf("error %q does not name %q", err, tt.ref)
			}
			if diff := cmp.Diff(tt.reqs, c.counts()); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAllowlistRefusesBeforeAnyRequest(t *testing.T) {
	t.Parallel()
	host := newRegistry(t, nil)
	push(t, host+"/acme/app:latest", randomImage(t, nil, 1, nil, nil))
	ref := mustParse(t, host+"/acme/app:latest")
	calls := map[string]func(*registry.Client) error{
		"Digest": func(cl *registry.Client) error {
			_, err := cl.Digest(context.Background(), ref)
			return err
		},
		"Inspect": func(cl *registry.Client) error {
			_, err := cl.Inspect(context.Background(), ref, true)
			return err
		},
		"Prepare": func(cl *registry.Client) error {
			return cl.Prepare(context.Background(), []imageref.Ref{ref})
		},
		"InspectAll": func(cl *registry.Client) error {
			_, errs := cl.InspectAll(context.Background(), []imageref.Ref{ref}, false)
			return errs[0]
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := newCounter()
			cl := newClient(t, c, registry.WithAllow([]string{"registry.example.com"}))
			err := call(cl)
			if !errors.Is(err, registry.ErrHostNotAllowed) {
				t.Fatalf("error %v, want ErrHostNotAllowed", err)
			}
			if got := exitcode.Of(err); got != exitcode.Refused {
				t.Errorf("exit code %d, want %d", got, exitcode.Refused)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("%q", host)) {
				t.Errorf("error %q does not name the host %q", err, host)
			}
			if got := c.attemptList(); len(got) != 0 {
				t.Errorf("requests made: %q, want none", got)
			}
		})
	}
}

// bearerRegistry fronts next with a token service at /token on realmHost
// (the registry's own host when empty): the ping challenges for a bearer
// token, and other requests need "Bearer tok".
func bearerRegistry(realmHost *string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/token" {
				json.NewEncoder(w).Encode(map[string]any{"token": "tok", "expires_in": 300})
				return
			}
			if r.Header.Get("Authorization") != "Bearer tok" {
				h := *realmHost
				if h == "" {
					h = r.Host
				}
				w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="http://%s/token",service="test"`, h))
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

func TestTokenRealmOnAnotherHostIsRefused(t *testing.T) {
	t.Parallel()
	realm := "auth.attacker.example"
	host := newRegistry(t, bearerRegistry(&realm))
	c := newCounter()
	cl := newClient(t, c, registry.WithAllow([]string{host}), registry.WithKeychain(secretKeychain{}))

	_, err := cl.Digest(context.Background(), mustParse(t, host+"/acme/app:latest"))
	if !errors.Is(err, registry.ErrHostNotAllowed) {
		t.Fatalf("error %v, want ErrHostNotAllowed", err)
	}
	if got := exitcode.Of(err); got != exitcode.Refused {
		t.Errorf("exit code %d, want %d", got, exitcode.Refused)
	}
	if !strings.Contains(err.Error(), realm) || strings.Contains(err.Error(), secret) {
		t.Errorf("error %q should name %q and not the credential", err, realm)
	}
	for _, a := range c.attemptList() {
		if !strings.HasPrefix(a, host+" GET ping") {
			t.Errorf("request %q, want only pings of %s", a, host)
		}
	}
	if diff := cmp.Diff(map[string]int{"GET ping": 1}, c.counts()); diff != "" {
		t.Errorf("answered requests (-want +got):\n%s", diff)
	}
}

// redirectBlobs sends blob GETs to another host, as registries do to a CDN.
func redirectBlobs(to string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
				http.Redirect(w, r, "http://"+to+r.URL.Path+"?X-Amz-Signature=topsecret", http.StatusTemporaryRedirect)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

func TestRedirectToAnotherHostIsRefused(t *testing.T) {
	t.Parallel()
	cdn := "cdn.attacker.example"
	host := newRegistry(t, redirectBlobs(cdn))
	push(t, host+"/acme/app:latest", randomImage(t, nil, 1, nil, map[string]string{"a": "b"}))
	c := newCounter()
	cl := newClient(t, c, registry.WithAllow([]string{host}))

	_, err := cl.Inspect(context.Background(), mustParse(t, host+"/acme/app:latest"), true)
	if !errors.Is(err, registry.ErrHostNotAllowed) || exitcode.Of(err) != exitcode.Refused {
		t.Fatalf("error %v (exit %d), want ErrHostNotAllowed, exit 5", err, exitcode.Of(err))
	}
	if !strings.Contains(err.Error(), cdn) || strings.Contains(err.Error(), "topsecret") {
		t.Errorf("error %q should name %q and not the signed URL", err, cdn)
	}
	for _, a := range c.attemptList() {
		if strings.HasPrefix(a, cdn) {
			t.Errorf("request %q reached the refused host", a)
		}
	}
}

func TestBearerOneTokenForPreparedRepositories(t *testing.T) {
	t.Parallel()
	realm := "" // the registry's own host
	host := newRegistry(t, bearerRegistry(&realm))
	const n = 5
	var refs []imageref.Ref
	for i := range n {
		refs = append(refs, mustParse(t, fmt.Sprintf("%s/acme/app-%d:latest", host, i)))
	}
	c := newCounter()
	cl := newClient(t, c)
	ctx := context.Background()
	if err := cl.Prepare(ctx, refs); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	for _, r := range refs {
		// Nothing was pushed: the registry answers 404 once authenticated.
		if _, err := cl.Digest(ctx, r); !errors.Is(err, registry.ErrNotFound) {
			t.Errorf("Digest(%s): %v, want ErrNotFound", r, err)
		}
	}
	if diff := cmp.Diff(map[string]int{"GET ping": 1, "GET token": 1, "HEAD manifest": n}, c.counts()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	var want []string
	for i := range n {
		want = append(want, fmt.Sprintf("repository:acme/app-%d:pull", i))
	}
	if diff := cmp.Diff([][]string{want}, c.scopes); diff != "" {
		t.Errorf("token scopes (-want +got):\n%s", diff)
	}
}

func TestPrepareBatchesScopes(t *testing.T) {
	t.Parallel()
	realm := ""
	host := newRegistry(t, bearerRegistry(&realm))
	var refs []imageref.Ref
	for i := range 250 {
		refs = append(refs, mustParse(t, fmt.Sprintf("%s/acme/app-%03d:latest", host, i)))
	}
	c := newCounter()
	cl := newClient(t, c)
	if err := cl.Prepare(context.Background(), append(refs, refs...)); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	// One ping for the host; one token per batch (the later batches in
	// parallel, so in no fixed order).
	if diff := cmp.Diff(map[string]int{"GET ping": 1, "GET token": 3}, c.counts()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	var sizes []int
	for _, s := range c.scopes {
		sizes = append(sizes, len(s))
	}
	slices.Sort(sizes)
	if diff := cmp.Diff([]int{50, 100, 100}, sizes); diff != "" {
		t.Errorf("scopes per token (-want +got):\n%s", diff)
	}
	// Prepared again: nothing to do.
	if err := cl.Prepare(context.Background(), refs); err != nil {
		t.Fatalf("Prepare again: %v", err)
	}
	if got := c.counts(); len(got) != 0 {
		t.Errorf("second Prepare made requests: %v", got)
	}
}

// tokenService fronts next with a bearer challenge whose token service
// answers status and body.
func tokenService(status int, body string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/token" {
				w.WriteHeader(status)
				io.WriteString(w, body)
				return
			}
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="http://%s/token",service="test"`, r.Host))
			w.WriteHeader(http.StatusUnauthorized)
		})
	}
}

func TestTokenFailuresNameNoSecret(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		body   string
	}{
		{name: "credentials rejected", status: http.StatusUnauthorized,
			body: `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`},
		{name: "no token in the answer", status: http.StatusOK, body: `{"refresh_token":"` + secret + `"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			host := newRegistry(t, tokenService(tt.status, tt.body))
			c := newCounter()
			cl := newClient(t, c, registry.WithKeychain(secretKeychain{}))
			ref := host + "/acme/app:latest"
			_, err := cl.Inspect(context.Background(), mustParse(t, ref), false)
			if !errors.Is(err, registry.ErrUnauthorized) || exitcode.Of(err) != exitcode.Transient {
				t.Fatalf("error %v (exit %d), want ErrUnauthorized, exit 4", err, exitcode.Of(err))
			}
			if msg := err.Error(); strings.Contains(msg, secret) || !strings.Contains(msg, ref) {
				t.Errorf("error %q should name %q and not the credential", msg, ref)
			}
			if diff := cmp.Diff(map[string]int{"GET ping": 1, "GET token": 1}, c.counts()); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
		})
	}
}
