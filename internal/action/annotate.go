package action

import (
	"bytes"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sethvargo/go-githubactions"

	"github.com/imagecascade/cascade/internal/dispatch"
	"github.com/imagecascade/cascade/internal/manifests"
	"github.com/imagecascade/cascade/internal/report"
)

// maxAnnotations bounds the annotations of one run; GitHub shows at most
// 10 of each kind per step anyway, the rest stay in the log and summary.
const maxAnnotations = 50

// annotate writes a notice with file and line for each manifest change, a
// warning for each file that could not be updated and an error for each
// failed dispatch. go-githubactions escapes every property and message, so
// values stay data.
func (g *githubHost) annotate(r *report.Run, workspace string) {
	n := 0
	emit := func(kind string, props githubactions.CommandProperties, msg string) {
		if n >= maxAnnotations {
			return
		}
		n++
		for k, v := range props {
			props[k] = g.rd.String(v)
		}
		g.a.IssueCommand(&githubactions.Command{Name: kind, Properties: props, Message: g.rd.String(msg)})
	}
	if m := r.Manifests; m != nil {
		verb := "pinned"
		if m.DryRun {
			verb = "would pin"
		}
		for _, f := range m.Files {
			file := g.repoPath(workspace, f.Path)
			for _, o := range f.Objects {
				obj := o.Kind
				if o.Name != "" {
					obj += "/" + o.Name
				}
				for _, c := range o.Changes {
					props := githubactions.CommandProperties{"file": file, "line": strconv.Itoa(c.Line), "title": "cascade " + verb + " " + m.Image}
					if c.Column > 0 {
						props["col"] = strconv.Itoa(c.Column)
					}
					emit("notice", props, fmt.Sprintf("%s %s: %s → %s", obj, c.Field, c.Old, c.New))
				}
			}
			if f.Error != "" {
				emit("warning", githubactions.CommandProperties{"file": file, "title": "cascade could not update this file"}, f.Error)
			}
		}
	}
	for _, o := range r.Dispatches {
		if o.Status == dispatch.StatusFailed {
			emit("error", githubactions.CommandProperties{"title": "cascade: rebuild of " + o.Name + " not started"}, outcomeText(o))
		}
	}
}

func outcomeText(o dispatch.Outcome) string {
	parts := []string{o.Kind}
	if o.Detail != "" {
		parts = append(parts, o.Detail)
	}
	if o.Err != nil {
		parts = append(parts, dispatch.Redact(o.Err.Error()))
	}
	return strings.Join(parts, ": ")
}

// repoPath names file (relative to the cascade workspace) the way
// annotations want it: relative to the repository root, GITHUB_WORKSPACE,
// when the workspace is inside it.
func (g *githubHost) repoPath(workspace, file string) string {
	if workspace == "" {
		workspace = "."
	}
	joined := filepath.Join(workspace, filepath.FromSlash(file))
	root := g.getenv("GITHUB_WORKSPACE")
	if root == "" {
		return filepath.ToSlash(joined)
	}
	abs := joined
	if !filepath.IsAbs(abs) {
		// The step runs in GITHUB_WORKSPACE unless told otherwise.
		abs = filepath.Join(root, abs)
	}
	rel, err := filepath.Rel(root, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return path.Clean(filepath.ToSlash(joined))
	}
	return filepath.ToSlash(rel)
}

// textReport writes the human report of r for the log.
func textReport(w io.Writer, r *report.Run) error {
	if r.Plan != nil {
		return report.RunReport(w, r, report.Text)
	}
	if m := r.Manifests; m != nil {
		return report.Update(w, m.Image, &manifests.Result{Files: m.Files}, m.DryRun, m.WriteBack, r.Workloads, report.Text)
	}
	return nil
}

// writeSummary appends the step summary when GITHUB_STEP_SUMMARY is set.
func (g *githubHost) writeSummary(r *report.Run, command string) error {
	if g.getenv("GITHUB_STEP_SUMMARY") == "" {
		return nil
	}
	var b bytes.Buffer
	if r == nil {
		fmt.Fprintf(&b, "### cascade %s\n\nNo report: the command failed before producing one (see the log).\n", command)
	} else if err := report.StepSummary(&b, r, command); err != nil {
		return err
	}
	md := b.String()
	if len(md) > maxSummary {
		const note = "\n\n… (truncated: the summary is over GitHub's 1 MiB limit; see the log)\n"
		md = md[:maxSummary-len(note)] + note
	}
	md = g.rd.String(md)
	return recovered(func() { g.a.AddStepSummary(md) })
}
