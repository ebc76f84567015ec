package run

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imagecascade/cascade/internal/config"
	"github.com/imagecascade/cascade/internal/imageref"
)

// TestUpdateManifestsChecksEverySetBeforeWriting: with two file sets, a
// file the second refuses leaves the first set's files unwritten too.
func TestUpdateManifestsChecksEverySetBeforeWriting(t *testing.T) {
	t.Parallel()
	ws := t.TempDir()
	const pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers:\n    - name: c\n      image: reg.example.com/acme/app:latest\n"
	write := func(p, s string) {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(ws, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(ws, p), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a/pod.yaml", pod)
	// Explicitly selected, and not YAML cascade can edit: refused.
	write("b/bad.yaml", "image: reg.example.com/acme/app:latest\nimage: twice\n")
	cfg := &config.Config{Manifests: []config.ManifestSet{{Paths: []string{"a/*.yaml"}}, {Paths: []string{"b/*.yaml"}}}}
	ref := imageref.MustParse("reg.example.com/acme/app:latest@sha256:" + strings.Repeat("b", 64))
	res, err := UpdateManifests(context.Background(), cfg, ws, nil, ref, false)
	if err == nil && res.Err() == nil {
		t.Fatal("the refused file in the second set was not an error")
	}
	got, _ := os.ReadFile(filepath.Join(ws, "a/pod.yaml"))
	if string(got) != pod {
		t.Errorf("the first set was written before the second refused:\n%s", got)
	}
}
