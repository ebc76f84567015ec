package manifests

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imagecascade/cascade/internal/imageref"
)

// TestClass6_Formats: Kubernetes image volumes (in a Pod, in a workload's
// pod template, in a custom resource's embedded pod template) and Compose
// services are pinned by rule, not by accident; the Compose file is
// reported as such.
func TestClass6_Formats(t *testing.T) {
	t.Parallel()
	const img = "registry.example.com/acme/app:1.0"
	const other = "registry.example.com/acme/app:2.0"
	tests := []struct {
		name, src, format string
		changes           []string // fields changed
		skipped           []Skip
	}{
		{
			name:    "Pod image volume",
			src:     "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: a\n    image: busybox\n    volumeMounts:\n    - {name: data, mountPath: /data}\n  volumes:\n  - name: data\n    image:\n      reference: " + img + "\n      pullPolicy: IfNotPresent\n",
			format:  "kubernetes",
			changes: []string{"spec.volumes[data].image.reference"},
		},
		{
			name:    "Deployment image volume and container",
			src:     "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  template:\n    spec:\n      containers:\n      - name: a\n        image: " + img + "\n      volumes:\n      - name: models\n        image: {reference: " + img + "}\n      - name: old\n        image:\n          reference: " + other + "\n",
			format:  "kubernetes",
			changes: []string{"spec.template.spec.containers[a].image", "spec.template.spec.volumes[models].image.reference"},
			skipped: []Skip{{Line: 16, Field: "spec.template.spec.volumes[old].image.reference", Ref: other, Reason: `tag "2.0" is not the updated tag "1.0"`}},
		},
		{
			name:    "custom resource with an image volume",
			src:     "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata:\n  name: r\nspec:\n  template:\n    spec:\n      volumes:\n      - name: m\n        image:\n          reference: " + img + "\n",
			format:  "kubernetes",
			changes: []string{"spec.template.spec.volumes[m].image.reference"},
		},
		{
			name:    "Compose services",
			src:     "x-base: &base\n  restart: always\nservices:\n  web:\n    <<: *base\n    image: " + img + "\n    build: .\n  worker:\n    image: \"" + img + "\"\n  db:\n    image: postgres:16\n",
			format:  "compose",
			changes: []string{"services.web.image", "services.worker.image"},
		},
		{
			name:    "Compose image shared through an extension field",
			src:     "x-app: &app\n  image: " + img + "\nservices:\n  api:\n    <<: *app\n    command: api\n  jobs:\n    <<: *app\n    command: jobs\n",
			format:  "compose",
			changes: []string{"x-app.image"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, objects, skipped, format, err := RewriteYAML([]byte(tt.src), RewriteOptions{Image: imageref.MustParse(defaultImage)})
			if err != nil {
				t.Fatal(err)
			}
			var fields []string
			for _, o := range objects {
				for _, c := range o.Changes {
					fields = append(fields, c.Field)
				}
			}
			if diff := cmp.Diff(tt.changes, fields); diff != "" {
				t.Errorf("changed fields (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.skipped, skipped); diff != "" {
				t.Errorf("skipped (-want +got):\n%s", diff)
			}
			if format != tt.format {
				t.Errorf("format %q, want %q", format, tt.format)
			}
			if n := strings.Count(string(out), img+"@"+newDigest); n != len(tt.changes) {
				t.Errorf("%d pinned references in the output, want %d:\n%s", n, len(tt.changes), out)
			}
		})
	}
}
