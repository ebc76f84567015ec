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
