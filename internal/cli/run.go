package cli

import (
	"context"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/imagecascade/cascade/internal/history"
	"github.com/imagecascade/cascade/internal/report"
	cascaderun "github.com/imagecascade/cascade/internal/run"
	"github.com/imagecascade/cascade/internal/wire"
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
then dispatches the rebuild of every stale dependent — listed in cascade.yaml or
declaring itself in a source its discover: section names — the way it says:
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

// newRunDeps turns the flags into a run request and the options the real
// clients are built from (internal/wire). This is the only place `cascade
// run` and `cascade import` read flags and the environment.
func newRunDeps(g *globals, f *runFlags) (*cascaderun.Deps, cascaderun.Request, error) {
	var req cascaderun.Request
	// --claim-settle and --max-dispatches were checked with every other
	// flag (flagrules.go) before the command ran.
	raw := f.cascadeContext
	if raw == "" {
		var err error
		if raw, err = cascadeFromEvent(); err != nil {
			return nil, req, err
		}
	}
	incoming, err := wire.ParseCascade("--cascade-context", raw)
	if err != nil {
		return nil, req, err
	}
	o := g.wireOptions(f.imageFlags, f.writeFlags, f.dryRun)
	o.Kubeconfig = f.kubeconfig
	o.NoClusters = !f.clusters.enabled
	o.ClaimSettle = f.claimSettle
	d, err := wire.RunDeps(o)
	if err != nil {
		return nil, req, err
	}
	d.Progress = g.progress()
	req = cascaderun.Request{Incoming: incoming, DryRun: f.dryRun, DispatchUnknown: f.dispatchUnknown,
		MaxDispatches: f.maxDispatches, AllowRollback: f.allowRollback}
	return d, req, nil
}

// wireOptions are the options of internal/wire for a command's image and
// write flags, completed from the environment: the GitHub token
// (CASCADE_GITHUB_TOKEN, else GITHUB_TOKEN; never a flag), GITHUB_API_URL
// and GITHUB_REPOSITORY.
func (g *globals) wireOptions(f imageFlags, w writeFlags, dryRun bool) wire.Options {
	api := w.githubAPIURL
	if api == "" {
		api = os.Getenv("GITHUB_API_URL")
	}
	repo := w.repository
	if repo == "" {
		repo = os.Getenv("GITHUB_REPOSITORY")
	}
	return wire.Options{
		Workspace: f.workspace, ConfigPath: f.config, DryRun: dryRun,
		GitHubToken: githubToken(), GitHubAPIURL: api,
		Write:               wire.Write{Mode: w.write, Push: w.push, Branch: w.branch, Repository: repo, Base: w.baseBranch},
		RegistryRetryBudget: g.registryRetryBudget, UserAgent: "cascade/" + Version,
		Redactor: g.redactor, Log: g.logger(),
	}
}

// cascadeFromEvent is the incoming cascade context of the workflow run
// `cascade run` runs in, from its repository_dispatch or workflow_dispatch
// event ("" when none).
func cascadeFromEvent() (string, error) {
	ev, err := wire.ReadEvent(os.Getenv("GITHUB_EVENT_NAME"), os.Getenv("GITHUB_EVENT_PATH"))
	return ev.Cascade, err
}
