package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/report"
	cascaderun "github.com/imagecascade/cascade/internal/run"
	"github.com/imagecascade/cascade/internal/wire"
)

type updateFlags struct {
	imageFlags
	writeFlags
	paths    []string
	dryRun   bool
	clusters clusterFlags
}

func newUpdateCmd(g *globals) *cobra.Command {
	var f updateFlags
	cmd := &cobra.Command{
		Use:   "update --image REPO:TAG@sha256:DIGEST",
		Short: "Pin a new digest in the deployment manifests that track REPO:TAG (and roll the config's opted-in live workloads)",
		Long: `update finds the references to REPO:TAG in the workspace's manifests and pins
them to the new digest, keeping the tag and the name as written:

  REPO:TAG, REPO:TAG@sha256:old   -> REPO:TAG@sha256:new
  REPO@sha256:old                 -> REPO@sha256:new
  REPO (no tag)                   -> counts as REPO:latest
  REPO:OTHERTAG                   -> left alone, reported as skipped

Formats: Kubernetes workloads (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet,
Job, CronJob, ReplicationController, DeploymentConfig; containers, initContainers,
ephemeralContainers; List), kustomization images (digest set, newTag kept), Helm
values (image.repository + tag/digest; paths configurable), Dockerfile FROM pins
(ARG defaults included) and the OpenShift image.openshift.io/triggers annotation.
A line with the comment "# cascade:ignore" is left alone.

Only the bytes of each changed value move: comments, order, quoting, blank lines,
CRLF, BOM and anchors survive. Each result is re-parsed and checked, then written
atomically. Files: --paths, else the config's manifests paths, else every YAML
file and Dockerfile in the workspace (skipping .git, vendor, node_modules).
Paths never leave the workspace (exit 5).

Writing is safe next to other writers: concurrent cascade runs on one workspace
take turns (an advisory lock on the workspace folder, waited for up to 5 minutes),
each file's bytes are checked just before it is replaced (bytes appended
meanwhile are kept; any other change fails that file), and --write commit
refuses (exit 2, nothing written) when a file it must change has uncommitted
edits, so cascade's commit only ever holds cascade's change. A push that loses
a race is recomputed in a private worktree: your working tree is never reset.

With a clusters: section in the config (docs/contract.md, Cluster target),
update also rolls the live workloads that opted in to REPO:TAG, as cascade run
does: every cluster is listed and every rollout dry-run on the API server before
any file is written (a refusal — a failed dry run, rollouts over
limits.maxDispatches, an object both a file and the cluster would change — is
exit 5 with nothing written or applied); then the files are pinned and written
back, and only then the workloads are applied by server-side apply and the
rollouts recorded in the image's history. A re-run finds them current and
changes nothing. --clusters=false leaves every cluster alone; without a config
there are none.`,
		Example: `  cascade update --image registry.example.com/acme/app-a:latest --dry-run   # the digest: one HEAD to the registry
  cascade update --image ghcr.io/acme/app-b:v2 --digest "$DIGEST" --paths 'deploy/**/*.yaml' -o json

  # In the app's pipeline, after its image is pushed: commit and push (a lost race is retried)
  cascade update --image "$IMAGE" --digest "$DIGEST" --write commit --push

  # Or propose the change as a pull request (token in GITHUB_TOKEN, never a flag)
  cascade update --image "$IMAGE" --digest "$DIGEST" --write pull-request --repository acme/deploy

  # Pin the files only, leaving the config's clusters: alone
  cascade update --image "$IMAGE" --digest "$DIGEST" --clusters=false`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ref, err := f.updatedRef()
			if err != nil {
				return err
			}
			if ref.Tag == "" {
				return exitcode.AsInvalid(fmt.Errorf("--image %s: a tag is required (REPO:TAG@sha256:…): cascade pins the references that track a tag", f.image))
			}
			format, err := report.ParseFormat(f.output, report.Text, report.JSON, report.Markdown)
			if err != nil {
				return err
			}
			// Flags and environment become options once; run.Update
			// orders the guard, the pin and the write-back.
			o := g.wireOptions(f.imageFlags, f.writeFlags, f.dryRun)
			o.Kubeconfig, o.NoClusters = f.clusters.kubeconfig, !f.clusters.enabled
			d, cfg, err := wire.UpdateDeps(o, f.paths)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if ref, err = wire.ResolveDigest(ctx, o, cfg, ref); err != nil {
				return err
			}
			res, err := cascaderun.Update(ctx, d, ref, f.dryRun)
			if res != nil && res.Manifests != nil {
				if rerr := report.Update(g.streams.Out, ref.Short()+"@"+string(ref.Digest), res.Manifests, f.dryRun, res.WriteBack, res.Workloads, format); rerr != nil && err == nil {
					err = rerr
				}
			}
			return err
		},
	}
	f.imageFlags.register(cmd, "text, json, markdown")
	cmd.Flags().StringSliceVar(&f.paths, "paths", nil, "globs of files to update, relative to the workspace (repeatable; ** matches folders)")
	cmd.Flags().BoolVar(&f.dryRun, "dry-run", false, "show the changes and the diff, write nothing")
	f.writeFlags.register(cmd)
	f.clusters.register(cmd.Flags(), true)
	return cmd
}
