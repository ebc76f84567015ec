package registry_test

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imagecascade/cascade/internal/imageref"
	"github.com/imagecascade/cascade/internal/registry"
	"github.com/imagecascade/cascade/internal/retry"
)

// counter is a base transport that counts requests by method and path
// kind ("GET ping", "HEAD manifest", "GET blob", "GET token"). attempts
// counts every request that reached it, answered only those that got an
// HTTP response (go-containerregistry tries HTTPS first on loopback
// registries; that attempt fails against a plain HTTP test server).
type counter struct {
	inner http.RoundTripper

	mu       sync.Mutex
	attempts []string // "host METHOD kind"
	answered map[string]int
	scopes   [][]string // scope parameters of each token request
}

func newCounter() *counter {
	return &counter{inner: http.DefaultTransport, answered: map[string]int{}}
}

func kind(u *url.URL) string {
	switch p := u.Path; {
	case p == "/v2/" || p == "/v2":
		return "ping"
	case strings.Contains(p, "/manifests/"):
		return "manifest"
	case strings.Contains(p, "/blobs/"):
		return "blob"
	case strings.HasSuffix(p, "/token"):
		return "token"
	}
	return "other"
}

func (c *counter) RoundTrip(req *http.Request) (*http.Response, error) {
	k := req.Method + " " + kind(req.URL)
	c.mu.Lock()
	c.attempts = append(c.attempts, req.URL.Host+" "+k)
	if kind(req.URL) == "token" {
		c.scopes = append(c.scopes, req.URL.Query()["scope"])
	}
	c.mu.Unlock()
	resp, err := c.inner.RoundTrip(req)
	if err == nil {
		c.mu.Lock()
		c.answered[k]++
		c.mu.Unlock()
	}
	return resp, err
}

// counts returns the answered requests so far and resets them.
func (c *counter) counts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	got := c.answered
	c.answered = map[string]int{}
	return got
}

func (c *counter) attemptList() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := append([]string(nil), c.attempts...)
	sort.Strings(out)
	return out
}

// anonymous is a keychain with no credentials, so tests never read the
// developer's Docker config.
var anonymous = authn.NewMultiKeychain()

// newClient returns a Client for tests: anonymous, counted, three
// attempts on a fake clock (retries wait no real time).
func newClient(t *testing.T, c *counter, opts ...registry.Option) *registry.Client {
	t.Helper()
	base := []registry.Option{
		registry.WithKeychain(anonymous),
		registry.WithTransport(c),
		registry.WithRetryPolicy(retry.Policy{Attempts: 3, Clock: retry.NewFakeClock(time.Unix(0, 0))}),
	}
	cl, err := registry.New(append(base, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return cl
}

// newRegistry starts go-containerregistry's in-memory registry, behind
// wrap if given, and returns its host ("127.0.0.1:PORT").
func newRegistry(t *testing.T, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	var h http.Handler = ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func mustParse(t *testing.T, s string) imageref.Ref {
	t.Helper()
	r, err := imageref.Parse(s)
	if err != nil {
		t.Fatalf("imageref.Parse(%q): %v", s, err)
	}
	return r
}

// randomImage is an OCI image with n random layers on top of base (nil for
// none), with the given annotations and config labels.
func randomImage(t *testing.T, base v1.Image, n int, anns, labels map[string]string) v1.Image {
	t.Helper()
	img := base
	if img == nil {
		var err error
		if img, err = random.Image(64, 0); err != nil {
			t.Fatal(err)
		}
		img = mutate.ConfigMediaType(mutate.MediaType(img, types.OCIManifestSchema1), types.OCIConfigJSON)
	}
	for range n {
		l, err := random.Layer(64, types.OCILayer)
		if err != nil {
			t.Fatal(err)
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			t.Fatal(err)
		}
	}
	if labels != nil {
		var err error
		if img, err = mutate.Config(img, v1.Config{Labels: labels}); err != nil {
			t.Fatal(err)
		}
	}
	if anns != nil {
		img = mutate.Annotations(img, anns).(v1.Image)
	}
	return img
}

func push(t *testing.T, ref string, img v1.Image) imageref.Digest {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatalf("pushing %s: %v", ref, err)
	}
	return digestOf(t, img)
}

func pushIndex(t *testing.T, ref string, idx v1.ImageIndex) imageref.Digest {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(r, idx); err != nil {
		t.Fatalf("pushing %s: %v", ref, err)
	}
	h, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return imageref.Digest(h.String())
}

type digester interface{ Digest() (v1.Hash, error) }

func digestOf(t *testing.T, x digester) imageref.Digest {
	t.Helper()
	h, err := x.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return imageref.Digest(h.String())
}

func layersOf(t *testing.T, img v1.Image) []imageref.Digest {
	t.Helper()
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var out []imageref.Digest
	for _, l := range ls {
		out = append(out, digestOf(t, l))
	}
	return out
}
