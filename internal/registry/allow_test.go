package registry_test

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/imageref"
	"github.com/imagecascade/cascade/internal/registry"
)

// handlerTransport serves every request, whatever its host or scheme,
// from one in-memory registry: no network at all.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, req)
	resp := rec.Result()
	resp.Request = req
	return resp, nil
}

func TestAllowlistHosts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		allow []string
		ref   string
		ok    bool
	}{
		{name: "exact", allow: []string{"registry.example.com"}, ref: "registry.example.com/acme/app:1", ok: true},
		{name: "case and default port", allow: []string{"Registry.Example.com:443"}, ref: "registry.example.com/acme/app:1", ok: true},
		{name: "other port is another host", allow: []string{"registry.example.com"}, ref: "registry.example.com:5000/acme/app:1"},
		{name: "port listed", allow: []string{"registry.example.com:5000"}, ref: "registry.example.com:5000/acme/app:1", ok: true},
		{name: "subdomain not implied", allow: []string{"example.com"}, ref: "registry.example.com/acme/app:1"},
		{name: "suffix is not a subdomain", allow: []string{"*.example.com"}, ref: "registry.badexample.com/acme/app:1"},
		{name: "wildcard", allow: []string{"*.example.com"}, ref: "registry.example.com/acme/app:1", ok: true},
		{name: "docker hub by short name", allow: []string{"docker.io"}, ref: "nginx:1.27", ok: true},
		{name: "docker hub by alias", allow: []string{"index.docker.io"}, ref: "docker.io/library/nginx:1.27", ok: true},
		{name: "docker hub not listed", allow: []string{"ghcr.io"}, ref: "nginx:1.27"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newCounter()
			c.inner = handlerTransport{ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))}
			cl := newClient(t, c, registry.WithAllow(tt.allow))
			_, err := cl.Digest(context.Background(), mustParse(t, tt.ref))
			if tt.ok {
				// Allowed: the (empty) registry was asked and said 404.
				if !errors.Is(err, registry.ErrNotFound) {
					t.Errorf("error %v, want ErrNotFound from the registry", err)
				}
				return
			}
			if !errors.Is(err, registry.ErrHostNotAllowed) || exitcode.Of(err) != exitcode.Refused {
				t.Errorf("error %v (exit %d), want ErrHostNotAllowed, exit 5", err, exitcode.Of(err))
			}
			if got := c.attemptList(); len(got) != 0 {
				t.Errorf("requests made: %q, want none", got)
			}
		})
	}
}

func TestInspectAllRefusesOnlyHostsNotAllowed(t *testing.T) {
	t.Parallel()
	host := newRegistry(t, nil)
	want := push(t, host+"/acme/app:latest", randomImage(t, nil, 1, nil, nil))
	c := newCounter()
	cl := newClient(t, c, registry.WithAllow([]string{host}))
	refs := []imageref.Ref{
		mustParse(t, "registry.example.com/acme/app:latest"),
		mustParse(t, host+"/acme/app:latest"),
		mustParse(t, "registry.example.com/acme/other:latest"),
	}
	images, errs := cl.InspectAll(context.Background(), refs, false)
	for _, i := range []int{0, 2} {
		if images[i] != nil || exitcode.Of(errs[i]) != exitcode.Refused || !strings.Contains(errs[i].Error(), refs[i].String()) {
			t.Errorf("[%d] = %v, %v; want a refusal naming %s", i, images[i], errs[i], refs[i])
		}
	}
	if errs[1] != nil || images[1] == nil || images[1].Digest != want {
		t.Errorf("[1] = %v, %v; want digest %s", images[1], errs[1], want)
	}
	for _, a := range c.attemptList() {
		if !strings.HasPrefix(a, host+" ") {
			t.Errorf("request %q left the allowed host", a)
		}
	}
}

func TestInsecureHostsUsePlainHTTP(t *testing.T) {
	t.Parallel()
	addr := newRegistry(t, nil)
	want := push(t, addr+"/acme/app:latest", randomImage(t, nil, 1, nil, nil))
	// Every connection goes to the test registry, whatever the name.
	dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	const host = "registry.internal.test:5000"
	ref := mustParse(t, host+"/acme/app:latest")

	t.Run("listed", func(t *testing.T) {
		t.Parallel()
		c := newCounter()
		c.inner = &http.Transport{DialContext: dial}
		cl := newClient(t, c, registry.WithInsecure([]string{host}))
		got, err := cl.Digest(context.Background(), ref)
		if err != nil || got != want {
			t.Fatalf("Digest = %s, %v; want %s", got, err, want)
		}
		if diff := cmp.Diff(map[string]int{"GET ping": 1, "HEAD manifest": 1}, c.counts()); diff != "" {
			t.Errorf("requests (-want +got):\n%s", diff)
		}
	})
	t.Run("not listed: HTTPS only", func(t *testing.T) {
		t.Parallel()
		c := newCounter()
		c.inner = &http.Transport{DialContext: dial}
		cl := newClient(t, c)
		if _, err := cl.Digest(context.Background(), ref); exitcode.Of(err) != exitcode.Transient {
			t.Fatalf("error %v (exit %d), want a transient connection error", err, exitcode.Of(err))
		}
		if got := c.counts(); len(got) != 0 {
			t.Errorf("answered requests %v, want none (plain HTTP never tried)", got)
		}
	})
}

func TestPrepareReportsEveryRefusedHost(t *testing.T) {
	t.Parallel()
	host := newRegistry(t, nil)
	c := newCounter()
	cl := newClient(t, c, registry.WithAllow([]string{host}))
	err := cl.Prepare(context.Background(), []imageref.Ref{
		mustParse(t, "zz.example.com/acme/app:1"),
		mustParse(t, host+"/acme/app:1"),
		mustParse(t, "aa.example.com/acme/app:1"),
		mustParse(t, "aa.example.com/acme/other:1"),
	})
	if exitcode.Of(err) != exitcode.Refused {
		t.Fatalf("error %v (exit %d), want exit 5", err, exitcode.Of(err))
	}
	var got []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		got = append(got, e.Error())
	}
	want := []string{
		`authenticating to registry "aa.example.com": host "aa.example.com" is not on the registry allowlist`,
		`authenticating to registry "zz.example.com": host "zz.example.com" is not on the registry allowlist`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int{"GET ping": 1}, c.counts()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}
