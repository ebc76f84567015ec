package testenv_test

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imagecascade/cascade/internal/testenv"
)

const (
	baseDigestKey = "org.opencontainers.image.base.digest"
	baseNameKey   = "org.opencontainers.image.base.name"
)

// TestBuildahRecordsBaseDigest builds the chain the product works on with
// the real tools: centos:7 (stand-in) → httpd-base → two dependents, one in
// OCI format and one in Docker format, and checks what the registry then
// holds: buildah records the base's pushed manifest digest as an OCI
// annotation, and the Docker-format image records nothing.
func TestBuildahRecordsBaseDigest(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	reg := timed(t, "start registry", func() (*testenv.Registry, error) { return testenv.StartRegistry(t), nil })
	b := timed(t, "set up buildah", func() (*testenv.Buildah, error) { return testenv.NewBuildah(t), nil })

	centos := reg.Ref("centos:7")
	timed(t, "build stand-in base", func() (any, error) { return nil, b.BuildBase(ctx, "localhost/stand-in:1") })
	centosDigest := timed(t, "push "+centos, func() (string, error) { return b.Push(ctx, "localhost/stand-in:1", centos) })

	httpd := reg.Ref("httpd-base:1")
	httpdDir := writeContext(t, "Dockerfile", "FROM "+centos+"\nARG VERSION\nRUN echo ${VERSION} > /v\n")
	timed(t, "build httpd-base (oci)", func() (any, error) {
		return nil, b.Build(ctx, httpdDir, httpd, testenv.BuildOptions{BuildArgs: map[string]string{"VERSION": "v1"}})
	})
	httpdDigest := timed(t, "push httpd-base", func() (string, error) { return b.Push(ctx, httpd, "") })

	appDir := writeContext(t, "app.Dockerfile", "FROM "+httpd+"\nRUN echo app > /app\n")
	appOCI, appDocker := reg.Ref("app-oci:1"), reg.Ref("app-docker:1")
	timed(t, "build app-oci", func() (any, error) {
		return nil, b.Build(ctx, appDir, appOCI, testenv.BuildOptions{Dockerfile: "app.Dockerfile"})
	})
	appOCIDigest := timed(t, "push app-oci", func() (string, error) { return b.Push(ctx, appOCI, "") })
	timed(t, "build app-docker", func() (any, error) {
		return nil, b.Build(ctx, appDir, appDocker, testenv.BuildOptions{Dockerfile: "app.Dockerfile", Format: "docker"})
	})
	appDockerDigest := timed(t, "push app-docker", func() (string, error) { return b.Push(ctx, appDocker, "") })

	// What --digestfile reported is the manifest digest the registry serves.
	for ref, pushed := range map[string]string{
		centos: centosDigest, httpd: httpdDigest, appOCI: appOCIDigest, appDocker: appDockerDigest,
	} {
		if got := fetch(ctx, t, ref).digest; got != pushed {
			t.Errorf("registry digest of %s = %s, --digestfile reported %s", ref, got, pushed)
		}
	}

	httpdImg, ociImg, dockerImg := fetch(ctx, t, httpd), fetch(ctx, t, appOCI), fetch(ctx, t, appDocker)

	wantAnnotations := map[string]map[string]string{
		httpd:     {baseDigestKey: centosDigest, baseNameKey: centos},
		appOCI:    {baseDigestKey: httpdDigest, baseNameKey: httpd},
		appDocker: nil,
	}
	for ref, img := range map[string]image{httpd: httpdImg, appOCI: ociImg, appDocker: dockerImg} {
		if diff := cmp.Diff(wantAnnotations[ref], img.manifest.Annotations); diff != "" {
			t.Errorf("manifest annotations of %s (-want +got):\n%s", ref, diff)
		}
		// buildah records the base only in the manifest, never as labels.
		for _, k := range []string{baseDigestKey, baseNameKey} {
			if v, ok := img.config.Config.Labels[k]; ok {
				t.Errorf("config of %s has label %s=%q, want none", ref, k, v)
			}
		}
	}
	if got, want := dockerImg.manifest.MediaType, types.DockerManifestSchema2; got != want {
		t.Errorf("app-docker media type = %s, want %s", got, want)
	}
	if got, want := ociImg.manifest.MediaType, types.OCIManifestSchema1; got != want {
		t.Errorf("app-oci media type = %s, want %s", got, want)
	}

	// A dependent starts with its base's layers, by digest, in both formats.
	for ref, img := range map[string]image{appOCI: ociImg, appDocker: dockerImg} {
		if len(img.layers) != len(httpdImg.layers)+1 {
			t.Fatalf("%s has %d layers, want httpd-base's %d plus 1", ref, len(img.layers), len(httpdImg.layers))
		}
		if diff := cmp.Diff(httpdImg.layers, img.layers[:len(httpdImg.layers)]); diff != "" {
			t.Errorf("first layers of %s vs httpd-base's (-want +got):\n%s", ref, diff)
		}
	}

	// The RUN step ran in the stand-in base, with the build argument.
	if got, want := fileInLayer(t, httpdImg.image, "v"), "v1\n"; got != want {
		t.Errorf("/v in httpd-base's last layer = %q, want %q", got, want)
	}
}

// image is what the registry holds for one reference.
type image struct {
	digest   string
	manifest *v1.Manifest
	config   *v1.ConfigFile
	layers   []v1.Hash
	image    v1.Image
}

func fetch(ctx context.Context, t *testing.T, ref string) image {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatalf("parsing %s: %v", ref, err)
	}
	desc, err := remote.Get(r, remote.WithContext(ctx))
	if err != nil {
		t.Fatalf("fetching %s: %v", ref, err)
	}
	img, err := desc.Image()
	if err != nil {
		t.Fatalf("reading %s as an image: %v", ref, err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatalf("reading manifest of %s: %v", ref, err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatalf("reading config of %s: %v", ref, err)
	}
	layers := make([]v1.Hash, 0, len(m.Layers))
	for _, l := range m.Layers {
		layers = append(layers, l.Digest)
	}
	return image{digest: desc.Digest.String(), manifest: m, config: cfg, layers: layers, image: img}
}

// fileInLayer returns the content of the file at path (no leading slash) in
// the image's last layer.
func fileInLayer(t *testing.T, img v1.Image, path string) string {
	t.Helper()
	layers, err := img.Layers()
	if err != nil || len(layers) == 0 {
		t.Fatalf("listing layers: %v (%d layers)", err, len(layers))
	}
	rc, err := layers[len(layers)-1].Uncompressed()
	if err != nil {
		t.Fatalf("opening last layer: %v", err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			t.Fatalf("%s not in the last layer", path)
		}
		if err != nil {
			t.Fatalf("reading last layer: %v", err)
		}
		if filepath.Clean(h.Name) == path {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatalf("reading %s: %v", path, err)
			}
			return string(b)
		}
	}
}

func writeContext(t *testing.T, dockerfile, content string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, dockerfile), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// timed runs one step, fails the test on its error and logs how long it
// took.
func timed[T any](t *testing.T, step string, f func() (T, error)) T {
	t.Helper()
	start := time.Now()
	v, err := f()
	if err != nil {
		t.Fatalf("%s: %v", step, err)
	}
	t.Logf("%-28s %v", step, time.Since(start).Round(time.Millisecond))
	return v
}
