package manifests

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	udiff "github.com/aymanbagabas/go-udiff"
	"github.com/aymanbagabas/go-udiff/lcs"
)

// Result is what Update found and did: file → object → change.
type Result struct {
	Files []FileResult `json:"files"`
	// NotWritten, when set, says why none of the changes listed were
	// written (a selected file was refused). Dry runs leave it empty.
	NotWritten string `json:"notWritten,omitempty"`
}

// FileResult is one file looked at.
type FileResult struct {
	// Path is slash-separated and relative to the workspace.
	Path string `json:"path"`
	// Format is kubernetes, kustomize, helm, compose, yaml, json (a selected JSON
	// file without a Kubernetes object) or dockerfile.
	Format string `json:"format"`
	// Objects lists the objects with changes, in file order.
	Objects []ObjectResult `json:"objects,omitempty"`
	// Skipped lists references of the updated repository that were left
	// alone, each with its reason.
	Skipped []Skip `json:"skipped,omitempty"`
	// Error says why the file could not be processed; the file is untouched.
	Error string `json:"error,omitempty"`

	err      error
	original []byte
	updated  []byte
}

// ObjectResult is one Kubernetes object, kustomization or values document.
type ObjectResult struct {
	Kind    string   `json:"kind,omitempty"`
	Name    string   `json:"name,omitempty"`
	Changes []Change `json:"changes"`
}

// Change is one value replaced. Line and Column are the 1-based position of
// the value (of its opening quote when quoted) in the original file; for an
// inserted kustomization digest (Old empty) they are those of the new line
// in the updated file.
type Change struct {
	Line   int    `json:"line"`
	Column int    `json:"column"`
	Field  string `json:"field"`
	Old    string `json:"old"`
	New    string `json:"new"`
}

// Skip is a reference of the updated repository that was left alone.
type Skip struct {
	Line   int    `json:"line"`
	Field  string `json:"field,omitempty"`
	Ref    string `json:"ref"`
	Reason string `json:"reason"`
}

// Changed reports whether the file has changes.
func (f FileResult) Changed() bool {
	for _, o := range f.Objects {
		if len(o.Changes) > 0 {
			return true
		}
	}
	return false
}

// Err is the file's error with its exit-code class, nil when it was processed.
func (f FileResult) Err() error { return f.err }

// Changed lists the paths of the files with changes, sorted.
func (r *Result) Changed() []string {
	var out []string
	for _, f := range r.Files {
		if f.Changed() {
			out = append(out, f.Path)
		}
	}
	sort.Strings(out)
	return out
}

// Err joins the errors of the files that could not be processed (each keeps
// its exit-code class), nil when every file was processed.
func (r *Result) Err() error {
	var errs []error
	for _, f := range r.Files {
		if f.err != nil {
			errs = append(errs, f.err)
		}
	}
	return errors.Join(errs...)
}

// Diff is a unified diff of the changed files, for reports.
func (r *Result) Diff() string {
	var b strings.Builder
	for _, f := range r.Files {
		if !f.Changed() {
			continue
		}
		b.WriteString(lineDiff("a/"+f.Path, "b/"+f.Path, string(f.original), string(f.updated)))
	}
	return b.String()
}

// lineDiff is a unified diff of old and new computed line by line, as git
// diff shows it: only the lines that changed, with three lines of context.
// (A character diff, udiff.Unified's, can join two nearby value edits into
// one edit spanning the unchanged lines between them, which then show as
// removed and re-added.)
func lineDiff(oldLabel, newLabel, old, new string) string {
	if old == new {
		return ""
	}
	a, b := linesOf(old), linesOf(new)
	ids := map[string]rune{}
	seq := func(lines []string) []rune {
		out := make([]rune, len(lines))
		for i, l := range lines {
			id, ok := ids[l]
			if !ok {
				id = rune(len(ids))
				ids[l] = id
			}
			out[i] = id
		}
		return out
	}
	ra, rb := seq(a), seq(b)
	offsets := make([]int, len(a)+1)
	for i, l := range a {
		offsets[i+1] = offsets[i] + len(l)
	}
	var edits []udiff.Edit
	for _, d := range lcs.DiffRunes(ra, rb) {
		edits = append(edits, udiff.Edit{Start: offsets[d.Start], End: offsets[d.End], New: strings.Join(b[d.ReplStart:d.ReplEnd], "")})
	}
	u, err := udiff.ToUnified(oldLabel, newLabel, old, edits, udiff.DefaultContextLines)
	if err != nil { // cannot happen: the edits are whole lines of old, in order
		return udiff.Unified(oldLabel, newLabel, old, new)
	}
	return u
}

// linesOf splits s after each '\n', keeping the line ends (so "\r\n"
// stays part of its line and the pieces join back to s).
func linesOf(s string) []string {
	var out []string
	for len(s) > 0 {
		i := strings.IndexByte(s, '\n') + 1
		if i == 0 {
			i = len(s)
		}
		out = append(out, s[:i])
		s = s[i:]
	}
	return out
}

// Summary is one line per change, for logs: "path:line: field: old -> new".
func (r *Result) Summary() string {
	var b strings.Builder
	for _, f := range r.Files {
		for _, o := range f.Objects {
			for _, c := range o.Changes {
				fmt.Fprintf(&b, "%s:%d: %s: %s -> %s\n", f.Path, c.Line, c.Field, c.Old, c.New)
			}
		}
	}
	return b.String()
}
