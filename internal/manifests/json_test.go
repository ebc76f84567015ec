package manifests

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imagecascade/cascade/internal/exitcode"
)

// TestClass4_SelectedJSON: an explicitly selected *.json Kubernetes object
// (kubectl accepts JSON) is pinned in place, indentation by spaces or tabs
// kept; a selected JSON file that does not parse (JSON with comments) is
// skipped and reported, not an error; the default file set never looks at
// JSON.
func TestClass4_SelectedJSON(t *testing.T) {
	t.Parallel()
	const img = "registry.example.com/acme/app:1.0"
	deploy := "{\n  \"apiVersion\": \"apps/v1\",\n  \"kind\": \"Deployment\",\n  \"metadata\": {\"name\": \"web\"},\n  \"spec\": {\n    \"template\": {\n      \"spec\": {\n        \"containers\": [\n          {\n            \"name\": \"web\",\n            \"image\": \"" + img + "\"\n          }\n        ]\n      }\n    }\n  }\n}\n"
	tabs := strings.ReplaceAll(deploy, "  ", "\t")
	jsonc := "// generated\n{\"kind\": \"Pod\", \"apiVersion\": \"v1\", \"spec\": {\"containers\": [{\"name\": \"a\", \"image\": \"" + img + "\"}]}}\n"
	tests := []struct {
		name    string
		paths   []string
		files   map[string]string
		changed []string
		skipped map[string][]Skip
	}{
		{
			name:    "selected",
			paths:   []string{"k8s/*.json"},
			files:   map[string]string{"k8s/deploy.json": deploy, "k8s/tabs.json": tabs},
			changed: []string{"k8s/deploy.json", "k8s/tabs.json"},
		},
		{
			name:    "selected, with comments",
			paths:   []string{"k8s/*.json"},
			files:   map[string]string{"k8s/pod.json": jsonc},
			skipped: map[string][]Skip{"k8s/pod.json": {{Reason: "not parsed: parsing YAML: yaml: line 2: mapping values are not allowed in this context"}}},
		},
		{
			name:  "default set",
			files: map[string]string{"k8s/deploy.json": deploy},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ws := t.TempDir()
			writeFiles(t, ws, tt.files)
			opts := testOptions(ws)
			opts.Paths = tt.paths
			res, err := Update(context.Background(), opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := exitcode.Of(res.Err()); got != exitcode.OK {
				t.Errorf("exit code %d (%v)", got, res.Err())
			}
			if diff := cmp.Diff(tt.changed, res.Changed()); diff != "" {
				t.Errorf("Changed (-want +got):\n%s", diff)
			}
			skipped := map[string][]Skip{}
			for _, f := range res.Files {
				if len(f.Skipped) > 0 {
					skipped[f.Path] = f.Skipped
				}
			}
			if tt.skipped == nil {
				tt.skipped = map[string][]Skip{}
			}
			if diff := cmp.Diff(tt.skipped, skipped); diff != "" {
				t.Errorf("skipped (-want +got):\n%s", diff)
			}
			for _, p := range tt.changed {
				assertFile(t, ws, p, strings.ReplaceAll(tt.files[p], img, img+"@"+newDigest))
			}
		})
	}
}
