package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/imagecascade/cascade/internal/dispatch"
	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/report"
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
	c, err := newCascader(g, f)
	if err != nil {
		return err
	}
	// Upstream bases are not ours to write to: the cascade history is read
	// but not recorded there.
	c.record = false
	gr, err := c.e.Graph()
	if err != nil {
		return err
	}
	rep := &importReport{SchemaVersion: 1, DryRun: f.dryRun, Bases: []*report.Run{}}
	var errs []error
	var all []dispatch.Outcome
	for _, n := range gr.Nodes() {
		if !n.External {
			continue
		}
		if n.Ref.Digest != "" {
			rep.Skipped = append(rep.Skipped, n.ID+": pinned by digest")
			continue
		}
		out := &report.Run{SchemaVersion: 1, DryRun: f.dryRun, Dispatches: []dispatch.Outcome{}}
		ref := n.Ref
		if ref.Tag == "" {
			ref.Tag = ref.EffectiveTag()
		}
		// Each base's cascade counts against the one blast radius.
		c.limit -= len(all)
		err := c.cascade(ctx, ref, out)
		c.limit += len(all)
		if out.Plan != nil {
			rep.Bases = append(rep.Bases, out)
			all = append(all, out.Dispatches...)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("importing %s: %w", n.ID, err))
			if exitcode.Of(err) == exitcode.Refused {
				break
			}
		}
	}
	if err := writeImport(g, rep, format); err != nil {
		return err
	}
	return errors.Join(append(errs, dispatch.Summarize(all))...)
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
