package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/imagecascade/cascade/internal/config"
	"github.com/imagecascade/cascade/internal/dispatch"
	"github.com/imagecascade/cascade/internal/engine"
	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/history"
	"github.com/imagecascade/cascade/internal/imageref"
	"github.com/imagecascade/cascade/internal/plan"
	"github.com/imagecascade/cascade/internal/registry"
	"github.com/imagecascade/cascade/internal/report"
)

type runFlags struct {
	imageFlags
	writeFlags
	dryRun          bool
	maxDispatches   int
	dispatchUnknown bool
	cascadeContext  string
	kubeconfig      string
}

func newRunCmd(g *globals) *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run --image REF",
		Short: "Plan, rebuild the stale dependents of REF, and pin REF's new digest in the manifests",
		Long: `run is the step that follows a base-image build. It plans (see cascade plan),
then dispatches the rebuild of every stale dependent the way cascade.yaml says —
GitHub repository_dispatch or workflow_dispatch, a Tekton PipelineRun, a signed
webhook, or an in-registry rebase (whose own dependents cascade in the same run,
tier by tier) — and pins REF's new digest in the workspace's manifests (see
cascade update), writing them back as --write says.

Safety: more dispatches than limits.maxDispatches (or --max-dispatches) is refused
before any call (exit 5); a dependent already in the incoming cascade chain, or
deeper than limits.maxDepth, is refused (exit 5); a failed dispatch never stops the
others (exit 3, every outcome reported); each dispatch has a dedup key
(dependent + new base digest), so a re-run does not start a rebuild twice where
the backend can tell (Tekton: the PipelineRun name).

Tokens: GitHub from GITHUB_TOKEN or CASCADE_GITHUB_TOKEN (never a flag); Kubernetes
from --kubeconfig, KUBECONFIG or the in-cluster service account; registries from
the Docker config keychain; webhook secrets from the env var named in the config.`,
		Example: `  # Preview: the plan plus the manifest diff, nothing written or dispatched
  cascade run --image registry.example.com/acme/httpd-base:latest --dry-run

  # GitHub Actions, after the build (the token can dispatch to the dependents' repositories):
  cascade run --image ghcr.io/acme/httpd-base:latest --digest "${{ steps.build.outputs.digest }}"

  # In an app's pipeline started by a repository_dispatch: the cascade chain is read
  # from the event, and the app's own manifests move to its new digest in a PR
  cascade run --image ghcr.io/acme/app-b:latest --digest "$DIGEST" --write pull-request`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCascade(cmd.Context(), g, &f)
		},
	}
	f.imageFlags.register(cmd, "text, json, markdown")
	f.writeFlags.register(cmd)
	fl := cmd.Flags()
	fl.BoolVar(&f.dryRun, "dry-run", false, "plan and show the manifest diff; dispatch and write nothing")
	fl.IntVar(&f.maxDispatches, "max-dispatches", 0, "blast radius: refuse more dispatches than this (default: limits.maxDispatches)")
	fl.BoolVar(&f.dispatchUnknown, "dispatch-unknown", false, "also rebuild dependents whose state is unknown")
	fl.StringVar(&f.cascadeContext, "cascade-context", "", `the incoming cascade as JSON ({"id","depth","chain","origin"}); default: read from the GitHub event that started the job`)
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig for Tekton rebuilds (default: $KUBECONFIG, else in-cluster)")
	return cmd
}

// runResult is everything a run did, for the report.
type runResult = report.Run

func runCascade(ctx context.Context, g *globals, f *runFlags) error {
	updated, err := f.updatedRef()
	if err != nil {
		return err
	}
	format, err := report.ParseFormat(f.output, report.Text, report.JSON, report.Markdown)
	if err != nil {
		return err
	}
	c, err := newCascader(g, f)
	if err != nil {
		return err
	}
	out := &runResult{SchemaVersion: 1, DryRun: f.dryRun, Dispatches: []dispatch.Outcome{}}
	render := func() error { return report.RunReport(g.streams.Out, out, format) }
	err = c.cascade(ctx, updated, out)
	if out.Plan == nil {
		return err // nothing planned: nothing to report
	}
	if err != nil || out.Note != "" {
		if rerr := render(); rerr != nil && err == nil {
			err = rerr
		}
		return errors.Join(err, dispatch.Summarize(out.Dispatches))
	}
	updated.Digest = imageref.Digest(out.Plan.Digest)
	// The updated image's own manifests move to its new digest.
	var manifestErr error
	if updated.Tag != "" {
		mres, err := updateManifests(ctx, c.cfg, f.workspace, nil, updated, f.dryRun)
		if err != nil {
			_ = render()
			return err
		}
		out.Manifests = &report.UpdateJSON{SchemaVersion: 1, Image: updated.Short() + "@" + string(updated.Digest), DryRun: f.dryRun,
			Changed: mres.Changed(), Files: mres.Files}
		if mres.Err() == nil && !f.dryRun {
			wb, err := writeBack(ctx, f.writeFlags, f.workspace, updated, mres, func(ctx context.Context, dir string) ([]string, error) {
				r, err := updateManifests(ctx, c.cfg, dir, nil, updated, false)
				if err != nil {
					return nil, err
				}
				return r.Changed(), r.Err()
			})
			out.Manifests.WriteBack = wb
			if err != nil {
				_ = render()
				return errors.Join(dispatch.Summarize(out.Dispatches), err)
			}
		}
		manifestErr = mres.Err()
	}
	if err := render(); err != nil {
		return err
	}
	return errors.Join(dispatch.Summarize(out.Dispatches), manifestErr)
}

// cascader plans and dispatches cascades for one config: the part of
// `cascade run` that `cascade import` shares.
type cascader struct {
	cfg      *config.Config
	e        *engine.Engine
	ds       *dispatchers
	f        *runFlags
	incoming dispatch.Cascade
	limit    int
	// history makes re-runs idempotent: a dedup key dispatched
	// successfully before is not dispatched again. record says whether
	// this run writes its own generation (it needs push access to the
	// updated image's repository: true for run, false for import of
	// upstream bases).
	history *history.Store
	record  bool
}

func newCascader(g *globals, f *runFlags) (*cascader, error) {
	if err := f.writeFlags.validate(); err != nil {
		return nil, err
	}
	if f.maxDispatches < 0 {
		return nil, exitcode.AsInvalid(fmt.Errorf("--max-dispatches must be positive"))
	}
	incoming, err := incomingCascade(f.cascadeContext)
	if err != nil {
		return nil, err
	}
	cfg, err := loadConfig(f.workspace, f.config)
	if err != nil {
		return nil, err
	}
	res, err := newResolver(g, cfg)
	if err != nil {
		return nil, err
	}
	limit := cfg.Limits.MaxDispatches
	if f.maxDispatches > 0 {
		limit = f.maxDispatches
	}
	return &cascader{
		cfg:      cfg,
		e:        &engine.Engine{Config: cfg, Workspace: f.workspace, Resolver: res, Log: g.logger()},
		ds:       &dispatchers{cfg: cfg, reg: res, flags: f},
		f:        f,
		incoming: incoming,
		limit:    limit,
		history:  history.New(history.Options{Transport: res.Transport(), Keychain: res.Keychain(), Insecure: res.Insecure}),
		record:   true,
	}, nil
}

// cascade plans updated and dispatches its stale dependents, tier by tier
// through rebases, recording everything in out. A refusal (blast radius,
// depth, loop) comes back as an error with out.Plan set.
func (c *cascader) cascade(ctx context.Context, updated imageref.Ref, out *report.Run) error {
	p, err := c.e.Plan(ctx, updated, engine.PlanOptions{DispatchUnknown: c.f.dispatchUnknown})
	if err != nil {
		return err
	}
	out.Plan = p
	updated.Digest = imageref.Digest(p.Digest)
	root := updated.Name()
	if len(p.Roots) > 0 {
		root = p.Roots[0]
	}
	// Our own dispatch re-triggered us for the same base (R27): the chain
	// already holds it. Nothing to do.
	if slices.Contains(c.incoming.Chain, root) {
		out.Note = fmt.Sprintf("%s is already in the incoming cascade chain (%s): this run was started by cascade's own dispatch for the same base; nothing to do", root, strings.Join(c.incoming.Chain, " → "))
		return nil
	}
	if err := p.CheckBlastRadius(c.limit - len(out.Dispatches)); err != nil {
		return err
	}
	origin := c.incoming.Origin
	if origin == "" {
		origin = updated.Name() + "@" + string(updated.Digest)
	}
	chain := append(slices.Clone(c.incoming.Chain), root)
	queue := []tier{{plan: p, base: updated, chain: chain, depth: c.incoming.Depth}}
	var errs error
	for len(queue) > 0 {
		t := queue[0]
		queue = queue[1:]
		targets := targetsOf(c.cfg, t, origin)
		if len(targets) == 0 {
			continue
		}
		// What an earlier run already dispatched for a base digest is not
		// dispatched again; what failed is retried. A tier's targets
		// usually share one base; a deeper dependent may have its own.
		done := map[string]bool{}
		for _, b := range basesOf(targets) {
			gens, err := c.history.Load(ctx, b)
			if err != nil {
				return fmt.Errorf("reading the cascade history of %s: %w", b.Short(), err)
			}
			for k := range history.Dispatched(gens) {
				done[k] = true
			}
		}
		var todo []dispatch.Target
		for _, tg := range targets {
			if done[tg.Key()] {
				out.Dispatches = append(out.Dispatches, dispatch.Outcome{Name: tg.Name, Kind: tg.Rebuild.Kind(), Key: tg.Key(),
					Status: dispatch.StatusAlreadyDispatched, Detail: "recorded in the cascade history"})
			} else {
				todo = append(todo, tg)
			}
		}
		if len(todo) == 0 {
			continue
		}
		targets = todo
		dmap, err := c.ds.forTargets(targets)
		if err != nil {
			return err
		}
		outcomes, err := dispatch.Run(ctx, targets, dmap, dispatch.RunOptions{Limit: c.limit - len(out.Dispatches), MaxDepth: c.cfg.Limits.MaxDepth, DryRun: c.f.dryRun})
		if err != nil {
			return err
		}
		out.Dispatches = append(out.Dispatches, outcomes...)
		if c.record && !c.f.dryRun {
			if err := c.recordTier(ctx, t, targets, outcomes); err != nil {
				errs = errors.Join(errs, err)
			}
		}
		// A rebased dependent is itself an updated image: cascade it now.
		for i, o := range outcomes {
			if o.NewDigest == "" || !o.Status.OK() {
				continue
			}
			next := targets[i].Image
			next.Digest = o.NewDigest
			sub, err := c.e.Plan(ctx, next, engine.PlanOptions{DispatchUnknown: c.f.dispatchUnknown})
			if err != nil {
				errs = errors.Join(errs, fmt.Errorf("planning the cascade of rebased %s: %w", o.Name, err))
				continue
			}
			out.Cascaded = append(out.Cascaded, sub)
			queue = append(queue, tier{plan: sub, base: next, chain: append(slices.Clone(t.chain), o.Name), depth: t.depth + 1})
		}
	}
	return errs
}

// recordTier writes this run's generation for each base its targets were
// dispatched against: the previous digest its stale dependents were built
// on, and each dispatch's outcome.
func (c *cascader) recordTier(ctx context.Context, t tier, targets []dispatch.Target, outcomes []dispatch.Outcome) error {
	now := time.Now()
	deps := dependentsByName(t.plan)
	var errs error
	for _, b := range basesOf(targets) {
		g := history.Generation{}
		for i, tg := range targets {
			if tg.Base.Ref.String() != b.String() {
				continue
			}
			g.CascadeID, g.Origin, g.Chain = tg.Cascade.Origin, tg.Cascade.Origin, tg.Cascade.Chain
			g.Dispatches = append(g.Dispatches, history.FromOutcome(outcomes[i], now))
			if d, ok := deps[tg.Name]; ok && g.Previous == "" && d.BuiltOn != "" && d.BuiltOn != string(b.Digest) {
				g.Previous = d.BuiltOn
			}
		}
		if err := c.history.Record(ctx, b, g); err != nil {
			errs = errors.Join(errs, fmt.Errorf("recording the cascade history of %s (the dispatches above happened): %w", b.Short(), err))
		}
	}
	return errs
}

// basesOf lists the distinct bases of targets, in order.
func basesOf(targets []dispatch.Target) []imageref.Ref {
	var out []imageref.Ref
	seen := map[string]bool{}
	for _, t := range targets {
		if k := t.Base.Ref.String(); !seen[k] {
			seen[k] = true
			out = append(out, t.Base.Ref)
		}
	}
	return out
}

// tier is one round of dispatches: the dependents of one updated image.
type tier struct {
	plan  *plan.Plan
	base  imageref.Ref
	chain []string
	depth int
}

// targetsOf turns a plan's dispatch actions into dispatch targets.
func targetsOf(cfg *config.Config, t tier, origin string) []dispatch.Target {
	var out []dispatch.Target
	deps := dependentsByName(t.plan)
	images := make(map[string]*config.Image, len(cfg.Images))
	for i := range cfg.Images {
		images[cfg.Images[i].Name] = &cfg.Images[i]
	}
	for _, d := range t.plan.Dependents {
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
				Chain:  slices.Clone(t.chain),
				Origin: origin,
			},
		})
	}
	return out
}

// dependentsByName indexes a plan's dependents by name (lookups in loops
// over them stay linear for thousands of dependents).
func dependentsByName(p *plan.Plan) map[string]plan.Dependent {
	m := make(map[string]plan.Dependent, len(p.Dependents))
	for _, d := range p.Dependents {
		if _, dup := m[d.Name]; !dup {
			m[d.Name] = d
		}
	}
	return m
}

// dispatchers builds each kind's dispatcher once, only when a target needs it.
type dispatchers struct {
	cfg   *config.Config
	reg   *registry.Client
	flags *runFlags
	built map[string]dispatch.Dispatcher
}

func (d *dispatchers) forTargets(targets []dispatch.Target) (map[string]dispatch.Dispatcher, error) {
	if d.built == nil {
		d.built = map[string]dispatch.Dispatcher{}
	}
	var errs []error
	for _, t := range targets {
		kind := t.Rebuild.Kind()
		if _, ok := d.built[kind]; ok {
			continue
		}
		ds, err := d.build(kind, t.Name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		d.built[kind] = ds
	}
	return d.built, errors.Join(errs...)
}

func (d *dispatchers) build(kind, forName string) (dispatch.Dispatcher, error) {
	switch kind {
	case "github":
		tok := githubToken()
		if tok == "" && !d.flags.dryRun {
			return nil, exitcode.AsInvalid(fmt.Errorf("%s is rebuilt through GitHub: set GITHUB_TOKEN or CASCADE_GITHUB_TOKEN (a token that can dispatch to its repository)", forName))
		}
		api := d.flags.githubAPIURL
		if api == "" {
			api = os.Getenv("GITHUB_API_URL")
		}
		return dispatch.NewGitHub(dispatch.GitHubOptions{Token: tok, APIURL: api})
	case "tekton":
		if d.flags.dryRun {
			return noopDispatcher(kind), nil
		}
		rules := clientcmd.NewDefaultClientConfigLoadingRules()
		if d.flags.kubeconfig != "" {
			rules.ExplicitPath = d.flags.kubeconfig
		}
		rc, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
		if err != nil {
			return nil, exitcode.AsInvalid(fmt.Errorf("%s is rebuilt by Tekton: loading the Kubernetes config (--kubeconfig, KUBECONFIG or in-cluster): %w", forName, err))
		}
		return dispatch.NewTekton(rc, dispatch.TektonOptions{})
	case "webhook":
		return dispatch.NewWebhook(dispatch.WebhookOptions{}), nil
	case "rebase":
		return dispatch.NewRebase(dispatch.RebaseOptions{Transport: d.reg.Transport(), Keychain: d.reg.Keychain(), Insecure: d.reg.Insecure}), nil
	}
	return nil, exitcode.AsInvalid(fmt.Errorf("%s: no rebuild kind configured", forName))
}

// noopDispatcher stands in where a dry run must not build a real client.
type noopDispatcher string

func (n noopDispatcher) Kind() string { return string(n) }
func (n noopDispatcher) Dispatch(_ context.Context, t dispatch.Target) dispatch.Outcome {
	return dispatch.Outcome{Name: t.Name, Kind: string(n), Key: t.Key(), Status: dispatch.StatusSkipped, Detail: "dry run"}
}

// incomingCascade reads the cascade this run continues: --cascade-context,
// else the client_payload of the repository_dispatch (or the
// "cascade-context" input of the workflow_dispatch) that started the job.
func incomingCascade(flag string) (dispatch.Cascade, error) {
	var c dispatch.Cascade
	raw := flag
	if raw == "" {
		raw = cascadeFromEvent()
	}
	if raw == "" {
		return c, nil
	}
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, exitcode.AsInvalid(fmt.Errorf("--cascade-context: %w", err))
	}
	if c.Depth < 0 || len(c.Chain) > 1000 {
		return c, exitcode.AsInvalid(fmt.Errorf("--cascade-context: depth %d / chain of %d: out of range", c.Depth, len(c.Chain)))
	}
	return c, nil
}

func cascadeFromEvent() string {
	name, path := os.Getenv("GITHUB_EVENT_NAME"), os.Getenv("GITHUB_EVENT_PATH")
	if path == "" || (name != "repository_dispatch" && name != "workflow_dispatch") {
		return ""
	}
	data, err := os.ReadFile(path)
	if err != nil || len(data) > 1<<20 {
		return ""
	}
	var ev struct {
		ClientPayload struct {
			Cascade json.RawMessage `json:"cascade"`
		} `json:"client_payload"`
		Inputs map[string]any `json:"inputs"`
	}
	if json.Unmarshal(data, &ev) != nil {
		return ""
	}
	if len(ev.ClientPayload.Cascade) > 0 {
		return string(ev.ClientPayload.Cascade)
	}
	if s, ok := ev.Inputs["cascade-context"].(string); ok {
		return s
	}
	return ""
}
