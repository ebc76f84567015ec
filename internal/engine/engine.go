// Package engine wires cascade's stages together in one direction: it reads
// the config's Dockerfiles, builds the graph, resolves what the registry says
// about the updated image and its dependents, and hands everything to the
// pure plan package. Commands (cli) and the demo drive it; it never exits and
// never prints — it returns data and classified errors.
package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/imagecascade/cascade/internal/config"
	"github.com/imagecascade/cascade/internal/dockerfile"
	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/graph"
	"github.com/imagecascade/cascade/internal/imageref"
	"github.com/imagecascade/cascade/internal/plan"
	"github.com/imagecascade/cascade/internal/registry"
)

// Resolver is what the engine needs from the registry.
type Resolver interface {
	// Head returns the digest and kind of ref's top-level manifest.
	Head(ctx context.Context, ref imageref.Ref) (registry.Descriptor, error)
	// Inspect fetches ref's manifest(s) for the staleness decision.
	Inspect(ctx context.Context, ref imageref.Ref, labels bool) (*registry.Image, error)
}

// preparer is implemented by resolvers that can authenticate once for many
// repositories up front.
type preparer interface {
	Prepare(ctx context.Context, refs []imageref.Ref) error
}

// Engine plans cascades for one config.
type Engine struct {
	Config *config.Config
	// Workspace is the folder Dockerfile paths are relative to.
	Workspace string
	Resolver  Resolver
	// Concurrency bounds registry fan-out (default 16).
	Concurrency int
	Log         *slog.Logger
}

// maxDockerfileBytes bounds a Dockerfile read; real ones are a few KB.
const maxDockerfileBytes = 1 << 20

// Graph reads every configured image's Dockerfile and builds the graph.
func (e *Engine) Graph() (*graph.Graph, error) {
	var root *os.Root
	var images []graph.Image
	var errs []error
	for i, im := range e.Config.Images {
		ref, err := imageref.Parse(im.Image)
		if err != nil {
			errs = append(errs, fmt.Errorf("images[%d].image: %w", i, err))
			continue
		}
		gi := graph.Image{Name: im.Name, Ref: ref}
		for j, f := range im.From {
			b, err := imageref.Parse(f)
			if err != nil {
				errs = append(errs, fmt.Errorf("images[%d].from[%d]: %w", i, j, err))
				continue
			}
			gi.Bases = append(gi.Bases, graph.Base{Ref: b, Source: "from"})
		}
		if im.Dockerfile != "" {
			if root == nil {
				root, err = os.OpenRoot(e.workspace())
				if err != nil {
					return nil, exitcode.AsInvalid(fmt.Errorf("opening workspace: %w", err))
				}
				defer root.Close()
			}
			bases, err := dockerfileBases(root, im.Dockerfile, e.log())
			if err != nil {
				errs = append(errs, fmt.Errorf("images[%d].dockerfile: %w", i, err))
				continue
			}
			gi.Bases = append(gi.Bases, bases...)
		}
		images = append(images, gi)
	}
	if len(errs) > 0 {
		return nil, exitcode.AsInvalid(errors.Join(errs...))
	}
	return graph.New(images)
}

func (e *Engine) workspace() string {
	if e.Workspace == "" {
		return "."
	}
	return e.Workspace
}

// dockerfileBases reads the bases of a Dockerfile. A base whose reference
// needs a build argument with no default (FROM ${BASE}, FROM x-${TARGETARCH})
// cannot be known from the file alone: it is left out with a warning — list
// it under the image's `from:` to make it part of the graph.
func dockerfileBases(root *os.Root, path string, log *slog.Logger) ([]graph.Base, error) {
	f, err := root.Open(filepath.FromSlash(path))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxDockerfileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(data) > maxDockerfileBytes {
		return nil, fmt.Errorf("reading %s: larger than %d bytes", path, maxDockerfileBytes)
	}
	df, err := dockerfile.Parse(data, dockerfile.ParseOptions{})
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", path, err)
	}
	var out []graph.Base
	for _, b := range df.Bases {
		if b.Unresolved != "" {
			log.Warn("base left out of the graph: add it to the image's from: list", "dockerfile", path, "line", b.Line, "base", b.Raw, "reason", b.Unresolved)
			continue
		}
		r, err := imageref.Parse(b.Ref)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, b.Line, err)
		}
		out = append(out, graph.Base{Ref: r, Source: fmt.Sprintf("%s:%d", path, b.Line)})
	}
	return out, nil
}

// PlanOptions tune Plan.
type PlanOptions struct {
	DispatchUnknown bool
}

// Plan resolves the updated image and its dependents and decides the plan.
// updated may carry a digest (then the registry only confirms it); without
// one the digest is resolved with a HEAD request.
func (e *Engine) Plan(ctx context.Context, updated imageref.Ref, opts PlanOptions) (*plan.Plan, error) {
	g, err := e.Graph()
	if err != nil {
		return nil, err
	}
	roots := g.Roots(updated)
	deps := g.Dependents(roots)

	// The resolver enforces registries.allow below authentication, before
	// any connection (token realms and redirects included): one place
	// decides which hosts are allowed.
	refs := []imageref.Ref{updated}
	for _, d := range deps {
		refs = append(refs, d.Node.Ref)
	}
	if p, ok := e.Resolver.(preparer); ok {
		if err := p.Prepare(ctx, refs); err != nil {
			return nil, fmt.Errorf("preparing registry sessions: %w", err)
		}
	}

	head, err := e.Resolver.Head(ctx, updated)
	if err != nil {
		return nil, fmt.Errorf("resolving %s: %w", updated.Original, err)
	}
	if updated.Digest != "" && head.Digest != updated.Digest {
		return nil, exitcode.AsInvalid(fmt.Errorf("resolving %s: registry has digest %s", updated.Original, head.Digest))
	}
	updated.Digest = head.Digest
	base := plan.Base{Ref: updated, Digest: head.Digest, Index: head.Index}

	images, err := e.inspectAll(ctx, deps)
	if err != nil {
		return nil, err
	}
	needBase := false
	for _, d := range deps {
		if d.Depth == 1 && plan.NeedsDetail(base, images[d.Node.ID]) {
			needBase = true
			break
		}
	}
	if needBase {
		pinned := updated
		detail, err := e.Resolver.Inspect(ctx, pinned, false)
		if err != nil {
			return nil, fmt.Errorf("inspecting %s: %w", updated.Original, err)
		}
		base.Detail = detail
		base.Index = detail.Index
	}
	rebuild := map[string]string{}
	for _, im := range e.Config.Images {
		rebuild[im.Name] = im.Rebuild.Kind()
	}
	return plan.Build(plan.Input{
		Updated: updated, Base: base, Roots: roots, Dependents: deps, Images: images,
		Rebuild: rebuild, DispatchUnknown: opts.DispatchUnknown,
	}), nil
}

// inspectAll reads every dependent concurrently. A dependent that is not in
// the registry is left out of the map (plan reports it unknown); any other
// failure fails the plan, since deciding on partial data would be a guess.
func (e *Engine) inspectAll(ctx context.Context, deps []graph.Dependent) (map[string]*registry.Image, error) {
	images := make(map[string]*registry.Image, len(deps))
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	limit := e.Concurrency
	if limit <= 0 {
		limit = 16
	}
	g.SetLimit(limit)
	for _, d := range deps {
		g.Go(func() error {
			img, err := e.Resolver.Inspect(gctx, d.Node.Ref, true)
			if errors.Is(err, registry.ErrNotFound) {
				e.log().Info("dependent not found in registry", "dependent", d.Node.ID, "image", d.Node.Ref.Original)
				return nil
			}
			if err != nil {
				return fmt.Errorf("inspecting %q (%s): %w", d.Node.ID, d.Node.Ref.Original, err)
			}
			mu.Lock()
			images[d.Node.ID] = img
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return images, nil
}

func (e *Engine) log() *slog.Logger {
	if e.Log != nil {
		return e.Log
	}
	return slog.New(slog.DiscardHandler)
}
