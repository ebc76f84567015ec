package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/imagecascade/cascade/internal/engine"
	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/imageref"
	"github.com/imagecascade/cascade/internal/report"
	cascaderun "github.com/imagecascade/cascade/internal/run"
	"github.com/imagecascade/cascade/internal/wire"
)

// imageFlags are the flags every command about one updated image shares.
type imageFlags struct {
	image     string
	digest    string
	config    string
	workspace string
	output    string
}

func (f *imageFlags) register(cmd *cobra.Command, outputs string) {
	fl := cmd.Flags()
	fl.StringVar(&f.image, "image", "", "the updated image: name:tag, name@sha256:… or name:tag@sha256:… (required)")
	fl.StringVar(&f.digest, "digest", "", "its new digest (sha256:…); resolved from the registry with a HEAD request when omitted")
	fl.StringVar(&f.config, "config", "", "config file (default: cascade.yaml, then .github/cascade.yaml, in the workspace)")
	fl.StringVar(&f.workspace, "workspace", ".", "folder holding the config, Dockerfiles and manifests")
	fl.StringVarP(&f.output, "output", "o", "text", "output format: "+outputs)
}

// updatedRef validates --image and --digest before anything else happens:
// a malformed reference or digest, or two digests that disagree, are
// invalid input (exit 2) with no network call made.
func (f *imageFlags) updatedRef() (imageref.Ref, error) {
	if f.image == "" {
		return imageref.Ref{}, exitcode.AsInvalid(fmt.Errorf("--image is required (or CASCADE_IMAGE)"))
	}
	ref, err := imageref.Parse(f.image)
	if err != nil {
		return ref, exitcode.AsInvalid(fmt.Errorf("--image: %w", err))
	}
	if f.digest != "" {
		d, err := imageref.ParseDigest(f.digest)
		if err != nil {
			return ref, exitcode.AsInvalid(fmt.Errorf("--digest: %w", err))
		}
		if ref.Digest != "" && ref.Digest != d {
			return ref, exitcode.AsInvalid(fmt.Errorf("--image has digest %s but --digest is %s", ref.Digest, d))
		}
		ref.Digest = d
	}
	return ref, nil
}

func newPlanCmd(g *globals) *cobra.Command {
	var f imageFlags
	var dispatchUnknown bool
	var clusters clusterFlags
	cmd := &cobra.Command{
		Use:   "plan --image REF",
		Short: "Show which images built on REF are stale and what would be rebuilt (no side effects)",
		Long: `plan resolves the updated image's digest, finds every image built on it
(directly and transitively) from cascade.yaml, the Dockerfiles it names and the
dependents that declare themselves in its discover: sources (annotated Tekton
Pipelines, repositories carrying a topic; GITHUB_TOKEN, GITHUB_API_URL,
KUBECONFIG), and
decides for each whether it is stale (built on an older digest), current, or
unknown — with the evidence (OCI base annotations, config labels, shared
layers, a Dockerfile digest pin) and the reason. It never changes anything.

It also runs the checks cascade run makes before sending anything — the blast
radius over the whole cascade (tiers that in-registry rebases open included),
the depth limit and loops, every rebuild template rendered for its target —
and lists what a run would refuse, exiting as that run would.

With a clusters: section in the config it lists the live workloads that follow
REF's repository: those that would roll to the new digest (each change checked
by a server-side dry run, which changes nothing) and why the others would not
(not opted in, paused trigger, another tag, owned by Argo CD or Flux, current).

Exit codes: 0 planned (also when nothing is stale), 2 invalid input or config
(or a template that fails for a target), 4 registry unavailable (safe to
re-run), 5 a run would be refused (blast radius, depth, cycle, host not allowed).`,
		Example: `  # Locally, before wiring anything up:
  cascade plan --image registry.example.com/acme/httpd-base:latest

  # GitHub Actions, right after the base image build (digest from the build step):
  cascade plan --image ghcr.io/acme/httpd-base:latest \
    --digest "${{ steps.build.outputs.digest }}" -o markdown >> "$GITHUB_STEP_SUMMARY"

  # Tekton, chained after buildah (params passed as env, never in the script):
  #   env: [{name: CASCADE_IMAGE, value: $(tasks.build.results.IMAGE_URL)},
  #         {name: CASCADE_DIGEST, value: $(tasks.build.results.IMAGE_DIGEST)}]
  cascade plan -o json > "$(results.plan.path)"

  # Machine-readable, for scripts:
  cascade plan --image quay.io/centos/centos:7 -o json | jq '.dependents[] | select(.status=="stale") | .name'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			updated, err := f.updatedRef()
			if err != nil {
				return err
			}
			format, err := report.ParseFormat(f.output, report.Text, report.JSON, report.Markdown)
			if err != nil {
				return err
			}
			// Phase 1 of a run, as a dry run: the plan, and every refusal a
			// run would make over limits, depth, loops and templates.
			// Credentials are the run's environment's, and the history is
			// not read: plan asks the registry only what planning needs.
			o := g.wireOptions(f, writeFlags{}, true)
			o.Kubeconfig, o.NoClusters = clusters.kubeconfig, !clusters.enabled
			d, err := wire.PlanDeps(o)
			if err != nil {
				return err
			}
			d.Progress = g.progress()
			p, err := cascaderun.Prepare(cmd.Context(), d, cascaderun.Request{Image: updated, DryRun: true, DispatchUnknown: dispatchUnknown})
			if err != nil {
				return err
			}
			if err := report.Plan(g.streams.Out, p.Report().Plan, format); err != nil {
				return err
			}
			return p.Refused
		},
	}
	f.register(cmd, "text, json, markdown")
	cmd.Flags().BoolVar(&dispatchUnknown, "dispatch-unknown", false, "plan to rebuild dependents whose state is unknown too")
	clusters.register(cmd.Flags(), true)
	return cmd
}

func newGraphCmd(g *globals) *cobra.Command {
	var cfgPath, workspace, output string
	cmd := &cobra.Command{
		Use:   "graph",
		Short: "Draw the whole image stream: which image is built on which",
		Long: `graph reads cascade.yaml and the Dockerfiles it names and draws every image
and the bases it is built on — external bases (not built by anyone in the
config) dashed. A dependency cycle is refused (exit 5).

It makes no network call, unless the config has a discover: section: then the
dependents that declare themselves (annotated Tekton Pipelines, repositories
carrying the topic) are read first and drawn with where they were declared
(GITHUB_TOKEN and GITHUB_API_URL, KUBECONFIG or in-cluster).`,
		Example: `  cascade graph                      # Mermaid, paste into Markdown
  cascade graph -o dot | dot -Tsvg > stream.svg
  cascade graph -o json | jq '.edges'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := report.ParseFormat(output, report.Mermaid, report.Dot, report.JSON)
			if err != nil {
				return err
			}
			cfg, err := wire.LoadConfig(workspace, cfgPath)
			if err != nil {
				return err
			}
			if err := discoverForGraph(cmd.Context(), g, cfg); err != nil {
				return err
			}
			e := &engine.Engine{Config: cfg, Workspace: workspace}
			gr, err := e.Graph()
			if err != nil {
				return err
			}
			rebuild, declared := map[string]string{}, map[string]string{}
			for _, im := range cfg.Images {
				rebuild[im.Name] = im.Rebuild.Kind()
				declared[im.Name] = im.DeclaredBy
			}
			return report.GraphDeclared(g.streams.Out, gr, rebuild, declared, format)
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "config file (default: cascade.yaml, then .github/cascade.yaml, in the workspace)")
	cmd.Flags().StringVar(&workspace, "workspace", ".", "folder holding the config and Dockerfiles")
	cmd.Flags().StringVarP(&output, "output", "o", "mermaid", "output format: mermaid, dot, json")
	return cmd
}
