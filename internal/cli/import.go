package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/history"
	"github.com/imagecascade/cascade/internal/report"
	cascaderun "github.com/imagecascade/cascade/internal/run"
)

func newImportCmd(g *globals) *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Scheduled import: cascade every external base that moved (run it from a cron workflow)",
		Long: `import is OpenShift's scheduled image import for the bases nobody in the config
builds — centos:7, golang:1.23, distroless — which change upstream without telling
you. For each such base named in cascade.yaml or a Dockerfile it resolves the
current digest (one HEAD) and, when images built on it are stale, cascades it
exactly like cascade run: dispatches their rebuilds with the same limits, dedup
keys and reports. Bases pinned by digest never move and are skipped.

Run it on a schedule; a base whose dependents are all current costs one HEAD
plus one manifest GET per dependent and dispatches nothing.`,
		Example: `  # .github/workflows/import.yml: on: {schedule: [{cron: "17 */6 * * *"}]}
  cascade import
  cascade import --dry-run -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f.maxDispatchesSet = cmd.Flags().Changed("max-dispatches")
			return importBases(cmd.Context(), g, &f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "", "config file (default: cascade.yaml, then .github/cascade.yaml, in the workspace)")
	fl.StringVar(&f.workspace, "workspace", ".", "folder holding the config and Dockerfiles")
	fl.StringVarP(&f.output, "output", "o", "text", "output format: text, json, markdown")
	fl.BoolVar(&f.dryRun, "dry-run", false, "plan only; dispatch nothing")
	fl.IntVar(&f.maxDispatches, "max-dispatches", 0, "blast radius for the whole import (default: limits.maxDispatches)")
	fl.BoolVar(&f.dispatchUnknown, "dispatch-unknown", false, "also rebuild dependents whose state is unknown")
	fl.StringVar(&f.githubAPIURL, "github-api-url", "", "GitHub API URL for GitHub Enterprise (default: $GITHUB_API_URL)")
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig for Tekton rebuilds (default: $KUBECONFIG, else in-cluster)")
	fl.DurationVar(&f.claimSettle, "claim-settle", history.DefaultClaimSettle, "how long a run waits, after claiming its rebuilds in the registry, for concurrent runs' claims to show")
	f.write = "none"
	return cmd
}

// importReport is the JSON of `cascade import`.
type importReport struct {
	SchemaVersion int           `json:"schemaVersion"`
	DryRun        bool          `json:"dryRun"`
	Bases         []*report.Run `json:"bases"`
	Skipped       []string      `json:"skipped,omitempty"`
}

func importBases(ctx context.Context, g *globals, f *runFlags) error {
	format, err := report.ParseFormat(f.output, report.Text, report.JSON, report.Markdown)
	if err != nil {
		return err
	}
	d, req, err := newRunDeps(g, f)
	if err != nil {
		return err
	}
	// Upstream bases are not ours to write to: the history of an import —
	// claims, records, dedup — lives next to each dependent instead, and
	// an import pins no manifests.
	req.AtDependents = true
	d.Manifests = nil
	// The bases of discovered dependents are imported too: discovery
	// (read once, idempotent) comes before the graph is read.
	if d.Discover != nil {
		if _, err := d.Discover.Apply(ctx, d.Config); err != nil {
			return err
		}
	}
	gr, err := d.Planner.Graph()
	if err != nil {
		return err
	}
	rep := &importReport{SchemaVersion: 1, DryRun: f.dryRun, Bases: []*report.Run{}}
	// Phase 1 for every moved base before anything is sent: the blast
	// radius is the whole import's.
	limit := d.Config.Limits.MaxDispatches
	if f.maxDispatches > 0 {
		limit = f.maxDispatches
	}
	req.MaxDispatches = 0
	var prepared []*cascaderun.Prepared
	var refusals []error
	sends := 0
	for _, n := range gr.Nodes() {
		if !n.External {
			continue
		}
		if n.Ref.Digest != "" {
			rep.Skipped = append(rep.Skipped, n.ID+": pinned by digest")
			continue
		}
		ref := n.Ref
		if ref.Tag == "" {
			ref.Tag = ref.EffectiveTag()
		}
		r := req
		r.Image = ref
		p, err := cascaderun.Prepare(ctx, d, r)
		if err != nil {
			_ = writeImport(g, rep, format)
			return fmt.Errorf("importing %s: %w", n.ID, err)
		}
		rep.Bases = append(rep.Bases, p.Report())
		if p.Refused != nil {
			refusals = append(refusals, fmt.Errorf("importing %s: %w", n.ID, p.Refused))
		}
		sends += p.Sends()
		prepared = append(prepared, p)
	}
	if limit > 0 && sends > limit {
		refusals = append(refusals, exitcode.AsRefused(fmt.Errorf("blast radius: the import would dispatch %d rebuilds over all its bases, over the limit of %d (raise limits.maxDispatches or pass --max-dispatches)", sends, limit)))
	}
	if len(refusals) > 0 {
		if err := writeImport(g, rep, format); err != nil {
			return err
		}
		return errors.Join(refusals...)
	}
	var errs []error
	for i, p := range prepared {
		if p.Nothing {
			continue
		}
		if err := p.Act(ctx, d); err != nil {
			errs = append(errs, fmt.Errorf("importing %s: %w", rep.Bases[i].Plan.Image, err))
		}
	}
	if err := writeImport(g, rep, format); err != nil {
		return err
	}
	return errors.Join(errs...)
}

func writeImport(g *globals, rep *importReport, format report.Format) error {
	w := g.streams.Out
	if format == report.JSON {
		return report.WriteJSON(w, rep)
	}
	if len(rep.Bases) == 0 {
		fmt.Fprintln(w, "No external base in the config: nothing to import.")
	}
	for i, r := range rep.Bases {
		if i > 0 {
			fmt.Fprintln(w)
		}
		if err := report.RunReport(w, r, format); err != nil {
			return err
		}
	}
	for _, s := range rep.Skipped {
		fmt.Fprintf(w, "skipped %s\n", s)
	}
	return nil
}
