// Package run owns the order of a cascade run's stages. Front doors (the
// CLI, the GitHub Action, the Tekton Task, the demo) turn their inputs into a
// Request, build real clients into Deps, and call Run or Import; nothing
// else decides what happens when.
//
// A run is a transaction in two phases:
//
//   - Phase 1 (Prepare) has no side effect. It plans the cascade with the
//     registry (reads only), predicts every tier an in-registry rebase opens
//     (a rebased image's dependents are stale by construction), reads the
//     history (dedup, the previous digest, a rollback), and checks every
//     limit over the whole run (blast radius, depth, loops), every template
//     rendered for every target, every secret and token, and the manifest
//     update (computed, not written). Any refusal ends the run here, with
//     nothing sent, pushed or written; `cascade plan` runs the same phase
//     and shows the same refusals.
//   - Phase 2 (act) dispatches tier by tier, records each tier's
//     generation in the history as soon as it completes (with a fresh,
//     bounded context when the run was cancelled, so what was delivered is
//     never forgotten), cascades rebased images, pins the manifests and
//     writes them back, and reports only what really happened.
package run

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/imagecascade/cascade/internal/config"
	"github.com/imagecascade/cascade/internal/dispatch"
	"github.com/imagecascade/cascade/internal/engine"
	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/graph"
	"github.com/imagecascade/cascade/internal/history"
	"github.com/imagecascade/cascade/internal/imageref"
	"github.com/imagecascade/cascade/internal/manifests"
	"github.com/imagecascade/cascade/internal/plan"
	"github.com/imagecascade/cascade/internal/registry"
	"github.com/imagecascade/cascade/internal/report"
	"github.com/imagecascade/cascade/internal/rollout"
)

// Request is what one run is asked to do.
type Request struct {
	// Image is the updated image; its Digest, when set, is the new digest
	// the build reported (else the registry's HEAD decides).
	Image imageref.Ref
	// Incoming is the cascade this run continues (from the event that
	// started it), zero for an origin.
	Incoming dispatch.Cascade
	// DryRun stops after phase 1: the plan, the dispatches that would be
	// made and the manifest diff; nothing is sent or written.
	DryRun bool
	// DispatchUnknown rebuilds dependents whose state is unknown too.
	DispatchUnknown bool
	// MaxDispatches overrides limits.maxDispatches when positive.
	MaxDispatches int
	// AllowRollback lets a run whose digest is older than the tag's
	// current digest, or than a generation already recorded, go ahead.
	AllowRollback bool
	// AtDependents keeps the history — records, claims, dedup — next to
	// each dependent (in its repository, at the digest it has now) instead
	// of next to the base, and skips the rollback check: `cascade import`
	// cascades upstream bases, whose repositories are not ours to write to.
	// A record there holds until the dependent is rebuilt (a new digest),
	// by which time the plan finds it current.
	AtDependents bool
}

// Planner plans a cascade from the registry (engine.Engine).
type Planner interface {
	Plan(ctx context.Context, updated imageref.Ref, opts engine.PlanOptions) (*plan.Plan, error)
	Graph() (*graph.Graph, error)
}

// TagResolver answers which digest a tag names now (one HEAD).
type TagResolver interface {
	Head(ctx context.Context, ref imageref.Ref) (registry.Descriptor, error)
}

// History is the registry-stored record of generations (history.Store).
type History interface {
	Load(ctx context.Context, image imageref.Ref) ([]history.Generation, error)
	Record(ctx context.Context, image imageref.Ref, g history.Generation) error
	Latest(ctx context.Context, image imageref.Ref) (*history.Generation, error)
	Newer(ctx context.Context, image imageref.Ref, latest *history.Generation, digest imageref.Digest) (bool, error)
}

// Claims claims dedup keys in the registry before they are dispatched
// (history.Store.Claim): of concurrent runs, re-runs and runs after a crash,
// exactly one dispatches each rebuild.
type Claims interface {
	Claim(ctx context.Context, base imageref.Ref, runID string, keys []string, o history.ClaimOptions) (map[string]bool, error)
}

// Dispatchers builds the dispatcher of a rebuild kind. For fails when the
// dispatcher cannot be used at all (no token, no cluster config): phase 1
// calls it for every kind the run needs, so that is a refusal, not a
// failure half-way.
type Dispatchers interface {
	For(kind string) (dispatch.Dispatcher, error)
}

// Manifests pins a digest in the workspace's manifests and writes them
// back. Update with dryRun computes and checks every change without writing
// (phase 1); without, it writes.
type Manifests interface {
	Update(ctx context.Context, ref imageref.Ref, dryRun bool) (*manifests.Result, error)
	WriteBack(ctx context.Context, ref imageref.Ref, res *manifests.Result) (*report.WriteBack, error)
}

// Guarded is a Manifests whose write needs a guard taken in phase 1 —
// after the changes are computed and before anything is sent — and held
// until the run ends: the workspace lock, and the check that no file to
// change holds a person's uncommitted edit. A Guard error refuses the run.
type Guarded interface {
	Guard(ctx context.Context, planned *manifests.Result) (release func(), err error)
}

// Deps are the run's collaborators; the front door builds them.
type Deps struct {
	Config *config.Config
	// Discover, when set, adds the dependents that declare themselves to
	// Config before planning (discover.go). Planner must read the same
	// Config.
	Discover Discoverer
	Planner  Planner
	// Tags resolves the updated tag for the rollback check (nil: no
	// check against the registry).
	Tags    TagResolver
	History History
	// Dispatchers builds dispatchers; nil makes every target fail.
	Dispatchers Dispatchers
	// Claims, when set, are claimed before each tier is dispatched.
	Claims Claims
	// ClaimOptions tune the claims (history's defaults when zero).
	ClaimOptions history.ClaimOptions
	// RunID identifies this run in claims and records (a random one when
	// empty).
	RunID string
	// Manifests, when set, pins the updated image's own new digest.
	Manifests Manifests
	// Clusters, when set, roll the live workloads that follow the updated
	// image to its new digest (clusters.go).
	Clusters []ClusterTarget
	// Getenv reads webhook secrets for the preflight (os.LookupEnv when
	// nil).
	Getenv func(string) (string, bool)
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Log receives progress: one line per stage and tier (quiet when nil).
	Log *slog.Logger
	// Progress, when set, is told of long stages as they go (a terminal's
	// live status line; see progress.go).
	Progress Progress
	// Concurrency bounds the dispatches in flight within a tier
	// (dispatch.DefaultConcurrency when zero).
	Concurrency int
	// RecordTimeout bounds recording a tier's history once the run's
	// context is cancelled (DefaultRecordTimeout when zero).
	RecordTimeout time.Duration
}

// DefaultRecordTimeout bounds the history write of a cancelled run.
const DefaultRecordTimeout = 30 * time.Second

// Placeholder digest of an image a rebase has not produced yet: phase 1
// renders the templates of the tiers a rebase opens against it (every
// digest has the same length, so bounds checked on it hold for the real one).
const pendingDigest imageref.Digest = "sha256:0000000000000000000000000000000000000000000000000000000000000000"

func (d *Deps) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d *Deps) log() *slog.Logger {
	if d.Log != nil {
		return d.Log
	}
	return slog.New(slog.DiscardHandler)
}

// Prepared is the outcome of phase 1: what phase 2 will do.
type Prepared struct {
	req  Request
	out  *report.Run
	ref  imageref.Ref // the updated image with its digest
	root string       // the root's name in the chain
	// targets are the first tier's dispatches still to make; done are
	// those already recorded as dispatched.
	targets  []dispatch.Target
	done     []dispatch.Outcome
	predict  map[string]plan.Dispatch // later tiers, by dependent name
	limit    int
	previous string
	origin   string
	chain    []string
	// manifests, computed without writing (nil when none to pin).
	manifests *manifests.Result
	runID     string
	// release ends the write guard Prepare took (nil when none).
	release func()
	// digests are the dependents' digests now, for AtDependents.
	digests map[string]imageref.Digest
	// clusters are the cluster target's results, one per Deps.Clusters.
	clusters []*rollout.Result
	// Refused is why the run may not go ahead (nil when it may).
	Refused error
	// Nothing is set when the run deliberately does nothing (R27).
	Nothing bool
}

// Report is the run report as phase 1 left it.
func (p *Prepared) Report() *report.Run { return p.out }

// Prepare is phase 1 of a run: plan and check everything, with no side
// effect. A refusal is in the returned Prepared's Refused (and in its
// plan's Refusals); an error is a failure to even plan (bad input, the
// registry unreachable).
func Prepare(ctx context.Context, d *Deps, req Request) (*Prepared, error) {
	log := d.log()
	start := d.now()
	if req.MaxDispatches < 0 {
		return nil, exitcode.AsInvalid(errors.New("max dispatches must be at least 1"))
	}
	discovered, err := d.discover(ctx)
	if err != nil {
		return nil, err
	}
	log.Info("planning", "image", req.Image.Original)
	d.progress().Begin("planning "+req.Image.Original, 0)
	p, err := d.Planner.Plan(ctx, req.Image, engine.PlanOptions{DispatchUnknown: req.DispatchUnknown})
	d.progress().End()
	if err != nil {
		return nil, err
	}
	reportSkipped(p, discovered)
	s := p.Summary
	log.Info("planned", "dependents", s.Dependents, "stale", s.Stale, "current", s.Current, "unknown", s.Unknown,
		"elapsed", d.now().Sub(start).Round(time.Millisecond))
	out := &report.Run{SchemaVersion: 1, DryRun: req.DryRun, Plan: p, Dispatches: []dispatch.Outcome{}}
	ref := req.Image
	ref.Digest = imageref.Digest(p.Digest)
	pr := &Prepared{req: req, out: out, ref: ref, limit: d.Config.Limits.MaxDispatches, runID: d.RunID}
	if pr.runID == "" {
		pr.runID = history.NewRunID()
	}
	if req.MaxDispatches > 0 {
		pr.limit = req.MaxDispatches
	}
	pr.root = ref.Name()
	if len(p.Roots) > 0 {
		pr.root = p.Roots[0]
	}
	// Our own dispatch re-triggered us for the same base (R27).
	if slices.Contains(req.Incoming.Chain, pr.root) {
		out.Note = fmt.Sprintf("%s is already in the incoming cascade chain (%s): this run was started by cascade's own dispatch for the same base; nothing to do",
			pr.root, strings.Join(req.Incoming.Chain, " → "))
		pr.Nothing = true
		return pr, nil
	}
	pr.origin = req.Incoming.Origin
	if pr.origin == "" {
		pr.origin = ref.Name() + "@" + string(ref.Digest)
	}
	pr.chain = append(slices.Clone(req.Incoming.Chain), pr.root)

	var refusals []error
	refuse := func(err error) { refusals = append(refusals, err) }
	if err := pr.checkRollback(ctx, d); err != nil {
		if exitcode.Of(err) != exitcode.Refused {
			return nil, err
		}
		refuse(err)
	}
	if err := pr.prepareTargets(ctx, d, refuse); err != nil {
		return nil, err
	}
	if d.Manifests != nil && ref.Tag != "" {
		log.Info("computing manifest changes", "image", ref.Short())
		d.progress().Begin("computing manifest changes", 0)
		res, err := d.Manifests.Update(ctx, ref, true)
		d.progress().End()
		if err != nil {
			// A refused file set (a path outside the workspace, an
			// explicitly selected file that cannot be edited) refuses the
			// run: nothing is sent either.
			return nil, fmt.Errorf("checking the manifests: %w", err)
		}
		pr.manifests = res
		log.Info("manifest changes computed", "references", len(res.Changed()))
		// Whatever guards the write (the workspace lock, a person's
		// uncommitted edits in the files to change) refuses here, before
		// anything is sent.
		if g, ok := d.Manifests.(Guarded); ok && !req.DryRun {
			release, err := g.Guard(ctx, res)
			if err != nil {
				return nil, fmt.Errorf("preparing the manifest write: %w", err)
			}
			pr.release = release
		}
	}
	if err := pr.prepareClusters(ctx, d, refuse); err != nil {
		return nil, err
	}
	if len(refusals) > 0 {
		pr.Refused = errors.Join(refusals...)
		for _, r := range refusals {
			p.Refusals = append(p.Refusals, r.Error())
		}
	}
	return pr, nil
}

// checkRollback refuses (exit 5) a run that would move what follows the
// tag back to an older digest: the registry's tag names another digest now,
// or a generation recorded after this digest's already moved on.
func (p *Prepared) checkRollback(ctx context.Context, d *Deps) error {
	if p.req.AllowRollback || p.req.AtDependents || p.ref.Tag == "" {
		return nil
	}
	tag := p.ref
	tag.Digest = ""
	if d.Tags != nil {
		head, err := d.Tags.Head(ctx, tag)
		if err != nil && !errors.Is(err, registry.ErrNotFound) {
			return fmt.Errorf("resolving %s for the rollback check: %w", tag.Short(), err)
		}
		if err == nil && head.Digest != p.ref.Digest {
			return exitcode.AsRefused(fmt.Errorf("rollback: %s names %s now, not %s — this run is late or its digest is wrong; moving dependents and manifests to it would go backwards (pass --allow-rollback to force)",
				tag.Short(), head.Digest, p.ref.Digest))
		}
	}
	if d.History == nil {
		return nil
	}
	latest, err := d.History.Latest(ctx, tag)
	if err != nil {
		return fmt.Errorf("reading the history of %s: %w", tag.Short(), err)
	}
	if latest != nil {
		if latest.Digest == string(p.ref.Digest) {
			p.previous = latest.Previous
		} else {
			p.previous = latest.Digest
		}
	}
	older, err := d.History.Newer(ctx, tag, latest, p.ref.Digest)
	if err != nil {
		return fmt.Errorf("reading the history of %s: %w", tag.Short(), err)
	}
	if older {
		return exitcode.AsRefused(fmt.Errorf("rollback: %s was cascaded to %s after %s; moving dependents and manifests back to the older digest needs --allow-rollback",
			tag.Short(), latest.Digest, p.ref.Digest))
	}
	return nil
}

// prepareTargets turns the plan into the first tier's targets, predicts the
// tiers rebases open, drops what the history says was dispatched already,
// and checks limits, dispatchers and templates for all of it.
func (p *Prepared) prepareTargets(ctx context.Context, d *Deps, refuse func(error)) error {
	predicted := p.out.Plan.Dispatches()
	p.predict = map[string]plan.Dispatch{}
	var later []plan.Dispatch
	for _, pd := range predicted {
		if pd.AfterRebase != "" {
			p.predict[pd.Name] = pd
			later = append(later, pd)
		}
	}
	first := targetsOf(d.Config, p.out.Plan, tierInfo{base: p.ref, chain: p.chain, depth: p.req.Incoming.Depth}, p.origin)
	p.digests = map[string]imageref.Digest{}
	for _, dep := range p.out.Plan.Dependents {
		p.digests[dep.Name] = imageref.Digest(dep.Digest)
	}
	done, err := p.alreadyDispatched(ctx, d, first)
	if err != nil {
		return err
	}
	for _, t := range first {
		if done[t.Key()] {
			p.done = append(p.done, dispatch.Outcome{Name: t.Name, Kind: t.Rebuild.Kind(), Key: t.Key(),
				Status: dispatch.StatusAlreadyDispatched, Detail: "recorded in the cascade history"})
			continue
		}
		p.targets = append(p.targets, t)
	}
	// Later tiers, against the digests the rebases will produce.
	var laterTargets []dispatch.Target
	images := imagesByName(d.Config)
	for _, pd := range later {
		if t, ok := predictedTarget(images, pd, p); ok {
			laterTargets = append(laterTargets, t)
		}
	}
	all := append(slices.Clone(p.targets), laterTargets...)
	// The blast radius counts what this run will send, over every tier.
	if p.limit > 0 && len(all) > p.limit {
		refuse(exitcode.AsRefused(fmt.Errorf("blast radius: %d dispatches planned over the whole cascade (%d now, %d after rebases), over the limit of %d (raise limits.maxDispatches or pass --max-dispatches)",
			len(all), len(p.targets), len(laterTargets), p.limit)))
	}
	// Credentials belong to the environment the real run happens in: a dry
	// run (and `cascade plan`) checks every template, not the secrets.
	getenv := d.Getenv
	if p.req.DryRun {
		getenv = func(string) (string, bool) { return "unchecked in a dry run", true }
	}
	kinds := map[string]error{}
	for _, t := range all {
		if err := dispatch.CheckChain(t.Cascade, t.Name, d.Config.Limits.MaxDepth); err != nil {
			refuse(err)
			continue
		}
		kind := t.Rebuild.Kind()
		if _, seen := kinds[kind]; !seen {
			kinds[kind] = nil
			if !p.req.DryRun {
				if d.Dispatchers == nil {
					kinds[kind] = exitcode.AsInvalid(fmt.Errorf("no dispatcher for rebuild kind %q", kind))
				} else if _, err := d.Dispatchers.For(kind); err != nil {
					kinds[kind] = err
				}
				if kinds[kind] != nil {
					refuse(kinds[kind])
				}
			}
		}
		if err := dispatch.Preflight(t, getenv); err != nil {
			refuse(err)
		}
	}
	return nil
}

// alreadyDispatched reads, wherever targets' history lives, the dedup
// keys recorded as dispatched.
func (p *Prepared) alreadyDispatched(ctx context.Context, d *Deps, targets []dispatch.Target) (map[string]bool, error) {
	done := map[string]bool{}
	if d.History == nil {
		return done, nil
	}
	for _, g := range p.byHistory(targets) {
		gens, err := d.History.Load(ctx, g.at)
		if err != nil {
			return nil, fmt.Errorf("reading the cascade history of %s: %w", g.at.Short(), err)
		}
		for k := range history.Dispatched(gens) {
			done[k] = true
		}
	}
	return done, nil
}

// historyGroup is the targets whose history lives at one image digest.
type historyGroup struct {
	at      imageref.Ref
	targets []int // indexes into the targets grouped
}

// byHistory groups targets by where their history lives: the base they
// are dispatched against, or (AtDependents) the dependent itself at the
// digest it has now. A dependent not in the registry has no such place:
// its dispatch is neither deduplicated nor recorded.
func (p *Prepared) byHistory(targets []dispatch.Target) []historyGroup {
	var out []historyGroup
	index := map[string]int{}
	for i, t := range targets {
		at := t.Base.Ref
		if p.req.AtDependents {
			at = t.Image
			at.Digest = p.digests[t.Name]
			if at.Digest == "" {
				continue
			}
		}
		k := at.String()
		j, ok := index[k]
		if !ok {
			j = len(out)
			index[k] = j
			out = append(out, historyGroup{at: at})
		}
		out[j].targets = append(out[j].targets, i)
	}
	return out
}

// predictedTarget is the target of a later-tier dispatch, against a
// placeholder digest of the rebased base.
func predictedTarget(images map[string]*config.Image, pd plan.Dispatch, p *Prepared) (dispatch.Target, bool) {
	im, ok := images[pd.Name]
	if !ok {
		return dispatch.Target{}, false
	}
	ref, err := imageref.Parse(im.Image)
	if err != nil {
		return dispatch.Target{}, false
	}
	bim, ok := images[pd.Base]
	if !ok {
		return dispatch.Target{}, false
	}
	base, err := imageref.Parse(bim.Image)
	if err != nil {
		return dispatch.Target{}, false
	}
	base.Digest = pendingDigest
	chain := append(slices.Clone(p.chain), pd.Path...)
	return dispatch.Target{
		Name: pd.Name, Image: ref, Rebuild: im.Rebuild,
		Base:    dispatch.BaseRef{Name: pd.Base, Ref: base},
		Cascade: dispatch.Cascade{ID: dispatch.DedupKey(pd.Name, pendingDigest), Depth: p.req.Incoming.Depth + pd.Depth, Chain: chain, Origin: p.origin},
	}, true
}

// Run runs a cascade: Prepare, then — unless refused or a dry run — phase
// 2. The report is returned whenever a plan was made, with the error.
func Run(ctx context.Context, d *Deps, req Request) (*report.Run, error) {
	p, err := Prepare(ctx, d, req)
	if err != nil {
		if p != nil {
			return p.out, err
		}
		return nil, err
	}
	defer p.Release()
	out := p.out
	if p.Nothing {
		return out, nil
	}
	if p.Refused != nil {
		return out, p.Refused
	}
	return out, p.Act(ctx, d)
}

// Release ends the guard phase 1 took on the manifest write (Run does it
// itself; a caller of Prepare and Act calls it when done).
func (p *Prepared) Release() {
	if p.release != nil {
		p.release()
		p.release = nil
	}
}

// Sends counts the dispatches phase 2 would send, over every tier: what
// the blast radius limits.
func (p *Prepared) Sends() int { return len(p.targets) + len(p.predict) }

// Act is phase 2 (or, for a dry run, the report of what it would do). Call
// it only on a Prepared that is neither Refused nor Nothing.
func (p *Prepared) Act(ctx context.Context, d *Deps) error {
	if p.Nothing || p.Refused != nil {
		return p.Refused
	}
	if p.req.DryRun {
		p.dryRun()
		return nil
	}
	return p.act(ctx, d)
}

// dryRun fills the report with what phase 2 would do.
func (p *Prepared) dryRun() {
	out := p.out
	out.Dispatches = append(out.Dispatches, p.done...)
	for _, t := range p.targets {
		out.Dispatches = append(out.Dispatches, dispatch.Outcome{Name: t.Name, Kind: t.Rebuild.Kind(), Key: t.Key(),
			Status: dispatch.StatusSkipped, Detail: "dry run: would dispatch via " + t.Rebuild.Kind()})
	}
	for _, d := range p.out.Plan.Dispatches() {
		if d.AfterRebase == "" {
			continue
		}
		out.Dispatches = append(out.Dispatches, dispatch.Outcome{Name: d.Name, Kind: d.Rebuild,
			Status: dispatch.StatusSkipped, Detail: "dry run: would dispatch after rebasing " + d.AfterRebase})
	}
	if p.manifests != nil {
		p.setManifests(p.manifests)
	}
}

func (p *Prepared) setManifests(res *manifests.Result) {
	u := report.NewUpdateJSON(p.ref.Short()+"@"+string(p.ref.Digest), res, p.req.DryRun, nil)
	p.out.Manifests = &u
}

// tierInfo is one round of dispatches: the dependents of one updated image.
type tierInfo struct {
	plan  *plan.Plan
	base  imageref.Ref
	chain []string
	depth int
	// previous is the digest base's tag named before (for its record).
	previous string
}

// act is phase 2.
func (p *Prepared) act(ctx context.Context, d *Deps) error {
	log := d.log()
	out := p.out
	out.Dispatches = append(out.Dispatches, p.done...)
	var errs []error
	touched := false // something was sent or written
	queue := []tierInfo{{plan: out.Plan, base: p.ref, chain: p.chain, depth: p.req.Incoming.Depth, previous: p.previous}}
	first := true
	interrupted := false
	unsent := false // the first claim failed: nothing is sent or written
	tier := 0
	for len(queue) > 0 && !interrupted {
		t := queue[0]
		queue = queue[1:]
		var targets []dispatch.Target
		if first {
			targets, first = p.targets, false
		} else {
			all := targetsOf(d.Config, t.plan, t, p.origin)
			for _, tg := range all {
				// Only what phase 1 predicted and checked is sent.
				if _, ok := p.predict[tg.Name]; !ok {
					errs = append(errs, exitcode.AsPartial(fmt.Errorf("%s: not dispatched: the cascade of %s found it stale, but phase 1 did not predict it (its limits and templates were not checked); re-run to cascade it",
						tg.Name, t.base.Short())))
					continue
				}
				if err := dispatch.Preflight(tg, d.Getenv); err != nil {
					errs = append(errs, exitcode.AsPartial(err))
					continue
				}
				targets = append(targets, tg)
			}
		}
		if len(targets) == 0 {
			continue
		}
		if ctx.Err() != nil {
			interrupted = true
			break
		}
		// Claim the tier's rebuilds; what a concurrent run holds is its.
		var lostTargets []dispatch.Target
		var lost []dispatch.Outcome
		if d.Claims != nil {
			won, lt, lo, err := p.claim(ctx, d, targets)
			lostTargets, lost = lt, lo
			if err != nil {
				note := ""
				if touched {
					err = exitcode.AsPartial(err)
				} else {
					// Nothing was sent: the manifests stay unpinned too, so
					// the run touched nothing and a re-run does it all.
					unsent = true
					note = "; the manifests were not pinned either: a re-run does it all"
				}
				errs = append(errs, fmt.Errorf("%w (nothing of this tier was dispatched%s)", err, note))
				break
			}
			out.Dispatches = append(out.Dispatches, lost...)
			targets = won
		}
		dmap := map[string]dispatch.Dispatcher{}
		for _, tg := range targets {
			kind := tg.Rebuild.Kind()
			if _, ok := dmap[kind]; ok || d.Dispatchers == nil {
				continue
			}
			if ds, err := d.Dispatchers.For(kind); err == nil {
				dmap[kind] = ds
			}
		}
		start := d.now()
		tier++
		log.Info("dispatching", "tier", tier, "base", t.base.Short(), "targets", len(targets), "claimed-by-others", len(lost))
		pg := d.progress()
		pg.Begin(fmt.Sprintf("dispatching tier %d", tier), len(targets))
		outcomes, err := dispatch.Run(ctx, targets, dmap, dispatch.RunOptions{Concurrency: d.Concurrency, Done: func(dispatch.Outcome) { pg.Step() }})
		pg.End()
		if err != nil {
			return errors.Join(append(errs, err)...)
		}
		out.Dispatches = append(out.Dispatches, outcomes...)
		ok := 0
		for _, o := range outcomes {
			if o.Status.OK() {
				ok++
				touched = true
			}
		}
		log.Info("dispatched", "tier", tier, "base", t.base.Short(), "ok", ok, "failed", len(outcomes)-ok, "elapsed", d.now().Sub(start).Round(time.Millisecond))
		// Every outcome is recorded, failures too: the record settles this
		// run's claims (the next claimant retries what failed), and the
		// keys a concurrent run won are recorded as such. A record of
		// failures only does not count as touching anything: a re-run
		// reads it to retry them, so exit 4 still means "safe to re-run".
		if d.History != nil && len(outcomes)+len(lost) > 0 {
			if err := p.record(ctx, d, t, append(targets, lostTargets...), append(outcomes, lost...)); err != nil {
				if ok == 0 {
					err = fmt.Errorf("%w (nothing of this tier was started)", err)
				}
				errs = append(errs, err)
			}
		}
		if ctx.Err() != nil {
			interrupted = true
			break
		}
		// A rebased dependent is itself an updated image: cascade it now.
		for i, o := range outcomes {
			if o.NewDigest == "" || !o.Status.OK() {
				continue
			}
			next := targets[i].Image
			next.Digest = o.NewDigest
			sub, err := d.Planner.Plan(ctx, next, engine.PlanOptions{DispatchUnknown: p.req.DispatchUnknown})
			if err != nil {
				errs = append(errs, exitcode.AsPartial(fmt.Errorf("planning the cascade of rebased %s: %w", o.Name, err)))
				continue
			}
			out.Cascaded = append(out.Cascaded, sub)
			for _, dep := range sub.Dependents {
				p.digests[dep.Name] = imageref.Digest(dep.Digest)
			}
			prev := ""
			if dep, ok := dependentsByName(t.plan)[o.Name]; ok {
				prev = dep.Digest
			}
			queue = append(queue, tierInfo{plan: sub, base: next, chain: append(slices.Clone(t.chain), o.Name), depth: t.depth + 1, previous: prev})
		}
	}
	if !interrupted && !unsent && ctx.Err() == nil && p.manifests != nil && len(p.manifests.Changed()) > 0 {
		log.Info("pinning manifests", "image", p.ref.Short())
		d.progress().Begin("pinning manifests", 0)
		res, err := d.Manifests.Update(ctx, p.ref, false)
		d.progress().End()
		if res != nil {
			p.setManifests(res)
			if len(res.Changed()) > 0 {
				touched = true
			}
		}
		if err != nil {
			errs = append(errs, err)
		} else if res.Err() == nil {
			d.progress().Begin("writing the manifests back", 0)
			wb, err := d.Manifests.WriteBack(ctx, p.ref, res)
			d.progress().End()
			out.Manifests.WriteBack = wb
			if err != nil {
				errs = append(errs, err)
			}
		} else {
			errs = append(errs, res.Err())
		}
	} else if p.manifests != nil && len(p.manifests.Changed()) == 0 {
		p.setManifests(p.manifests)
	}
	if !interrupted && ctx.Err() == nil {
		rolled, err := p.rollClusters(ctx, d)
		touched = touched || rolled
		if err != nil {
			errs = append(errs, err)
		}
	}
	if err := ctx.Err(); err != nil || interrupted {
		return exitcode.AsInterrupted(fmt.Errorf("interrupted (%v): %s; what was dispatched is recorded, a re-run does the rest", context.Cause(ctx), doneSummary(out)))
	}
	errs = append(errs, dispatch.Summarize(out.Dispatches))
	return honest(errors.Join(errs...), touched)
}

// claim claims targets' keys, base by base, and splits them into those
// this run dispatches and the outcomes of those another run holds.
func (p *Prepared) claim(ctx context.Context, d *Deps, targets []dispatch.Target) (won, lostTargets []dispatch.Target, lost []dispatch.Outcome, err error) {
	claimed := make([]bool, len(targets))
	for _, g := range p.byHistory(targets) {
		keys := make([]string, 0, len(g.targets))
		for _, i := range g.targets {
			keys = append(keys, targets[i].Key())
		}
		mine, err := d.Claims.Claim(ctx, g.at, p.runID, keys, d.ClaimOptions)
		if err != nil {
			return nil, nil, nil, err
		}
		for _, i := range g.targets {
			claimed[i] = true
			t := targets[i]
			if mine[t.Key()] {
				won = append(won, t)
				continue
			}
			lostTargets = append(lostTargets, t)
			lost = append(lost, dispatch.Outcome{Name: t.Name, Kind: t.Rebuild.Kind(), Key: t.Key(), Status: dispatch.StatusClaimed,
				Detail: "a concurrent run claimed this rebuild first and dispatches it"})
		}
	}
	// A target with no place for claims (a dependent not in the
	// registry) is dispatched unclaimed.
	for i, t := range targets {
		if !claimed[i] {
			won = append(won, t)
		}
	}
	return won, lostTargets, lost, nil
}

// honest keeps exit 4's promise — nothing was written or sent — by turning a
// transient failure into a partial one (3) once something was.
func honest(err error, touched bool) error {
	if err == nil || !touched || exitcode.Of(err) != exitcode.Transient {
		return err
	}
	return exitcode.AsPartial(err)
}

func doneSummary(out *report.Run) string {
	var sent []string
	for _, o := range out.Dispatches {
		if o.Status == dispatch.StatusDispatched {
			sent = append(sent, o.Name)
		}
	}
	if len(sent) == 0 {
		return "nothing was dispatched"
	}
	return "dispatched " + strings.Join(sent, ", ")
}

// record writes the tier's generation for each base its targets were
// dispatched against. Once the run is cancelled it still records, with a
// fresh context bounded by RecordTimeout: what was delivered must not be
// forgotten, or a re-run would deliver it again. A failure here comes after
// dispatches happened: it is a partial failure (3), never "nothing done".
func (p *Prepared) record(ctx context.Context, d *Deps, t tierInfo, targets []dispatch.Target, outcomes []dispatch.Outcome) error {
	timeout := d.RecordTimeout
	if timeout <= 0 {
		timeout = DefaultRecordTimeout
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	now := d.now()
	var errs []error
	for _, grp := range p.byHistory(targets) {
		g := history.Generation{RunID: p.runID}
		if !p.req.AtDependents && grp.at.String() == t.base.String() {
			g.Previous = t.previous
		}
		for _, i := range grp.targets {
			tg := targets[i]
			g.CascadeID, g.Origin, g.Chain = tg.Cascade.Origin, tg.Cascade.Origin, tg.Cascade.Chain
			g.Dispatches = append(g.Dispatches, history.FromOutcome(outcomes[i], now))
		}
		if err := d.History.Record(rctx, grp.at, g); err != nil {
			errs = append(errs, exitcode.AsPartial(fmt.Errorf("recording the cascade history of %s (the dispatches above happened; a re-run may repeat them): %w", grp.at.Short(), err)))
		}
	}
	return errors.Join(errs...)
}

func imagesByName(cfg *config.Config) map[string]*config.Image {
	images := make(map[string]*config.Image, len(cfg.Images))
	for i := range cfg.Images {
		images[cfg.Images[i].Name] = &cfg.Images[i]
	}
	return images
}

// targetsOf turns a plan's dispatch actions into dispatch targets. Each
// carries the full chain from the origin: the tier's chain, then the
// dependents between the tier's base and it.
func targetsOf(cfg *config.Config, pl *plan.Plan, t tierInfo, origin string) []dispatch.Target {
	var out []dispatch.Target
	deps := dependentsByName(pl)
	images := imagesByName(cfg)
	paths := map[string][]string{}
	for _, pd := range pl.Dispatches() {
		paths[pd.Name] = pd.Path
	}
	for _, d := range pl.Dependents {
		if d.Action != plan.ActionDispatch {
			continue
		}
		im, ok := images[d.Name]
		if !ok {
			continue
		}
		ref, err := imageref.Parse(im.Image)
		if err != nil {
			continue // validated with the config
		}
		baseName := ""
		if _, ok := images[d.Base]; ok {
			baseName = d.Base
		}
		// A deeper dependent whose own base is current in the registry is
		// stale against that base, at the digest it has now.
		base := t.base
		if parent, ok := deps[d.Base]; ok && parent.Digest != "" {
			if pim, ok := images[parent.Name]; ok {
				if pref, err := imageref.Parse(pim.Image); err == nil {
					pref.Digest = imageref.Digest(parent.Digest)
					base = pref
				}
			}
		}
		out = append(out, dispatch.Target{
			Name:    d.Name,
			Image:   ref,
			Rebuild: im.Rebuild,
			Base:    dispatch.BaseRef{Name: baseName, Ref: base},
			Cascade: dispatch.Cascade{
				ID:     dispatch.DedupKey(d.Name, base.Digest),
				Depth:  t.depth + d.Depth,
				Chain:  append(slices.Clone(t.chain), paths[d.Name]...),
				Origin: origin,
			},
		})
	}
	return out
}

// dependentsByName indexes a plan's dependents by name.
func dependentsByName(p *plan.Plan) map[string]plan.Dependent {
	m := make(map[string]plan.Dependent, len(p.Dependents))
	for _, d := range p.Dependents {
		if _, dup := m[d.Name]; !dup {
			m[d.Name] = d
		}
	}
	return m
}
