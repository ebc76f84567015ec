package registry_test

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/empty"

	"github.com/imagecascade/cascade/internal/redact"
	"github.com/imagecascade/cascade/internal/registry"
)

type staticKeychain struct{ user, pass string }

func (k staticKeychain) Resolve(authn.Resource) (authn.Authenticator, error) {
	return &authn.Basic{Username: k.user, Password: k.pass}, nil
}

// TestR38_RegistryBlobRedirectToStorageHasNoCredentials: a registry that
// wants basic authentication sends blob downloads to a storage host (as
// registries on S3 do). The download works, the storage host never sees
// the credentials, and the run's redactor learned the password.
func TestR38_RegistryBlobRedirectToStorageHasNoCredentials(t *testing.T) {
	const user, pass = "ci-robot", "R38-registry-Passw0rd"
	inner := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	direct := httptest.NewServer(inner)
	t.Cleanup(direct.Close)

	var mu sync.Mutex
	var storageAuth []string
	storage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		storageAuth = append(storageAuth, r.Header.Get("Authorization")+"|"+r.Header.Get("Cookie"))
		mu.Unlock()
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(storage.Close)
	// Another host name for the same loopback server.
	storageURL := strings.Replace(storage.URL, "127.0.0.1", "localhost", 1)

	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="r38"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
			http.SetCookie(w, &http.Cookie{Name: "session", Value: "registry-session"})
			http.Redirect(w, r, storageURL+r.URL.Path, http.StatusTemporaryRedirect)
			return
		}
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	host := strings.TrimPrefix(front.URL, "http://")

	img := randomImage(t, empty.Image, 1, nil, map[string]string{"org.example.r38": "yes"})
	push(t, strings.TrimPrefix(direct.URL, "http://")+"/acme/app:1", img)

	cl, err := registry.New(registry.WithKeychain(staticKeychain{user, pass}))
	if err != nil {
		t.Fatal(err)
	}
	rd := redact.New()
	ctx := redact.NewContext(context.Background(), rd)
	got, err := cl.Inspect(ctx, mustParse(t, host+"/acme/app:1"), true)
	if err != nil {
		t.Fatalf("Inspect through the storage redirect: %v", err)
	}
	if diff := cmp.Diff("yes", got.Manifest.Labels["org.example.r38"]); diff != "" {
		t.Errorf("label read from the redirected config blob (-want +got):\n%s", diff)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(storageAuth) == 0 {
		t.Fatal("the storage host got no request: the redirect was not followed")
	}
	for _, a := range storageAuth {
		if a != "|" {
			t.Errorf("the storage host got credentials %q", a)
		}
	}
	if s := rd.String("echo " + pass); strings.Contains(s, pass) {
		t.Errorf("the redactor did not learn the registry password from the request: %q", s)
	}
}
