package manifests

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imagecascade/cascade/internal/imageref"
)

// TestClass5_KindModel: Kubernetes' own kinds without a pod template
// (ConfigMap, Secret, Service, …) are never edited, whatever key holds
// something that looks like the image; what the generic rule would have
// taken is reported. Workloads are pinned in their pod template only. Kinds
// of any other API group are custom resources and keep the generic rule,
// even when their kind is spelled like a Kubernetes one (Knative's
// Service, Volcano's Job).
func TestClass5_KindModel(t *testing.T) {
	t.Parallel()
	const img = "registry.example.com/acme/app:1.0"
	const pinnedImg = img + "@" + newDigest
	noPodTemplate := func(kind string) string {
		return kind + " is a Kubernetes kind without a pod template: its fields are data, not image references"
	}
	tests := []struct {
		name    string
		src     string
		pinned  bool // every occurrence of img is pinned (else none)
		skipped []Skip
	}{
		{
			name:    "ConfigMap data",
			src:     "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  image: " + img + "\n",
			skipped: []Skip{{Line: 6, Field: "data.image", Ref: img, Reason: noPodTemplate("ConfigMap")}},
		},
		{
			name:    "Secret stringData",
			src:     "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  image: " + img + "\n",
			skipped: []Skip{{Line: 6, Field: "stringData.image", Ref: img, Reason: noPodTemplate("Secret")}},
		},
		{
			name:    "Service annotation",
			src:     "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\n  annotations:\n    image: " + img + "\nspec:\n  ports:\n  - port: 80\n",
			skipped: []Skip{{Line: 6, Field: "metadata.annotations.image", Ref: img, Reason: noPodTemplate("Service")}},
		},
		{
			name:    "CustomResourceDefinition default",
			src:     "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: x\nspec:\n  versions:\n  - name: v1\n    schema:\n      openAPIV3Schema:\n        properties:\n          image: {type: string, default: x}\n        x-example:\n          image: " + img + "\n",
			skipped: []Skip{{Line: 13, Field: "spec.versions[0].schema.openAPIV3Schema.x-example.image", Ref: img, Reason: noPodTemplate("CustomResourceDefinition")}},
		},
		{
			name: "Ingress of another repository is not reported",
			src:  "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: i\n  annotations:\n    image: registry.example.com/acme/other:1.0\n",
		},
		{
			name:   "Deployment",
			src:    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  template:\n    spec:\n      containers:\n      - name: a\n        image: " + img + "\n",
			pinned: true,
		},
		{
			name:   "Tekton Task",
			src:    "apiVersion: tekton.dev/v1\nkind: Task\nmetadata:\n  name: t\nspec:\n  steps:\n  - name: build\n    image: " + img + "\n",
			pinned: true,
		},
		{
			name:   "Knative Service",
			src:    "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: k\nspec:\n  template:\n    spec:\n      containers:\n      - image: " + img + "\n",
			pinned: true,
		},
		{
			name:   "Argo Rollout",
			src:    "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata:\n  name: r\nspec:\n  template:\n    spec:\n      containers:\n      - name: a\n        image: " + img + "\n",
			pinned: true,
		},
		{
			name:   "Volcano Job",
			src:    "apiVersion: batch.volcano.sh/v1alpha1\nkind: Job\nmetadata:\n  name: v\nspec:\n  tasks:\n  - name: t\n    template:\n      spec:\n        containers:\n        - name: a\n          image: " + img + "\n",
			pinned: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, _, skipped, _, err := RewriteYAML([]byte(tt.src), RewriteOptions{Image: imageref.MustParse(defaultImage)})
			if err != nil {
				t.Fatal(err)
			}
			want := tt.src
			if tt.pinned {
				want = strings.ReplaceAll(tt.src, img, pinnedImg)
			}
			if diff := cmp.Diff(want, string(out)); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.skipped, skipped); diff != "" {
				t.Errorf("skipped (-want +got):\n%s", diff)
			}
		})
	}
}
