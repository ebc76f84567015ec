package discover

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imagecascade/cascade/internal/config"
)

func TestPipelineDeclaration(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		ann     map[string]string
		ok      bool
		want    *config.Image
		skipped []Skipped
	}{
		{name: "not a declaration", ann: map[string]string{"team": "web"}},
		{name: "full", ann: map[string]string{
			AnnotationImage:          "registry.example.com/acme/app-a:latest",
			AnnotationFrom:           "registry.example.com/acme/httpd-base:latest,\nregistry.example.com/acme/tools:1",
			AnnotationParams:         `{BASE_IMAGE: "{{ .Base.Ref }}", REVISION: main}`,
			AnnotationServiceAccount: "builder",
			AnnotationWorkspaces:     `[{name: source, emptyDir: {}}]`,
			AnnotationTimeout:        "30m",
		}, ok: true, want: &config.Image{
			Name: "app-a-build", Image: "registry.example.com/acme/app-a:latest",
			From: []string{"registry.example.com/acme/httpd-base:latest", "registry.example.com/acme/tools:1"},
			Rebuild: config.Rebuild{Tekton: &config.Tekton{Namespace: "builds", Pipeline: "app-a-build", ServiceAccount: "builder", Timeout: "30m",
				Params:     map[string]string{"BASE_IMAGE": "{{ .Base.Ref }}", "REVISION": "main"},
				Workspaces: []config.TektonWorkspace{{Name: "source", EmptyDir: &config.EmptyDir{}}}}},
			DeclaredBy: "tekton:builds/app-a-build",
		}},
		{name: "named", ann: map[string]string{AnnotationImage: "registry.example.com/acme/app-a:latest", AnnotationFrom: "registry.example.com/acme/httpd-base", AnnotationName: "app-a"},
			ok: true, want: &config.Image{Name: "app-a", Image: "registry.example.com/acme/app-a:latest", From: []string{"registry.example.com/acme/httpd-base"},
				Rebuild: config.Rebuild{Tekton: &config.Tekton{Namespace: "builds", Pipeline: "app-a-build"}}, DeclaredBy: "tekton:builds/app-a-build"}},
		{name: "invalid", ann: map[string]string{
			AnnotationImage:  "registry.example.com/acme/app-a@sha256:" + fmt.Sprintf("%064d", 0),
			AnnotationParams: `{BASE_IMAGE: "{{ .Nope }}"}`,
			AnnotationName:   "App A",
		}, ok: true, skipped: []Skipped{
			{Source: "tekton:builds/app-a-build", Path: "metadata.annotations[cascade.dev/from]", Reason: "required: the bases the Pipeline's image is built on"},
			{Source: "tekton:builds/app-a-build", Path: "metadata.annotations[cascade.dev/name]", Reason: `"App A" must be at most 63 lowercase letters, digits, '-' and '.', starting and ending with a letter or digit`},
			{Source: "tekton:builds/app-a-build", Path: "metadata.annotations[cascade.dev/image]", Reason: `"registry.example.com/acme/app-a@sha256:0000000000000000000000000000000000000000000000000000000000000000" must not carry a digest: a config image is a tag that moves`},
			{Source: "tekton:builds/app-a-build", Path: "metadata.annotations[cascade.dev/params][BASE_IMAGE]", Reason: "template: 1:3: <.Nope>: can't evaluate field Nope in type config.TemplateData"},
		}},
		{name: "from without image", ann: map[string]string{AnnotationFrom: "registry.example.com/acme/httpd-base"}, ok: true, skipped: []Skipped{
			{Source: "tekton:builds/app-a-build", Path: "metadata.annotations[cascade.dev/image]", Reason: "required (the Pipeline has other cascade.dev/ annotations)"},
		}},
		{name: "bad params", ann: map[string]string{AnnotationImage: "registry.example.com/acme/app-a:1", AnnotationFrom: "registry.example.com/acme/httpd-base", AnnotationParams: "[a, b]"}, ok: true, skipped: []Skipped{
			{Source: "tekton:builds/app-a-build", Path: "metadata.annotations[cascade.dev/params]", Reason: "want a mapping of param names to templates: yaml: unmarshal errors:\n  line 1: cannot unmarshal !!seq into map[string]string"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			im, skipped, ok := PipelineDeclaration("builds", "app-a-build", tc.ann)
			if ok != tc.ok {
				t.Fatalf("ok %v, want %v", ok, tc.ok)
			}
			if diff := cmp.Diff(tc.skipped, skipped); diff != "" {
				t.Errorf("skipped (-want +got):\n%s", diff)
			}
			if tc.want != nil {
				if diff := cmp.Diff(*tc.want, im); diff != "" {
					t.Errorf("image (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// TestTektonDiscoveryFollowsContinueTokens: every page of every namespace
// is read, in order.
func TestTektonDiscoveryFollowsContinueTokens(t *testing.T) {
	t.Parallel()
	var calls []string
	src := &Tekton{Namespaces: []string{"a", "b"}, list: func(_ context.Context, ns, cont string) (*pipelineList, error) {
		calls = append(calls, ns+"/"+cont)
		l := &pipelineList{}
		n := 0
		switch ns + "/" + cont {
		case "a/":
			l.Metadata.Continue, n = "p2", 2
		case "a/p2":
			n = 1
		case "b/":
			n = 1
		}
		for i := range n {
			var item struct {
				Metadata struct {
					Name        string            `json:"name"`
					Namespace   string            `json:"namespace"`
					Annotations map[string]string `json:"annotations"`
				} `json:"metadata"`
			}
			item.Metadata.Name = fmt.Sprintf("p-%s%s-%d", ns, cont, i)
			item.Metadata.Annotations = map[string]string{AnnotationImage: "registry.example.com/acme/" + item.Metadata.Name + ":1", AnnotationFrom: "registry.example.com/acme/base"}
			l.Items = append(l.Items, item)
		}
		return l, nil
	}}
	found, err := src.Discover(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a/", "a/p2", "b/"}, calls); diff != "" {
		t.Errorf("list calls (-want +got):\n%s", diff)
	}
	var names []string
	for _, im := range found.Images {
		names = append(names, im.DeclaredBy)
	}
	if diff := cmp.Diff([]string{"tekton:a/p-a-0", "tekton:a/p-a-1", "tekton:a/p-ap2-0", "tekton:b/p-b-0"}, names); diff != "" {
		t.Errorf("declarations (-want +got):\n%s", diff)
	}
}
