package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/imagecascade/cascade/internal/dispatch"
	"github.com/imagecascade/cascade/internal/manifests"
	"github.com/imagecascade/cascade/internal/plan"
)

// Run is everything `cascade run` did; its JSON is the run report
// (schemaVersion 1).
type Run struct {
	SchemaVersion int        `json:"schemaVersion"`
	DryRun        bool       `json:"dryRun"`
	Plan          *plan.Plan `json:"plan"`
	// Dispatches holds one outcome per dispatched dependent, in order,
	// including the dependents of rebased images cascaded in this run.
	Dispatches []dispatch.Outcome `json:"dispatches"`
	// Cascaded are the plans of images rebased in this run.
	Cascaded []*plan.Plan `json:"cascaded,omitempty"`
	// Manifests is the pinning of the updated image's own new digest.
	Manifests *UpdateJSON `json:"manifests,omitempty"`
	// Workloads are the live workloads of an update (the Action's
	// command update, whose report has no plan); a run's are in
	// plan.workloads.
	Workloads []plan.Workload `json:"workloads,omitempty"`
	// Note explains a run that deliberately did nothing.
	Note string `json:"note,omitempty"`
}

// RunReport writes r in format f.
func RunReport(w io.Writer, r *Run, f Format) error {
	if f == JSON {
		return writeJSON(w, r)
	}
	md := f == Markdown
	// The plan's refusals are this run's: say it was refused, not that
	// a run would be.
	p := *r.Plan
	p.Refusals = nil
	if err := Plan(w, &p, f); err != nil {
		return err
	}
	refusalList(w, refused, r.Plan.Refusals, md)
	if r.Note != "" {
		fmt.Fprintf(w, "\n%s\n", r.Note)
		return nil
	}
	for _, c := range r.Cascaded {
		fmt.Fprintln(w)
		if err := Plan(w, c, f); err != nil {
			return err
		}
	}
	if len(r.Dispatches) > 0 {
		if md {
			fmt.Fprintln(w, "\n### Dispatches\n\n| dependent | kind | status | detail |\n|---|---|---|---|")
			for _, o := range r.Dispatches {
				fmt.Fprintf(w, "| `%s` | %s | %s | %s |\n", mdCode(o.Name), o.Kind, o.Status, mdCell(outcomeDetail(o)))
			}
		} else {
			fmt.Fprintln(w, "\nDispatches:")
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "  DEPENDENT\tKIND\tSTATUS\tKEY\tDETAIL")
			for _, o := range r.Dispatches {
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", o.Name, o.Kind, o.Status, o.Key, oneLine(outcomeDetail(o)))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
	}
	if r.Manifests != nil {
		fmt.Fprintln(w)
		res := &manifests.Result{Files: r.Manifests.Files}
		if md {
			if err := updateMarkdown(w, r.Manifests.Image, res, r.DryRun); err != nil {
				return err
			}
		} else if err := updateText(w, r.Manifests.Image, res, r.DryRun); err != nil {
			return err
		}
		writeBackText(w, r.Manifests.WriteBack, md)
	}
	return nil
}

func outcomeDetail(o dispatch.Outcome) string {
	parts := []string{}
	if o.Detail != "" {
		parts = append(parts, o.Detail)
	}
	if o.NewDigest != "" {
		parts = append(parts, "new digest "+o.NewDigest.Short())
	}
	if o.Err != nil {
		parts = append(parts, dispatch.Redact(o.Err.Error()))
	}
	return strings.Join(parts, "; ")
}

// StaleDependents counts the distinct dependents found stale. A dependent
// below a rebased image is in the run's plan (stale, to be cascaded) and
// again in the rebased image's plan: it counts once, with its latest
// verdict.
func (r *Run) StaleDependents() int {
	if r == nil {
		return 0
	}
	latest := map[string]plan.Status{}
	for _, p := range append([]*plan.Plan{r.Plan}, r.Cascaded...) {
		if p == nil {
			continue
		}
		for _, d := range p.Dependents {
			latest[d.Name] = d.Status
		}
	}
	n := 0
	for _, s := range latest {
		if s == plan.Stale {
			n++
		}
	}
	return n
}
