package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/imagecascade/cascade/internal/plan"
)

// workloads writes the cluster target's section: every live workload that
// references the updated repository, what happens to it and why. Nothing
// when no cluster is configured.
func workloads(w io.Writer, ws []plan.Workload, md bool) error {
	if len(ws) == 0 {
		return nil
	}
	counts := map[plan.WorkloadStatus]int{}
	for _, wl := range ws {
		counts[wl.Status]++
	}
	if md {
		fmt.Fprintln(w, "\n### Live workloads\n\n| cluster | workload | status | image | reason |\n|---|---|---|---|---|")
		for _, wl := range ws {
			fmt.Fprintf(w, "| %s | `%s` | %s | %s | %s |\n", mdCell(dash(wl.Cluster)), mdCode(wl.ID()), wl.Status, mdCell(changes(wl)), mdCell(wl.Reason))
		}
	} else {
		fmt.Fprintln(w, "\nLive workloads:")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  CLUSTER\tWORKLOAD\tSTATUS\tIMAGE\tREASON")
		for _, wl := range ws {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", dash(wl.Cluster), wl.ID(), wl.Status, dash(changes(wl)), oneLine(wl.Reason))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	var parts []string
	for _, s := range []plan.WorkloadStatus{"roll", "rolled", "current", "not-opted-in", "paused", "gitops", "skipped", "failed"} {
		if n := counts[s]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, s))
		}
	}
	fmt.Fprintf(w, "\n%d live %s: %s.\n", len(ws), plural(len(ws), "workload"), strings.Join(parts, ", "))
	return nil
}

// changes is "container → @digest12" for each container moved (the
// full references are in -o json).
func changes(wl plan.Workload) string {
	var out []string
	for _, c := range wl.Changes {
		to := c.To
		if _, d, ok := strings.Cut(to, "@"); ok {
			to = "@" + short(d)
		}
		out = append(out, strings.TrimSuffix(c.Field, ".image")+" → "+to)
	}
	return strings.Join(out, "; ")
}
