package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/imagecascade/cascade/internal/config"
	"github.com/imagecascade/cascade/internal/dispatch"
	"github.com/imagecascade/cascade/internal/engine"
	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/history"
	"github.com/imagecascade/cascade/internal/registry"
	"github.com/imagecascade/cascade/internal/report"
	cascaderun "github.com/imagecascade/cascade/internal/run"
)

type runFlags struct {
	imageFlags
	writeFlags
	dryRun          bool
	maxDispatches   int
	dispatchUnknown bool
	cascadeContext  string
	kubeconfig      string
	allowRollback   bool
	claimSettle     time.Duration
	clusters        clusterFlags
	// maxDispatchesSet: --max-dispatches (or its variable) was given.
	maxDispatchesSet bool
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
cascade update), writing them back as --write says. With a clusters: section in
the config, it also rolls the live workloads (Deployment, StatefulSet, DaemonSet,
CronJob, DeploymentConfig) that opted in to REF — the image.openshift.io/triggers
annotation or cascade.dev/follow — to REF's new digest, by server-side apply,
after a server-side dry run of every change before anything is sent.

Safety: more dispatches and rollouts than limits.maxDispatches (or --max-dispatches)
is refused before any call (exit 5), as is a failed server-side dry run or a
workload that both the manifests and a cluster would change; a dependent already in the incoming cascade chain, or
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
			f.maxDispatchesSet = cmd.Flags().Changed("max-dispatches")
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
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig for Tekton rebuilds and the config's clusters: (default: $KUBECONFIG, else in-cluster)")
	f.clusters.register(fl, false)
	fl.DurationVar(&f.claimSettle, "claim-settle", history.DefaultClaimSettle, "how long a run waits, after claiming its rebuilds in the registry, for concurrent runs' claims to show (raise it over a slow registry)")
	fl.BoolVar(&f.allowRollback, "allow-rollback", false, "go ahead even when the digest is older than the tag's current one or one already cascaded (refused otherwise, exit 5)")
	return cmd
}

func runCascade(ctx context.Context, g *globals, f *runFlags) error {
	updated, err := f.updatedRef()
	if err != nil {
		return err
	}
	format, err := report.ParseFormat(f.output, report.Text, report.JSON, report.Markdown)
	if err != nil {
		return err
	}
	d, req, err := newRunDeps(g, f)
	if err != nil {
		return err
	}
	req.Image = updated
	out, err := cascaderun.Run(ctx, d, req)
	if out == nil {
		return err // nothing planned: nothing to report
	}
	if rerr := report.RunReport(g.streams.Out, out, format); rerr != nil && err == nil {
		err = rerr
	}
	return err
}

// newRunDeps turns the flags into a run request and builds the real
// clients the run needs: the registry, the history store, the dispatchers
// and the workspace's manifests. This is the only place `cascade run` and
// `cascade import` read flags and the environment.
func newRunDeps(g *globals, f *runFlags) (*cascaderun.Deps, cascaderun.Request, error) {
	var req cascaderun.Request
	if err := f.writeFlags.validate(); err != nil {
		return nil, req, err
	}
	if f.claimSettle <= 0 {
		return nil, req, exitcode.AsInvalid(fmt.Errorf("--claim-settle %s: must be positive", f.claimSettle))
	}
	if f.maxDispatchesSet && f.maxDispatches < 1 {
		return nil, req, exitcode.AsInvalid(fmt.Errorf("--max-dispatches %d: must be at least 1 (leave it unset to use limits.maxDispatches)", f.maxDispatches))
	}
	incoming, err := incomingCascade(f.cascadeContext)
	if err != nil {
		return nil, req, err
	}
	cfg, err := loadConfig(f.workspace, f.config)
	if err != nil {
		return nil, req, err
	}
	// Every webhook secret is known to the redactor before anything is
	// sent or printed, not only once its own dispatch reads it.
	for _, im := range cfg.Images {
		if w := im.Rebuild.Webhook; w != nil && w.SecretEnv != "" && g.redactor != nil {
			g.redactor.Add(os.Getenv(w.SecretEnv))
		}
	}
	res, err := newResolver(g, cfg)
	if err != nil {
		return nil, req, err
	}
	hist := history.New(history.Options{Transport: res.Transport(), Keychain: res.Keychain(), Insecure: res.Insecure})
	f.clusters.kubeconfig = f.kubeconfig
	clusters, err := clusterTargets(f.clusters, cfg, g.redactor)
	if err != nil {
		return nil, req, err
	}
	d := &cascaderun.Deps{
		Config:       cfg,
		Planner:      &engine.Engine{Config: cfg, Workspace: f.workspace, Resolver: res, Log: g.logger()},
		Tags:         res,
		History:      hist,
		Dispatchers:  &dispatchers{cfg: cfg, reg: res, flags: f},
		Claims:       hist,
		ClaimOptions: history.ClaimOptions{Settle: f.claimSettle},
		Manifests: &cascaderun.WorkspaceManifests{Config: cfg, Workspace: f.workspace, Write: f.writeFlags.writeBack(f.workspace),
			Lock: f.writeFlags.lock(f.workspace)},
		Clusters: clusters,
		Log:      g.logger(),
	}
	req = cascaderun.Request{Incoming: incoming, DryRun: f.dryRun, DispatchUnknown: f.dispatchUnknown,
		MaxDispatches: f.maxDispatches, AllowRollback: f.allowRollback}
	return d, req, nil
}

// dispatchers builds each kind's dispatcher once, only when a target needs it.
type dispatchers struct {
	cfg   *config.Config
	reg   *registry.Client
	flags *runFlags
	mu    sync.Mutex
	built map[string]dispatch.Dispatcher
}

// For returns the dispatcher of kind, building it the first time.
func (d *dispatchers) For(kind string) (dispatch.Dispatcher, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if ds, ok := d.built[kind]; ok {
		return ds, nil
	}
	ds, err := d.build(kind)
	if err != nil {
		return nil, err
	}
	if d.built == nil {
		d.built = map[string]dispatch.Dispatcher{}
	}
	d.built[kind] = ds
	return ds, nil
}

func (d *dispatchers) build(kind string) (dispatch.Dispatcher, error) {
	switch kind {
	case "github":
		tok := githubToken()
		if tok == "" && !d.flags.dryRun {
			return nil, exitcode.AsInvalid(fmt.Errorf("images rebuilt through GitHub need a token: set GITHUB_TOKEN or CASCADE_GITHUB_TOKEN (one that can dispatch to their repositories)"))
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
			return nil, exitcode.AsInvalid(fmt.Errorf("images rebuilt by Tekton need a cluster: loading the Kubernetes config (--kubeconfig, KUBECONFIG or in-cluster): %w", err))
		}
		return dispatch.NewTekton(rc, dispatch.TektonOptions{})
	case "webhook":
		return dispatch.NewWebhook(dispatch.WebhookOptions{}), nil
	case "rebase":
		return dispatch.NewRebase(dispatch.RebaseOptions{Transport: d.reg.Transport(), Keychain: d.reg.Keychain(), Insecure: d.reg.Insecure}), nil
	}
	return nil, exitcode.AsInvalid(fmt.Errorf("rebuild kind %q: not known", kind))
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
