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
	"strings"
	"sync"

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
		// Each part keeps its own class (a refusal stays exit 5); the
		// rest is invalid config.
		for i, err := range errs {
			if exitcode.Of(err) == exitcode.Internal {
				errs[i] = exitcode.AsInvalid(err)
			}
		}
		return nil, errors.Join(errs...)
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
		if strings.Contains(err.Error(), "escapes from parent") {
			// A symbolic link (or "..") that leads out of the workspace:
			// refused for safety, as for manifests.
			return nil, exitcode.AsRefused(fmt.Errorf("reading %s: leaves the workspace through a symbolic link", path))
		}
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
	rebuild, declared := map[string]string{}, map[string]string{}
	for _, im := range e.Config.Images {
		rebuild[im.Name] = im.Rebuild.Kind()
		if im.DeclaredBy != "" {
			declared[im.Name] = im.DeclaredBy
		}
	}
	in := plan.Input{
		Updated: updated, Base: plan.Base{Ref: updated, Digest: head.Digest, Index: head.Index},
		Roots: roots, Dependents: deps, Rebuild: rebuild, DeclaredBy: declared, DispatchUnknown: opts.DispatchUnknown,
	}
	if err := e.resolve(ctx, &in); err != nil {
		return nil, err
	}
	return plan.Build(in), nil
}

// resolve reads the dependents from the registry into in, each as soon as
// the bases of it in the cascade are decided (plan.Decider), up to
// Concurrency at a time — not tier by tier, so a tier's slowest answer
// holds up only what is built on it. A dependent that a rebuilt base
// carries is stale whatever its manifest says: only its digest is
// resolved, with a HEAD. The others are inspected. The updated image's own
// manifest (its platforms, its layers) is inspected once, as soon as a
// dependent built on it needs it; such dependents wait for it to be
// decided.
func (e *Engine) resolve(ctx context.Context, in *plan.Input) error {
	in.Images = map[string]*registry.Image{}
	in.Digests = map[string]imageref.Digest{}
	deps := in.Dependents
	if len(deps) == 0 {
		return nil
	}
	r := &reader{e: e, in: in, dec: plan.NewDecider(in), roots: map[string]bool{}, index: map[string]int{},
		waiting: make([]int, len(deps)), children: make([][]int, len(deps)), work: make(chan int, len(deps))}
	for _, root := range in.Roots {
		r.roots[root.ID] = true
	}
	for i, d := range deps {
		r.index[d.Node.ID] = i
	}
	for i, d := range deps {
		for _, p := range d.Parents {
			if k, ok := r.index[p.From]; ok {
				r.waiting[i]++
				r.children[k] = append(r.children[k], i)
			}
		}
	}
	ctx, r.cancel = context.WithCancel(ctx)
	defer r.cancel()
	r.ctx = ctx
	limit := e.Concurrency
	if limit <= 0 {
		limit = 16
	}
	r.mu.Lock()
	for i := range deps {
		if r.waiting[i] == 0 {
			r.ready(i)
		}
	}
	r.mu.Unlock()
	for range min(limit, len(deps)) {
		r.wg.Go(r.worker)
	}
	r.wg.Wait() // the workers, and the reading of the updated image

	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	if r.decided != len(deps) {
		if err := ctx.Err(); err != nil {
			return err
		}
		return fmt.Errorf("resolving dependents: %d of %d decided", r.decided, len(deps))
	}
	return nil
}

// reader is the state of one resolve. mu guards everything below it, and
// in's maps and Base while reading.
type reader struct {
	e      *Engine
	ctx    context.Context
	cancel context.CancelFunc
	work   chan int // dependents ready to be read; each is sent once
	wg     sync.WaitGroup

	mu       sync.Mutex
	in       *plan.Input
	dec      *plan.Decider
	roots    map[string]bool
	index    map[string]int // dependent by node ID
	waiting  []int          // bases in the cascade not decided yet
	children [][]int
	carried  map[int]bool
	decided  int
	err      error
	// The updated image's manifest: asked for once (baseAsked), the
	// dependents waiting for it.
	baseAsked bool
	forBase   []int
}

// ready queues dependent i to be read (with mu held): its bases are
// decided, so whether a rebuilt one carries it is known.
func (r *reader) ready(i int) {
	if r.dec.Carried(r.in.Dependents[i]) {
		if r.carried == nil {
			r.carried = map[int]bool{}
		}
		r.carried[i] = true
	}
	r.work <- i // never blocks: the channel holds every dependent
}

func (r *reader) worker() {
	for {
		select {
		case <-r.ctx.Done():
			return
		case i, ok := <-r.work:
			if !ok {
				return
			}
			r.read(i)
		}
	}
}

// read reads dependent i, then decides it (or leaves it for the updated
// image's manifest) and queues what it frees.
func (r *reader) read(i int) {
	d := r.in.Dependents[i]
	ref := d.Node.Ref
	r.mu.Lock()
	carried := r.carried[i]
	r.mu.Unlock()
	var (
		img  *registry.Image
		desc registry.Descriptor
		err  error
	)
	if carried {
		desc, err = r.e.Resolver.Head(r.ctx, ref)
	} else {
		img, err = r.e.Resolver.Inspect(r.ctx, ref, true)
	}
	if errors.Is(err, registry.ErrNotFound) {
		r.e.log().Info("dependent not found in registry", "dependent", d.Node.ID, "image", ref.Original)
		err = nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.fail(fmt.Errorf("inspecting %q (%s): %w", d.Node.ID, ref.Original, err))
		return
	}
	switch {
	case img != nil:
		r.in.Images[d.Node.ID] = img
	case desc.Digest != "":
		r.in.Digests[d.Node.ID] = desc.Digest
	}
	if img != nil && r.in.Base.Detail == nil && r.needsBase(d, img) {
		r.forBase = append(r.forBase, i)
		if !r.baseAsked {
			r.baseAsked = true
			r.wg.Go(r.readBase) // this worker is counted: Wait has not returned
		}
		return
	}
	r.decide(i)
}

// needsBase reports whether deciding d against the updated image (one of
// its bases) takes the updated image's manifest.
func (r *reader) needsBase(d graph.Dependent, img *registry.Image) bool {
	for _, p := range d.Parents {
		if r.roots[p.From] && plan.NeedsDetail(r.in.Base, img) {
			return true
		}
	}
	return false
}

// readBase inspects the updated image, then decides the dependents that
// waited for it.
func (r *reader) readBase() {
	detail, err := r.e.Resolver.Inspect(r.ctx, r.in.Updated, false)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.fail(fmt.Errorf("inspecting %s: %w", r.in.Updated.Original, err))
		return
	}
	r.in.Base.Detail, r.in.Base.Index = detail, detail.Index
	waiting := r.forBase
	r.forBase = nil
	for _, i := range waiting {
		r.decide(i)
	}
}

// decide decides dependent i (with mu held) and queues the dependents
// whose last undecided base it was; after the last one, it ends the
// workers.
func (r *reader) decide(i int) {
	r.dec.Decide(r.in.Dependents[i])
	r.decided++
	for _, c := range r.children[i] {
		r.waiting[c]--
		if r.waiting[c] == 0 {
			r.ready(c)
		}
	}
	if r.decided == len(r.in.Dependents) {
		close(r.work)
	}
}

// fail records the first error and stops the workers (with mu held).
func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.cancel()
}

func (e *Engine) log() *slog.Logger {
	if e.Log != nil {
		return e.Log
	}
	return slog.New(slog.DiscardHandler)
}
