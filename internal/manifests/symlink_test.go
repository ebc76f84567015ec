package manifests

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestClass4_SymlinksReported: a symbolic link is never followed nor
// written through, and the report says so with a true reason: whether what
// it points to is processed under its own path. Manifests under a
// symlinked folder are no longer passed over without a word.
func TestClass4_SymlinksReported(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		files   map[string]string
		links   map[string]string // link → target, relative to the link's folder
		paths   []string
		changed []string
		skipped map[string]string
	}{
		{
			name:    "folder link, target walked",
			files:   map[string]string{"real/pod.yaml": podYAML},
			links:   map[string]string{"linked": "real"},
			changed: []string{"real/pod.yaml"},
			skipped: map[string]string{"linked": "symbolic link to folder real; not followed (the files there are processed under their own paths)"},
		},
		{
			name:    "folder link, target skipped by the default file set",
			files:   map[string]string{"vendor/deploy/pod.yaml": podYAML},
			links:   map[string]string{"deploy": "vendor/deploy"},
			skipped: map[string]string{"deploy": "symbolic link to folder vendor/deploy; not followed, and that folder is not among the selected ones (excluded or skipped), so its files are not processed"},
		},
		{
			name:    "file link selected, target not selected",
			files:   map[string]string{"real/pod.yaml": podYAML},
			links:   map[string]string{"link.yaml": "real/pod.yaml"},
			paths:   []string{"link.yaml"},
			skipped: map[string]string{"link.yaml": "symbolic link to real/pod.yaml; never written through, and its target is not among the selected files, so it is not processed"},
		},
		{
			name:    "file link selected with its target, through a chain",
			files:   map[string]string{"real/pod.yaml": podYAML},
			links:   map[string]string{"a/link.yaml": "../b.yaml", "b.yaml": "real/pod.yaml"},
			paths:   []string{"a/link.yaml", "real/*.yaml"},
			changed: []string{"real/pod.yaml"},
			skipped: map[string]string{"a/link.yaml": "symbolic link to real/pod.yaml; never written through (its target is processed under its own path)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ws := t.TempDir()
			writeFiles(t, ws, tt.files)
			for link, target := range tt.links {
				p := filepath.Join(ws, link)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				symlink(t, target, p)
			}
			opts := testOptions(ws)
			opts.Paths = tt.paths
			res, err := Update(context.Background(), opts)
			if err != nil {
				t.Fatal(err)
			}
			if res.Err() != nil {
				t.Errorf("Err: %v", res.Err())
			}
			if diff := cmp.Diff(tt.changed, res.Changed()); diff != "" {
				t.Errorf("Changed (-want +got):\n%s", diff)
			}
			got := map[string]string{}
			for _, f := range res.Files {
				for _, s := range f.Skipped {
					got[f.Path] = s.Reason
				}
			}
			if diff := cmp.Diff(tt.skipped, got); diff != "" {
				t.Errorf("skipped (-want +got):\n%s", diff)
			}
		})
	}
}
