package report

import (
	"bytes"
	"strings"
	"testing"

	"github.com/imagecascade/cascade/internal/manifests"
)

// TestUpdateTextDoesNotCallARefusalUpToDate: a file that could not be
// processed is not "up to date", and changes computed but not written are
// not reported as made.
func TestUpdateTextDoesNotCallARefusalUpToDate(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	r := &manifests.Result{Files: []manifests.FileResult{{Path: "b/bad.yaml", Error: "refused to parse"}}}
	if err := updateText(&b, "reg/app:1@sha256:x", r, false); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "up to date") || !strings.Contains(b.String(), "1 file(s) could not be processed") {
		t.Errorf("refused file:\n%s", b.String())
	}
	b.Reset()
	r = &manifests.Result{NotWritten: "b/bad.yaml was refused", Files: []manifests.FileResult{
		{Path: "a.yaml", Objects: []manifests.ObjectResult{{Kind: "Pod", Name: "a", Changes: []manifests.Change{{Line: 1, Old: "x", New: "y"}}}}},
		{Path: "b/bad.yaml", Error: "refused to parse"},
	}}
	if err := updateText(&b, "reg/app:1@sha256:x", r, false); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "Changed 1") || !strings.Contains(b.String(), "Would change 1") || !strings.Contains(b.String(), "Nothing was written") {
		t.Errorf("not written:\n%s", b.String())
	}
}

// TestUpdateMarkdownCells: an inserted digest shows as "(inserted)", not an
// empty code span, and an object without a name is not "Kind/".
func TestUpdateMarkdownCells(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	r := &manifests.Result{Files: []manifests.FileResult{{Path: "kustomization.yaml", Objects: []manifests.ObjectResult{
		{Kind: "Kustomization", Changes: []manifests.Change{{Line: 4, Field: "images[0].digest", New: "sha256:abc"}}}}}}}
	if err := updateMarkdown(&b, "reg/app:1@sha256:abc", r, false); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.Contains(out, "``") || strings.Contains(out, "Kustomization/") || !strings.Contains(out, "(inserted)") {
		t.Errorf("markdown:\n%s", out)
	}
}

// TestUpdateMarkdownShowsWhatWasNotPinned: a file that could not be
// processed is not "up to date" in Markdown either, and the references
// left alone and the refused files are listed, not dropped.
func TestUpdateMarkdownShowsWhatWasNotPinned(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		files   []manifests.FileResult
		want    []string
		notWant []string
	}{
		{"a refused file", []manifests.FileResult{{Path: "b/bad.yaml", Error: "refused to parse"}},
			[]string{"No manifest was changed; 1 file(s) could not be processed", "- `b/bad.yaml`: refused to parse"}, []string{"up to date"}},
		{"a skipped reference", []manifests.FileResult{{Path: "a.yaml", Skipped: []manifests.Skip{{Line: 3, Ref: "reg/app:v1", Reason: "another tag"}}}},
			[]string{"Nothing to change: up to date.", "- `a.yaml:3` `reg/app:v1`: another tag"}, []string{"Could not be processed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var b bytes.Buffer
			if err := updateMarkdown(&b, "reg/app:1@sha256:x", &manifests.Result{Files: tt.files}, false); err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("lacks %q:\n%s", w, b.String())
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(b.String(), w) {
					t.Errorf("says %q:\n%s", w, b.String())
				}
			}
		})
	}
}
