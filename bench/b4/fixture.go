package b4

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	ggcr "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"
)

// Annotation keys buildah writes on the OCI images it builds: the
// evidence cascade reads first to decide that a dependent is stale.
const (
	baseDigestKey = "org.opencontainers.image.base.digest"
	baseNameKey   = "org.opencontainers.image.base.name"
)

// Fixture is what one timed `cascade run` starts from: an in-process
// registry (go-containerregistry's pkg/registry on loopback) holding the
// base image at its new digest and n dependents built on its previous
// digest (annotated as buildah does, so each is stale), and a workspace
// whose cascade.yaml lists them. B3 builds its Tekton workload with it too.
type Fixture struct {
	// Registry is the registry's host:port.
	Registry string
	// Base is the updated image, "HOST/acme/base:latest".
	Base string
	// Workspace holds cascade.yaml (and nothing else to update).
	Workspace string
	// Names are the dependents' names, "app-000", … in config order.
	Names []string

	srv *httptest.Server
}

// Rebuild returns the YAML flow mapping of dependent i's rebuild, e.g.
// `{github: {repository: acme/app-000}}`.
type Rebuild func(i int, name string) string

// DependentName is the name of dependent i.
func DependentName(i int) string { return fmt.Sprintf("app-%03d", i) }

// NewFixture starts the registry, pushes the images (8 at a time) and writes
// the workspace into dir. The base is rebuilt by baseRebuild (it is the
// updated image, never dispatched, but the config needs a kind). Close stops
// the registry.
func NewFixture(ctx context.Context, dir string, n int, baseRebuild string, rebuild Rebuild) (*Fixture, error) {
	srv := httptest.NewServer(ggcr.New(ggcr.Logger(log.New(io.Discard, "", 0))))
	u, err := url.Parse(srv.URL)
	if err != nil {
		srv.Close()
		return nil, fmt.Errorf("starting the registry: %w", err)
	}
	f := &Fixture{Registry: u.Host, srv: srv, Workspace: filepath.Join(dir, "workspace")}
	f.Base = f.Registry + "/acme/base:latest"
	if err := f.push(ctx, n); err != nil {
		f.Close()
		return nil, err
	}
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "version: 1\nimages:\n  - {name: base, image: %s, rebuild: %s}\n", f.Base, baseRebuild)
	for i := range n {
		nm := DependentName(i)
		f.Names = append(f.Names, nm)
		fmt.Fprintf(&cfg, "  - name: %s\n    image: %s/acme/%s:latest\n    from: [%s/acme/base]\n    rebuild: %s\n", nm, f.Registry, nm, f.Registry, rebuild(i, nm))
	}
	// Nothing in the workspace names the base but the config, which
	// cascade never rewrites: the run's time is the plan and the dispatches.
	fmt.Fprintf(&cfg, "manifests:\n  - paths: [\"deploy/**/*.yaml\"]\nlimits:\n  maxDispatches: %d\n", max(n, 1))
	if err := os.MkdirAll(f.Workspace, 0o755); err != nil {
		f.Close()
		return nil, fmt.Errorf("writing the workspace: %w", err)
	}
	if err := os.WriteFile(filepath.Join(f.Workspace, "cascade.yaml"), []byte(cfg.String()), 0o644); err != nil {
		f.Close()
		return nil, fmt.Errorf("writing the workspace: %w", err)
	}
	return f, nil
}

// Close stops the registry.
func (f *Fixture) Close() { f.srv.Close() }

// push writes base v1, the n dependents on it, then base v2 (the update).
func (f *Fixture) push(ctx context.Context, n int) error {
	root, err := appendLayer(empty.Image)
	if err != nil {
		return err
	}
	v1img, err := appendLayer(root)
	if err != nil {
		return err
	}
	baseName := f.Registry + "/acme/base"
	if err := f.write(ctx, "acme/base:latest", v1img); err != nil {
		return err
	}
	v1d, err := v1img.Digest()
	if err != nil {
		return fmt.Errorf("hashing the base: %w", err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i := range n {
		g.Go(func() error {
			img, err := appendLayer(v1img)
			if err != nil {
				return err
			}
			img = mutate.Annotations(img, map[string]string{baseNameKey: baseName + ":latest", baseDigestKey: v1d.String()}).(v1.Image)
			return f.write(gctx, "acme/"+DependentName(i)+":latest", img)
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	v2img, err := appendLayer(root)
	if err != nil {
		return err
	}
	return f.write(ctx, "acme/base:latest", v2img)
}

func (f *Fixture) write(ctx context.Context, repo string, img v1.Image) error {
	ref, err := name.ParseReference(f.Registry + "/" + repo)
	if err != nil {
		return fmt.Errorf("pushing %s: %w", repo, err)
	}
	if err := remote.Write(ref, img, remote.WithContext(ctx)); err != nil {
		return fmt.Errorf("pushing %s: %w", repo, err)
	}
	return nil
}

// appendLayer builds on base with one small random layer, OCI media types.
func appendLayer(base v1.Image) (v1.Image, error) {
	l, err := random.Layer(64, types.OCILayer)
	if err != nil {
		return nil, fmt.Errorf("making a layer: %w", err)
	}
	img, err := mutate.AppendLayers(base, l)
	if err != nil {
		return nil, fmt.Errorf("making an image: %w", err)
	}
	return mutate.ConfigMediaType(mutate.MediaType(img, types.OCIManifestSchema1), types.OCIConfigJSON), nil
}
