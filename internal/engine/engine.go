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
	rebuild := map[string]string{}
	for _, im := range e.Config.Images {
		rebuild[im.Name] = im.Rebuild.Kind()
	}
	in := plan.Input{
		Updated: updated, Base: plan.Base{Ref: updated, Digest: head.Digest, Index: head.Index},
		Roots: roots, Dependents: deps, Rebuild: rebuild, DispatchUnknown: opts.DispatchUnknown,
	}
	if err := e.resolve(ctx, &in); err != nil {
		return nil, err
	}
	return plan.Build(in), nil
}

// resolve reads the dependents from the registry, tier by tier, into in.
// A dependent with a base in the cascade that is rebuilt (plan.Carried,
// decided on the tiers above) is stale whatever its manifest says: only
// its digest is resolved, with a HEAD. The others are inspected. The
// updated image's own manifest (its platforms, its layers) is inspected
// once, as soon as a dependent built on it turns out to need it, while
// the rest of the tier is read.
func (e *Engine) resolve(ctx context.Context, in *plan.Input) error {
	in.Images = map[string]*registry.Image{}
	in.Digests = map[string]imageref.Digest{}
	roots := map[string]bool{}
	for _, r := range in.Roots {
		roots[r.ID] = true
	}
	bctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		baseOnce   sync.Once
		baseDone   = make(chan struct{})
		baseDetail *registry.Image
		baseErr    error
		started    bool
	)
	needBase := func() {
		baseOnce.Do(func() {
			started = true
			go func() {
				defer close(baseDone)
				baseDetail, baseErr = e.Resolver.Inspect(bctx, in.Updated, false)
			}()
		})
	}
	deps := in.Dependents
	for start := 0; start < len(deps); {
		end := start + 1
		for end < len(deps) && deps[end].Depth == deps[start].Depth {
			end++
		}
		tier := deps[start:end]
		carried := make([]bool, len(tier))
		if start > 0 {
			decided := *in
			decided.Dependents = deps[:start]
			carried = plan.Build(decided).Carried(tier)
		}
		inspected := func(d graph.Dependent, img *registry.Image) {
			if in.Base.Detail != nil {
				return
			}
			for _, p := range d.Parents {
				if roots[p.From] && plan.NeedsDetail(in.Base, img) {
					needBase()
					return
				}
			}
		}
		if err := e.readTier(ctx, tier, carried, in, inspected); err != nil {
			return err
		}
		if started && in.Base.Detail == nil {
			select {
			case <-baseDone:
			case <-ctx.Done():
				return ctx.Err()
			}
			if baseErr != nil {
				return fmt.Errorf("inspecting %s: %w", in.Updated.Original, baseErr)
			}
			in.Base.Detail, in.Base.Index = baseDetail, baseDetail.Index
		}
		start = end
	}
	return nil
}

// readTier reads one tier concurrently: a HEAD for a carried dependent, an
// inspection for the others (inspected is called with each, from the
// reading goroutine). A dependent that is not in the registry is left out
// (plan reports it unknown, or carried); any other failure fails the plan,
// since deciding on partial data would be a guess.
func (e *Engine) readTier(ctx context.Context, tier []graph.Dependent, carried []bool, in *plan.Input, inspected func(graph.Dependent, *registry.Image)) error {
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	limit := e.Concurrency
	if limit <= 0 {
		limit = 16
	}
	g.SetLimit(limit)
	for i, d := range tier {
		g.Go(func() error {
			ref := d.Node.Ref
			var (
				img  *registry.Image
				desc registry.Descriptor
				err  error
			)
			if carried[i] {
				desc, err = e.Resolver.Head(gctx, ref)
			} else {
				img, err = e.Resolver.Inspect(gctx, ref, true)
			}
			if errors.Is(err, registry.ErrNotFound) {
				e.log().Info("dependent not found in registry", "dependent", d.Node.ID, "image", ref.Original)
				return nil
			}
			if err != nil {
				return fmt.Errorf("inspecting %q (%s): %w", d.Node.ID, ref.Original, err)
			}
			mu.Lock()
			if img != nil {
				in.Images[d.Node.ID] = img
			} else {
				in.Digests[d.Node.ID] = desc.Digest
			}
			mu.Unlock()
			if img != nil {
				inspected(d, img)
			}
			return nil
		})
	}
	return g.Wait()
}

func (e *Engine) log() *slog.Logger {
	if e.Log != nil {
		return e.Log
	}
	return slog.New(slog.DiscardHandler)
}
