package discover_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/imagecascade/cascade/internal/discover"
	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/testenv"
)

// TestTektonDiscoveryOnRealAPIServer lists annotated Pipelines on a real
// kube-apiserver with Tekton's CRDs: more Pipelines than one page holds
// (the continue token is followed), only the namespaces the config names,
// an invalid declaration skipped with its annotation's path, and a user
// without list rights failing with a clear, per-source error.
func TestTektonDiscoveryOnRealAPIServer(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	k := testenv.StartKube(t)
	testenv.InstallTektonCRDs(t, k)
	tc, err := versioned.NewForConfig(k.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"builds", "web", "elsewhere"} {
		if err := k.CreateNamespace(ctx, ns); err != nil {
			t.Fatal(err)
		}
	}
	create := func(ns, name string, ann map[string]string) {
		t.Helper()
		p := &pipelinev1.Pipeline{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Annotations: ann},
			Spec: pipelinev1.PipelineSpec{Tasks: []pipelinev1.PipelineTask{{Name: "build",
				TaskSpec: &pipelinev1.EmbeddedTask{TaskSpec: pipelinev1.TaskSpec{Steps: []pipelinev1.Step{{Name: "build", Image: "busybox"}}}}}}},
		}
		if _, err := tc.TektonV1().Pipelines(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	declares := func(image string) map[string]string {
		return map[string]string{discover.AnnotationImage: image, discover.AnnotationFrom: "registry.example.com/acme/httpd-base:latest",
			discover.AnnotationParams: `{BASE_IMAGE: "{{ .Base.Ref }}"}`}
	}
	// 130 Pipelines in builds: two pages of 100.
	for i := range 128 {
		create("builds", fmt.Sprintf("other-%03d", i), nil)
	}
	create("builds", "app-a-build", declares("registry.example.com/acme/app-a:latest"))
	create("builds", "zz-broken", map[string]string{discover.AnnotationImage: "registry.example.com/acme/broken:latest"})
	create("web", "app-w", declares("registry.example.com/acme/app-w:latest"))
	create("elsewhere", "app-x", declares("registry.example.com/acme/app-x:latest"))

	cfg := k.RESTConfig()
	var lists []string
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			q := r.URL.Query()
			lists = append(lists, r.URL.Path+" continue="+fmt.Sprint(q.Get("continue") != "")+" limit="+q.Get("limit"))
			return rt.RoundTrip(r)
		})
	})
	src, err := discover.NewTekton(cfg, []string{"builds", "web"})
	if err != nil {
		t.Fatal(err)
	}
	found, err := src.Discover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, im := range found.Images {
		got = append(got, fmt.Sprintf("%s %s %s/%s params=%v", im.DeclaredBy, im.Image, im.Rebuild.Tekton.Namespace, im.Rebuild.Tekton.Pipeline, im.Rebuild.Tekton.Params))
	}
	want := []string{
		"tekton:builds/app-a-build registry.example.com/acme/app-a:latest builds/app-a-build params=map[BASE_IMAGE:{{ .Base.Ref }}]",
		"tekton:web/app-w registry.example.com/acme/app-w:latest web/app-w params=map[BASE_IMAGE:{{ .Base.Ref }}]",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("declarations (-want +got):\n%s", diff)
	}
	wantLists := []string{
		"/apis/tekton.dev/v1/namespaces/builds/pipelines continue=false limit=100",
		"/apis/tekton.dev/v1/namespaces/builds/pipelines continue=true limit=100",
		"/apis/tekton.dev/v1/namespaces/web/pipelines continue=false limit=100",
	}
	if diff := cmp.Diff(wantLists, lists); diff != "" {
		t.Errorf("list requests (-want +got):\n%s", diff)
	}
	wantSkipped := []discover.Skipped{{Source: "tekton:builds/zz-broken", Path: "metadata.annotations[cascade.dev/from]", Reason: "required: the bases the Pipeline's image is built on"}}
	if diff := cmp.Diff(wantSkipped, found.Skipped); diff != "" {
		t.Errorf("skipped (-want +got):\n%s", diff)
	}

	limited, err := discover.NewTekton(k.UserRESTConfig(t, testenv.LimitedUser), []string{"builds"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = (&discover.Discoverer{Sources: []discover.Source{limited}}).Apply(ctx, baseConfig())
	if err == nil || exitcode.Of(err) != exitcode.Invalid ||
		!strings.Contains(err.Error(), "discovering dependents from tekton:builds: listing the Pipelines of namespace builds") ||
		!strings.Contains(err.Error(), "grant list on pipelines.tekton.dev") {
		t.Errorf("a user without list rights: %v (class %d), want invalid input naming the source and the right", err, exitcode.Of(err))
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
