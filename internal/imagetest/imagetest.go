// Package imagetest builds and pushes small images for tests: an in-process
// registry (go-containerregistry's pkg/registry on a loopback httptest
// server) and images made with pkg/v1/random and mutate, annotated the way
// buildah annotates its builds. Import it only from tests.
package imagetest

import (
	"io"
	"log"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcr "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Annotation keys buildah writes on OCI images.
const (
	BaseDigestKey = "org.opencontainers.image.base.digest"
	BaseNameKey   = "org.opencontainers.image.base.name"
)

// Registry is an in-process registry on loopback.
type Registry struct {
	t    testing.TB
	Host string
}

// NewRegistry starts a registry that stops when the test ends.
func NewRegistry(t testing.TB) *Registry {
	t.Helper()
	srv := httptest.NewServer(ggcr.New(ggcr.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	return &Registry{t: t, Host: u.Host}
}

// Ref is repo (with tag) in this registry: "127.0.0.1:PORT/repo".
func (r *Registry) Ref(repo string) string { return r.Host + "/" + repo }

// Push pushes img as repo (with tag) and returns its digest.
func (r *Registry) Push(repo string, img v1.Image) v1.Hash {
	r.t.Helper()
	ref, err := name.ParseReference(r.Ref(repo))
	if err != nil {
		r.t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		r.t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		r.t.Fatal(err)
	}
	return d
}

// Root is a one-layer OCI image to build on.
func Root(t testing.TB) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(OCI(empty.Image), Layer(t))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// OCI gives img OCI media types (annotations are only meaningful there).
func OCI(img v1.Image) v1.Image {
	return mutate.ConfigMediaType(mutate.MediaType(img, types.OCIManifestSchema1), types.OCIConfigJSON)
}

// Layer is a small random layer.
func Layer(t testing.TB) v1.Layer {
	t.Helper()
	l, err := random.Layer(64, types.OCILayer)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// On builds on base: one new layer, like a RUN step.
func On(t testing.TB, base v1.Image) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(base, Layer(t))
	if err != nil {
		t.Fatal(err)
	}
	return OCI(img)
}

// Annotated records baseName@digest as img's base, as buildah does.
func Annotated(img v1.Image, baseName string, digest v1.Hash) v1.Image {
	return mutate.Annotations(img, map[string]string{BaseNameKey: baseName, BaseDigestKey: digest.String()}).(v1.Image)
}
