package registry_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/imagecascade/cascade/internal/imageref"
	"github.com/imagecascade/cascade/internal/registry"
)

// A Client authenticates once per registry for every repository it is about
// to read, then resolves digests with HEAD and inspects manifests.
func Example() {
	// An in-memory registry holding one image that records its base.
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	img, _ := random.Image(64, 3)
	img = mutate.Annotations(img, map[string]string{
		registry.BaseNameKey: "registry.example.com/acme/httpd-base:latest",
	}).(v1.Image)
	tag, _ := name.ParseReference(host + "/acme/app-a:latest")
	if err := remote.Write(tag, img); err != nil {
		log.Fatal(err)
	}

	cl, err := registry.New(
		registry.WithAllow([]string{host}),
		registry.WithKeychain(authn.NewMultiKeychain()), // anonymous
	)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	ref := imageref.MustParse(host + "/acme/app-a:latest")
	if err := cl.Prepare(ctx, []imageref.Ref{ref}); err != nil {
		log.Fatal(err)
	}
	d, err := cl.Digest(ctx, ref)
	if err != nil {
		log.Fatal(err)
	}
	im, err := cl.Inspect(ctx, ref, false)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("same digest:", d == im.Digest)
	fmt.Println("index:", im.Index)
	fmt.Println("layers:", len(im.Manifest.Layers))
	fmt.Println("built on:", im.Manifest.Annotations[registry.BaseNameKey])

	// Output:
	// same digest: true
	// index: false
	// layers: 3
	// built on: registry.example.com/acme/httpd-base:latest
}
