// Package report renders plans and graphs for people and machines: a text
// table for terminals, stable JSON, and Markdown with a Mermaid graph for
// pull requests and GitHub step summaries. Renderers write to an io.Writer
// and never decide anything.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/imageref"
	"github.com/imagecascade/cascade/internal/plan"
)

// Format is an output format.
type Format string

// Output formats.
const (
	Text     Format = "text"
	JSON     Format = "json"
	Markdown Format = "markdown"
	Mermaid  Format = "mermaid"
	Dot      Format = "dot"
)

// ParseFormat validates a format name against the allowed ones.
func ParseFormat(s string, allowed ...Format) (Format, error) {
	for _, f := range allowed {
		if Format(s) == f {
			return f, nil
		}
	}
	names := make([]string, len(allowed))
	for i, f := range allowed {
		names[i] = string(f)
	}
	return "", exitcode.AsInvalid(fmt.Errorf("output format %q: want one of %s", s, strings.Join(names, ", ")))
}

// Plan writes p in format f.
func Plan(w io.Writer, p *plan.Plan, f Format) error {
	switch f {
	case JSON:
		return writeJSON(w, p)
	case Markdown:
		if err := planMarkdown(w, p); err != nil {
			return err
		}
		return workloads(w, p.Workloads, true)
	default:
		if err := planText(w, p); err != nil {
			return err
		}
		return workloads(w, p.Workloads, false)
	}
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func short(d string) string {
	if d == "" {
		return "-"
	}
	return imageref.Digest(d).Short()
}

func planText(w io.Writer, p *plan.Plan) error {
	fmt.Fprintf(w, "Updated image: %s\n", p.Image)
	kind := ""
	if p.Index {
		kind = " (multi-arch index)"
	}
	fmt.Fprintf(w, "New digest:    %s%s\n", p.Digest, kind)
	if len(p.Dependents) == 0 {
		if len(p.Roots) == 0 {
			fmt.Fprintln(w, "\nNo image in the config is built on it: nothing to do.")
		} else {
			fmt.Fprintln(w, "\nNothing is built on it: nothing to do.")
		}
		return nil
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	// Where each dependent was declared is shown once discovery added
	// one (declared.go); a plan of configured images only reads as before.
	declared := anyDiscovered(p)
	fmt.Fprintln(tw, "TIER\tDEPENDENT\tSTATUS\tEVIDENCE\tACTION\tREBUILD\t"+declaredHeader(declared, "\t")+"DIGEST\tREASON")
	for _, d := range p.Dependents {
		action := string(d.Action)
		if d.Via != "" {
			action += " via " + d.Via
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s%s\t%s\n", d.Depth, d.Name, d.Status, d.Evidence, action,
			dash(d.Rebuild), declaredCell(declared, d, "\t"), short(d.Digest), oneLine(d.Reason))
		for _, pl := range d.Platforms {
			fmt.Fprintf(tw, "\t  %s\t%s\t%s\t\t\t%s%s\t%s\n", pl.Platform, pl.Status, pl.Evidence, declaredBlank(declared, "\t"), short(pl.Digest), oneLine(pl.Reason))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	s := p.Summary
	fmt.Fprintf(w, "\n%d %s: %d stale, %d current, %d unknown; %d to dispatch.\n", s.Dependents, plural(s.Dependents, "dependent"), s.Stale, s.Current, s.Unknown, s.Dispatches)
	if s.Stale == 0 && s.Unknown == 0 {
		fmt.Fprintln(w, "Everything is up to date.")
	}
	refusalsText(w, p.Refusals, false)
	skippedDeclarations(w, p, false)
	return nil
}

// Headings of the refusals: a plan says what a run would do, a run's report
// what it did.
const (
	wouldRefuse = "A run would be refused before anything is sent"
	refused     = "Refused before anything was sent"
)

// refusalsText lists why a run of the plan would be refused.
func refusalsText(w io.Writer, refusals []string, md bool) {
	refusalList(w, wouldRefuse, refusals, md)
}

// refusalList lists refusals under heading.
func refusalList(w io.Writer, heading string, refusals []string, md bool) {
	if len(refusals) == 0 {
		return
	}
	if md {
		fmt.Fprintf(w, "\n**%s:**\n", heading)
		for _, r := range refusals {
			fmt.Fprintf(w, "- %s\n", mdCell(r))
		}
		return
	}
	fmt.Fprintf(w, "\n%s:\n", heading)
	for _, r := range refusals {
		fmt.Fprintf(w, "  - %s\n", oneLine(r))
	}
}

// plural is word, with an s unless n is 1.
func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLine keeps tables one row per entry whatever a reason contains.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func planMarkdown(w io.Writer, p *plan.Plan) error {
	fmt.Fprintf(w, "### cascade plan for `%s`\n\n", mdCode(p.Image))
	fmt.Fprintf(w, "New digest: `%s`\n\n", p.Digest)
	if len(p.Dependents) == 0 {
		fmt.Fprintln(w, "Nothing is built on it: nothing to do.")
		return nil
	}
	fmt.Fprintln(w, "```mermaid")
	PlanMermaid(w, p)
	fmt.Fprintln(w, "```")
	fmt.Fprintln(w)
	declared := anyDiscovered(p)
	fmt.Fprintln(w, "| tier | dependent | status | evidence | action | rebuild | "+declaredHeader(declared, " | ")+"reason |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|"+declaredRule(declared)+"---|")
	for _, d := range p.Dependents {
		action := string(d.Action)
		if d.Via != "" {
			action += " via " + d.Via
		}
		fmt.Fprintf(w, "| %d | `%s` | %s %s | %s | %s | %s | %s%s |\n", d.Depth, mdCode(d.Name), statusIcon(d.Status), d.Status,
			d.Evidence, action, dash(d.Rebuild), mdDeclaredCell(declared, d), mdCell(d.Reason))
		for _, pl := range d.Platforms {
			fmt.Fprintf(w, "| %d | %s | %s %s | %s | - | - | %s%s |\n", d.Depth, platformCell(d.Name, pl.Platform), statusIcon(pl.Status), pl.Status,
				pl.Evidence, declaredBlank(declared, " | "), mdCell(pl.Reason))
		}
	}
	s := p.Summary
	fmt.Fprintf(w, "\n**%d** %s: **%d** stale, **%d** current, **%d** unknown; **%d** to dispatch.\n", s.Dependents, plural(s.Dependents, "dependent"), s.Stale, s.Current, s.Unknown, s.Dispatches)
	refusalsText(w, p.Refusals, true)
	skippedDeclarations(w, p, true)
	return nil
}

// platformCell names one platform of a multi-arch dependent in a table.
func platformCell(name, platform string) string {
	return "`" + mdCode(name) + "` " + mdCell(platform)
}

func statusIcon(s plan.Status) string {
	switch s {
	case plan.Stale:
		return "🔄"
	case plan.Current:
		return "✅"
	}
	return "❔"
}

// mdCell makes arbitrary text safe inside a Markdown table cell.
func mdCell(s string) string {
	s = oneLine(s)
	r := strings.NewReplacer("|", `\|`, "<", "&lt;", ">", "&gt;", "`", "'")
	return r.Replace(s)
}

func mdCode(s string) string { return strings.ReplaceAll(oneLine(s), "`", "'") }

// PlanMermaid writes the cascade of p as a Mermaid flowchart: the updated
// image, then each tier, each dependent coloured by status.
func PlanMermaid(w io.Writer, p *plan.Plan) {
	fmt.Fprintln(w, "flowchart LR")
	ids := map[string]string{}
	id := func(name string) string {
		if v, ok := ids[name]; ok {
			return v
		}
		v := fmt.Sprintf("n%d", len(ids))
		ids[name] = v
		return v
	}
	root := id("\x00root")
	fmt.Fprintf(w, "  %s[\"%s<br/>%s\"]:::updated\n", root, mermaidText(p.Image), short(p.Digest))
	rootSet := map[string]bool{}
	for _, r := range p.Roots {
		rootSet[r] = true
	}
	for _, d := range p.Dependents {
		fmt.Fprintf(w, "  %s[\"%s<br/>%s\"]:::%s\n", id(d.Name), mermaidText(d.Name), d.Status, d.Status)
	}
	for _, d := range p.Dependents {
		from := root
		if !rootSet[d.Base] && d.Base != "" {
			if _, ok := ids[d.Base]; ok {
				from = id(d.Base)
			}
		}
		label := string(d.Action)
		fmt.Fprintf(w, "  %s -->|%s| %s\n", from, label, id(d.Name))
	}
	fmt.Fprintln(w, "  classDef updated fill:#dbeafe,stroke:#1d4ed8")
	fmt.Fprintln(w, "  classDef stale fill:#fef3c7,stroke:#b45309")
	fmt.Fprintln(w, "  classDef current fill:#dcfce7,stroke:#15803d")
	fmt.Fprintln(w, "  classDef unknown fill:#f3f4f6,stroke:#6b7280")
}

// mermaidText escapes text for a quoted Mermaid label.
func mermaidText(s string) string {
	r := strings.NewReplacer(`"`, "#quot;", "<", "#lt;", ">", "#gt;", "\n", " ", "\r", " ")
	return r.Replace(s)
}

// WriteJSON writes v as indented JSON, the way every report does.
func WriteJSON(w io.Writer, v any) error { return writeJSON(w, v) }
