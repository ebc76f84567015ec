package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/imagecascade/cascade/internal/dispatch"
	"github.com/imagecascade/cascade/internal/manifests"
	"github.com/imagecascade/cascade/internal/plan"
)

// StepSummary writes r as a GitHub step summary (Markdown): a Mermaid graph
// of the cascade (see [CascadeMermaid]), a table of the dependents with
// their status, a table of the dispatches and one of the manifest changes.
// command names the cascade command that produced r (run, plan, update).
func StepSummary(w io.Writer, r *Run, command string) error {
	title := "cascade " + command
	switch {
	case r.Plan != nil:
		title += " — `" + mdCode(r.Plan.Image) + "`"
	case r.Manifests != nil:
		title += " — `" + mdCode(r.Manifests.Image) + "`"
	}
	if r.DryRun && command != "plan" {
		title += " (dry run)"
	}
	fmt.Fprintf(w, "## %s\n\n", title)
	if r.Plan != nil {
		fmt.Fprintf(w, "New digest: `%s`\n\n", mdCode(r.Plan.Digest))
	}
	if r.Note != "" {
		fmt.Fprintf(w, "> %s\n\n", mdCell(r.Note))
	}
	if r.Plan != nil {
		fmt.Fprintln(w, "```mermaid")
		CascadeMermaid(w, r)
		fmt.Fprintln(w, "```")
		fmt.Fprintln(w)
		summaryDependents(w, r, command)
	}
	if len(r.Dispatches) > 0 {
		fmt.Fprintln(w, "### Dispatches")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| dependent | kind | status | key | detail |")
		fmt.Fprintln(w, "|---|---|---|---|---|")
		for _, o := range r.Dispatches {
			fmt.Fprintf(w, "| %s | %s | %s %s | %s | %s |\n", codeCell(o.Name), mdCell(o.Kind), outcomeIcon(o.Status), o.Status,
				codeCell(o.Key), mdCell(outcomeDetail(o)))
		}
		fmt.Fprintln(w)
	}
	ws := r.Workloads
	if r.Plan != nil {
		ws = r.Plan.Workloads
	}
	if len(ws) > 0 {
		if err := workloads(w, ws, true); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	if m := r.Manifests; m != nil {
		if err := updateMarkdown(w, m.Image, &manifests.Result{Files: m.Files}, m.DryRun); err != nil {
			return err
		}
		writeBackText(w, m.WriteBack, true)
	}
	return nil
}

func summaryDependents(w io.Writer, r *Run, command string) {
	outcomes := outcomesByName(r.Dispatches)
	// A dependent below a rebased image is in the run's plan (to be
	// cascaded) and again in the rebased image's plan, which decided
	// what was done: one row per dependent, with that later verdict, at
	// its tier in the whole cascade.
	later := map[string]plan.Dependent{}
	for _, c := range r.Cascaded {
		if c == nil {
			continue
		}
		for _, d := range c.Dependents {
			later[d.Name] = d
		}
	}
	tiers := map[string]int{}
	rows := 0
	row := func(d plan.Dependent, tier int) {
		if rows == 0 {
			fmt.Fprintln(w, "### Dependents")
			fmt.Fprintln(w)
			fmt.Fprintln(w, "| tier | dependent | status | evidence | action | rebuild | dispatch | reason |")
			fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
		}
		rows++
		tiers[d.Name] = tier
		action := string(d.Action)
		if l, ok := later[d.Name]; ok && d.Action == plan.ActionCascade {
			action = string(l.Action) + " after " + d.Via
			d.Status, d.Evidence, d.Reason = l.Status, l.Evidence, l.Reason
		} else if d.Via != "" {
			action += " via " + d.Via
		}
		disp := "-"
		if o, ok := outcomes[d.Name]; ok {
			disp = outcomeIcon(o.Status) + " " + string(o.Status)
		}
		fmt.Fprintf(w, "| %d | %s | %s %s | %s | %s | %s | %s | %s |\n", tier, codeCell(d.Name), statusIcon(d.Status), d.Status,
			d.Evidence, mdCell(action), dash(d.Rebuild), disp, mdCell(d.Reason))
		for _, pl := range d.Platforms {
			fmt.Fprintf(w, "| %d | %s | %s %s | %s | - | - | - | %s |\n", tier, platformCell(d.Name, pl.Platform), statusIcon(pl.Status), pl.Status,
				pl.Evidence, mdCell(pl.Reason))
		}
	}
	if r.Plan != nil {
		for _, d := range r.Plan.Dependents {
			row(d, d.Depth)
		}
	}
	for _, c := range r.Cascaded {
		if c == nil {
			continue
		}
		offset := 0
		if len(c.Roots) > 0 {
			offset = tiers[c.Roots[0]]
		}
		for _, d := range c.Dependents {
			if _, done := tiers[d.Name]; !done {
				row(d, offset+d.Depth)
			}
		}
	}
	if rows == 0 {
		fmt.Fprintln(w, "Nothing is built on it: nothing to do.")
		fmt.Fprintln(w)
		return
	}
	s := r.Plan.Summary
	fmt.Fprintf(w, "\n**%d** %s: **%d** stale, **%d** current, **%d** unknown; **%d** to dispatch.\n", s.Dependents, plural(s.Dependents, "dependent"), s.Stale, s.Current, s.Unknown, s.Dispatches)
	heading := refused // the run itself was refused: nothing "would" happen
	if command == "plan" {
		heading = wouldRefuse
	}
	refusalList(w, heading, r.Plan.Refusals, true)
	fmt.Fprintln(w)
}

func outcomesByName(os []dispatch.Outcome) map[string]dispatch.Outcome {
	m := make(map[string]dispatch.Outcome, len(os))
	for _, o := range os {
		m[o.Name] = o
	}
	return m
}

func outcomeIcon(s dispatch.Status) string {
	switch s {
	case dispatch.StatusDispatched:
		return "🚀"
	case dispatch.StatusAlreadyDispatched, dispatch.StatusClaimed:
		return "✅"
	case dispatch.StatusFailed:
		return "❌"
	}
	return "⏭️"
}

// codeCell is s as inline code inside a table cell.
func codeCell(s string) string {
	if s == "" {
		return "-"
	}
	return "`" + strings.ReplaceAll(mdCode(s), "|", `\|`) + "`"
}

// CascadeMermaid writes the cascade of r as a Mermaid flowchart: the
// updated image, then one subgraph per tier holding its dependents, each
// coloured by status (stale, current, unknown) — or by its dispatch when it
// failed — and labelled with what was done. Plans of images rebased in the
// run hang off the rebased dependent, one tier further.
func CascadeMermaid(w io.Writer, r *Run) {
	fmt.Fprintln(w, "flowchart LR")
	outcomes := outcomesByName(r.Dispatches)
	type node struct {
		id, label, class string
		tier             int
	}
	var nodes []node
	ids := map[string]int{} // dependent name → index in nodes
	var edges []string
	linked := map[string]bool{} // dependents with their edge drawn
	root := fmt.Sprintf("  n0[\"%s<br/>%s\"]:::updated", mermaidText(r.Plan.Image), short(r.Plan.Digest))
	add := func(p *plan.Plan, from string, fromTier int) {
		rootSet := map[string]bool{}
		for _, n := range p.Roots {
			rootSet[n] = true
		}
		for _, d := range p.Dependents {
			if _, seen := ids[d.Name]; seen {
				continue
			}
			label := mermaidText(d.Name) + "<br/>" + string(d.Status)
			class := string(d.Status)
			if o, ok := outcomes[d.Name]; ok {
				label += " · " + string(o.Status)
				if o.Status == dispatch.StatusFailed {
					class = "failed"
				}
			} else if d.Action != plan.ActionDispatch {
				label += " · " + string(d.Action)
			}
			ids[d.Name] = len(nodes)
			nodes = append(nodes, node{id: fmt.Sprintf("n%d", len(nodes)+1), label: label, class: class, tier: fromTier + max(d.Depth, 1)})
		}
		for _, d := range p.Dependents {
			if linked[d.Name] {
				continue // drawn from the plan before: one edge per dependent
			}
			linked[d.Name] = true
			src := from
			if i, ok := ids[d.Base]; ok && !rootSet[d.Base] && d.Base != d.Name {
				src = nodes[i].id
			}
			edges = append(edges, fmt.Sprintf("  %s -->|%s| %s", src, mermaidText(string(d.Action)), nodes[ids[d.Name]].id))
		}
	}
	add(r.Plan, "n0", 0)
	for _, c := range r.Cascaded {
		if c == nil || len(c.Roots) == 0 {
			continue
		}
		i, ok := ids[c.Roots[0]]
		if !ok {
			continue
		}
		add(c, nodes[i].id, nodes[i].tier)
	}
	fmt.Fprintln(w, root)
	maxTier := 0
	for _, n := range nodes {
		maxTier = max(maxTier, n.tier)
	}
	for t := 1; t <= maxTier; t++ {
		opened := false
		for _, n := range nodes {
			if n.tier != t {
				continue
			}
			if !opened {
				fmt.Fprintf(w, "  subgraph tier%d[\"tier %d\"]\n", t, t)
				opened = true
			}
			fmt.Fprintf(w, "    %s[\"%s\"]:::%s\n", n.id, n.label, n.class)
		}
		if opened {
			fmt.Fprintln(w, "  end")
		}
	}
	for _, e := range edges {
		fmt.Fprintln(w, e)
	}
	fmt.Fprintln(w, "  classDef updated fill:#dbeafe,stroke:#1d4ed8")
	fmt.Fprintln(w, "  classDef stale fill:#fef3c7,stroke:#b45309")
	fmt.Fprintln(w, "  classDef current fill:#dcfce7,stroke:#15803d")
	fmt.Fprintln(w, "  classDef unknown fill:#f3f4f6,stroke:#6b7280")
	fmt.Fprintln(w, "  classDef failed fill:#fee2e2,stroke:#b91c1c")
}
