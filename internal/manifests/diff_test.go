package manifests

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestClass7_MinimalDiff: the diff of a rewrite shows only the changed
// lines, each with up to three lines of context, as git diff does: an
// unchanged line between two changed ones is context, never removed and
// added again.
func TestClass7_MinimalDiff(t *testing.T) {
	t.Parallel()
	const d = newDigest
	tests := []struct {
		name, file, want string
	}{
		{
			name: "two containers",
			file: "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n        image: registry.example.com/acme/app:1.0\n      - name: side\n        image: registry.example.com/acme/app:1.0\n        ports: []\n",
			want: "--- a/f.yaml\n+++ b/f.yaml\n@@ -7,7 +7,7 @@\n     spec:\n       containers:\n       - name: web\n-        image: registry.example.com/acme/app:1.0\n+        image: registry.example.com/acme/app:1.0@" + d + "\n       - name: side\n-        image: registry.example.com/acme/app:1.0\n+        image: registry.example.com/acme/app:1.0@" + d + "\n         ports: []\n",
		},
		{
			name: "far apart changes make two hunks",
			file: "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: a\n    image: registry.example.com/acme/app:1.0\n    a: 1\n    b: 2\n    c: 3\n    d: 4\n    e: 5\n    f: 6\n    g: 7\n  - name: b\n    image: registry.example.com/acme/app:1.0\n",
			want: "--- a/f.yaml\n+++ b/f.yaml\n@@ -5,7 +5,7 @@\n spec:\n   containers:\n   - name: a\n-    image: registry.example.com/acme/app:1.0\n+    image: registry.example.com/acme/app:1.0@" + d + "\n     a: 1\n     b: 2\n     c: 3\n@@ -14,4 +14,4 @@\n     f: 6\n     g: 7\n   - name: b\n-    image: registry.example.com/acme/app:1.0\n+    image: registry.example.com/acme/app:1.0@" + d + "\n",
		},
		{
			name: "crlf and no final newline",
			file: "kind: Pod\r\napiVersion: v1\r\nspec:\r\n  containers:\r\n  - name: a\r\n    image: registry.example.com/acme/app:1.0",
			want: "--- a/f.yaml\n+++ b/f.yaml\n@@ -3,4 +3,4 @@\n spec:\r\n   containers:\r\n   - name: a\r\n-    image: registry.example.com/acme/app:1.0\n\\ No newline at end of file\n+    image: registry.example.com/acme/app:1.0@" + d + "\n\\ No newline at end of file\n",
		},
		{
			name: "inserted kustomization digest",
			file: "images:\n- name: registry.example.com/acme/app\n  newTag: \"1.0\"\nresources:\n- a.yaml\n",
			want: "--- a/f.yaml\n+++ b/f.yaml\n@@ -1,5 +1,6 @@\n images:\n - name: registry.example.com/acme/app\n   newTag: \"1.0\"\n+  digest: " + d + "\n resources:\n - a.yaml\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ws := t.TempDir()
			name := "f.yaml"
			if strings.HasPrefix(tt.file, "images:") {
				name = "k/kustomization.yaml"
				tt.want = strings.ReplaceAll(tt.want, "/f.yaml", "/"+name)
			}
			writeFiles(t, ws, map[string]string{name: tt.file})
			opts := testOptions(ws)
			opts.DryRun = true
			res, err := Update(context.Background(), opts)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, res.Diff()); diff != "" {
				t.Errorf("Diff (-want +got):\n%s", diff)
			}
		})
	}
}
