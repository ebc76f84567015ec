package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/imagecascade/cascade/internal/manifests"
	"github.com/imagecascade/cascade/internal/plan"
)

// WriteBack says what the write-back of changed manifests did.
type WriteBack struct {
	Mode     string `json:"mode"`
	Commit   string `json:"commit,omitempty"`
	Pushed   bool   `json:"pushed,omitempty"`
	Attempts int    `json:"attempts,omitempty"`
	PR       string `json:"pullRequest,omitempty"`
	Branch   string `json:"branch,omitempty"`
	Note     string `json:"note,omitempty"`
}

// UpdateJSON is the pinning of a new digest in the manifests: the files
// of `cascade update -o json` (UpdateReport) and the manifests key of a
// run report.
type UpdateJSON struct {
	SchemaVersion int                    `json:"schemaVersion"`
	Image         string                 `json:"image"`
	DryRun        bool                   `json:"dryRun"`
	Changed       []string               `json:"changed"`
	Files         []manifests.FileResult `json:"files"`
	WriteBack     *WriteBack             `json:"writeBack,omitempty"`
}

// NewUpdateJSON is the JSON report of r: changed and files are lists, empty
// rather than null when nothing was found, in every report that holds one.
func NewUpdateJSON(image string, r *manifests.Result, dryRun bool, wb *WriteBack) UpdateJSON {
	return UpdateJSON{SchemaVersion: 1, Image: image, DryRun: dryRun, Changed: nonNil(r.Changed()), Files: nonNilFiles(r.Files), WriteBack: wb}
}

// UpdateReport is the JSON shape of `cascade update -o json`: the
// manifests pinned, and the live workloads of the config's clusters that
// reference the image (an empty list, never absent, without clusters).
type UpdateReport struct {
	UpdateJSON
	Workloads []plan.Workload `json:"workloads"`
}

// Update writes the result of a manifest update in format f. dryRun says
// whether the files were left untouched; wb, when not nil, what the
// write-back did; ws the live workloads (none without clusters).
func Update(w io.Writer, image string, r *manifests.Result, dryRun bool, wb *WriteBack, ws []plan.Workload, f Format) error {
	switch f {
	case JSON:
		if ws == nil {
			ws = []plan.Workload{}
		}
		return writeJSON(w, UpdateReport{UpdateJSON: NewUpdateJSON(image, r, dryRun, wb), Workloads: ws})
	case Markdown:
		if err := updateMarkdown(w, image, r, dryRun); err != nil {
			return err
		}
	default:
		if err := updateText(w, image, r, dryRun); err != nil {
			return err
		}
	}
	writeBackText(w, wb, f == Markdown)
	return workloads(w, ws, f == Markdown)
}

func writeBackText(w io.Writer, wb *WriteBack, md bool) {
	if wb == nil || wb.Mode == "" || wb.Mode == "none" {
		return
	}
	var parts []string
	if wb.Commit != "" {
		parts = append(parts, "commit "+shortSHA(wb.Commit))
	}
	if wb.Pushed {
		parts = append(parts, fmt.Sprintf("pushed to %s (attempt %d)", wb.Branch, wb.Attempts))
	}
	if wb.PR != "" {
		parts = append(parts, "pull request "+wb.PR)
	}
	if wb.Note != "" {
		parts = append(parts, wb.Note)
	}
	if len(parts) == 0 {
		parts = append(parts, "nothing to write back")
	}
	prefix := "Write-back"
	if md {
		prefix = "\n**Write-back**"
	}
	fmt.Fprintf(w, "%s (%s): %s\n", prefix, wb.Mode, strings.Join(parts, "; "))
}

func shortSHA(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nonNilFiles(s []manifests.FileResult) []manifests.FileResult {
	if s == nil {
		return []manifests.FileResult{}
	}
	return s
}

func verb(dryRun bool) string {
	if dryRun {
		return "would change"
	}
	return "changed"
}

func updateText(w io.Writer, image string, r *manifests.Result, dryRun bool) error {
	changes, files := 0, 0
	for _, f := range r.Files {
		if f.Changed() {
			files++
		}
		for _, o := range f.Objects {
			for _, c := range o.Changes {
				changes++
				old := c.Old
				if old == "" {
					old = "(inserted)"
				}
				fmt.Fprintf(w, "%s:%d: %s %s\n    %s\n -> %s\n", f.Path, c.Line, objectName(o), c.Field, old, c.New)
			}
		}
	}
	for _, f := range r.Files {
		for _, s := range f.Skipped {
			loc := f.Path
			if s.Line > 0 {
				loc = fmt.Sprintf("%s:%d", f.Path, s.Line)
			}
			ref := ""
			if s.Ref != "" {
				ref = " " + s.Ref
			}
			fmt.Fprintf(w, "%s: skipped%s: %s\n", loc, ref, s.Reason)
		}
		if f.Error != "" {
			fmt.Fprintf(w, "%s: error: %s\n", f.Path, f.Error)
		}
	}
	failed := 0
	for _, f := range r.Files {
		if f.Error != "" {
			failed++
		}
	}
	if r.NotWritten != "" {
		// The changes were computed, none was written: say so, in the
		// conditional.
		dryRun = true
		fmt.Fprintf(w, "Nothing was written: %s\n", r.NotWritten)
	}
	if changes == 0 {
		if failed > 0 {
			fmt.Fprintf(w, "No manifest was changed; %d file(s) could not be processed (above).\n", failed)
			return nil
		}
		fmt.Fprintf(w, "No manifest references %s at another digest: up to date.\n", image)
		return nil
	}
	fmt.Fprintf(w, "\n%s %d reference(s) in %d file(s) to %s.\n", strings.ToUpper(verb(dryRun)[:1])+verb(dryRun)[1:], changes, files, image)
	if dryRun {
		fmt.Fprintf(w, "\n%s", r.Diff())
	}
	return nil
}

func updateMarkdown(w io.Writer, image string, r *manifests.Result, dryRun bool) error {
	fmt.Fprintf(w, "### Manifests pinned to `%s`\n\n", mdCode(image))
	failed := 0
	for _, f := range r.Files {
		if f.Error != "" {
			failed++
		}
	}
	changed := len(r.Changed()) > 0
	switch {
	case changed:
		fmt.Fprintln(w, "| file | line | object | field | old | new |")
		fmt.Fprintln(w, "|---|---|---|---|---|---|")
		for _, f := range r.Files {
			for _, o := range f.Objects {
				for _, c := range o.Changes {
					old := codeCell(c.Old)
					if c.Old == "" {
						old = "(inserted)"
					}
					fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s |\n", codeCell(f.Path), c.Line, mdCell(objectName(o)), codeCell(c.Field), old, codeCell(c.New))
				}
			}
		}
	case failed > 0:
		fmt.Fprintf(w, "No manifest was changed; %d file(s) could not be processed (below).\n", failed)
	default:
		fmt.Fprintln(w, "Nothing to change: up to date.")
	}
	if r.NotWritten != "" {
		fmt.Fprintf(w, "\n**Nothing was written:** %s\n", mdCell(r.NotWritten))
	}
	skipsMarkdown(w, r)
	if dryRun && changed {
		fmt.Fprintf(w, "\n<details><summary>diff (dry run, nothing written)</summary>\n\n```diff\n%s```\n</details>\n", strings.ReplaceAll(r.Diff(), "```", "'''"))
	}
	return nil
}

// skipsMarkdown lists the references left alone and the files that could
// not be processed, which the table of changes does not show.
func skipsMarkdown(w io.Writer, r *manifests.Result) {
	var skipped, failed []string
	for _, f := range r.Files {
		for _, s := range f.Skipped {
			loc := f.Path
			if s.Line > 0 {
				loc = fmt.Sprintf("%s:%d", f.Path, s.Line)
			}
			ref := ""
			if s.Ref != "" {
				ref = " " + codeCell(s.Ref)
			}
			skipped = append(skipped, fmt.Sprintf("- %s%s: %s", codeCell(loc), ref, mdCell(s.Reason)))
		}
		if f.Error != "" {
			failed = append(failed, fmt.Sprintf("- %s: %s", codeCell(f.Path), mdCell(f.Error)))
		}
	}
	if len(skipped) > 0 {
		fmt.Fprintf(w, "\n**Left alone:**\n%s\n", strings.Join(skipped, "\n"))
	}
	if len(failed) > 0 {
		fmt.Fprintf(w, "\n**Could not be processed (left untouched):**\n%s\n", strings.Join(failed, "\n"))
	}
}

// objectName names an object for a report: "Kind/name", the kind alone
// when it has no name, "-" when it has neither.
func objectName(o manifests.ObjectResult) string {
	switch {
	case o.Kind != "" && o.Name != "":
		return o.Kind + "/" + o.Name
	case o.Kind != "":
		return o.Kind
	case o.Name != "":
		return o.Name
	}
	return "-"
}
