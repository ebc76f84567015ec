package history

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcr "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imagecascade/cascade/internal/imageref"
	"github.com/imagecascade/cascade/internal/retry"
)

// testRegistry is an in-process registry on loopback that counts requests
// and can inject faults.
type testRegistry struct {
	Host string

	mu       sync.Mutex
	requests []string                          // "METHOD /path"
	fault    func(r *http.Request) (int, bool) // status to answer instead, when ok
}

// newTestRegistry starts go-containerregistry's registry. With referrers
// false it answers /v2/<name>/referrers/<digest> with 404, as
// distribution 2.8 does, so clients use the tag scheme.
func newTestRegistry(t *testing.T, referrers bool) *testRegistry {
	t.Helper()
	r := &testRegistry{}
	h := ggcr.New(ggcr.Logger(log.New(io.Discard, "", 0)), ggcr.WithReferrersSupport(referrers))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.requests = append(r.requests, req.Method+" "+req.URL.Path)
		fault := r.fault
		r.mu.Unlock()
		if fault != nil {
			if code, ok := fault(req); ok {
				w.WriteHeader(code)
				return
			}
		}
		if !referrers && strings.Contains(req.URL.Path, "/referrers/") {
			http.Error(w, `{"errors":[{"code":"NOT_FOUND","message":"not found"}]}`, http.StatusNotFound)
			return
		}
		h.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	r.Host = u.Host
	return r
}

// setFault makes the registry answer f's status where f says so.
func (r *testRegistry) setFault(f func(*http.Request) (int, bool)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fault = f
}

// count returns how many requests contained substr ("GET /v2/x/referrers").
func (r *testRegistry) count(substr string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, q := range r.requests {
		if strings.Contains(q, substr) {
			n++
		}
	}
	return n
}

// pushImage pushes a small random OCI image to host/repo:tag and returns
// its reference with the digest.
func pushImage(t *testing.T, host, repoTag string) imageref.Ref {
	t.Helper()
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	return push(t, host+"/"+repoTag, img)
}

func push(t *testing.T, refStr string, img v1.Image) imageref.Ref {
	t.Helper()
	ref, err := name.ParseReference(refStr, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithAuth(authn.Anonymous)); err != nil {
		t.Fatalf("pushing %s: %v", refStr, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(refStr, "@") {
		refStr += "@" + d.String()
	}
	r, err := imageref.Parse(refStr)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// anonymous is a keychain without credentials (the tests must not read
// the user's Docker config).
type anonymous struct{}

func (anonymous) Resolve(authn.Resource) (authn.Authenticator, error) { return authn.Anonymous, nil }

// newStore returns a Store for a loopback registry whose retries wait no
// real time.
func newStore(t *testing.T) *Store {
	t.Helper()
	return New(Options{
		Keychain: anonymous{},
		Insecure: func(string) bool { return true },
		Policy:   retry.Policy{Attempts: 3, Clock: retry.NewFakeClock(time.Unix(0, 0))},
	})
}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}
