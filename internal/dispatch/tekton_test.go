package dispatch_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/client/clientset/versioned/fake"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stesting "k8s.io/client-go/testing"

	"github.com/imagecascade/cascade/internal/config"
	"github.com/imagecascade/cascade/internal/dispatch"
	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/retry"
	"github.com/imagecascade/cascade/internal/tektontest"
)

var pipelineRuns = schema.GroupVersionResource{Group: "tekton.dev", Version: "v1", Resource: "pipelineruns"}

func tektonTarget() dispatch.Target {
	return target("app-a", config.Rebuild{Tekton: &config.Tekton{
		Namespace: "ci", Pipeline: "app-a-build", ServiceAccount: "builder", Timeout: "1h",
		Params:     map[string]string{"BASE_IMAGE": "{{ .Base.Ref }}", "CASCADE_ID": "{{ .Cascade.ID }}"},
		Workspaces: []config.TektonWorkspace{{Name: "source", PersistentVolumeClaim: &config.PersistentVolumeClaim{ClaimName: "src"}}, {Name: "scratch", EmptyDir: &config.EmptyDir{}}},
		Labels:     map[string]string{"team": "web"},
	}})
}

func listRuns(t *testing.T, c *fake.Clientset) []pipelinev1.PipelineRun {
	t.Helper()
	l, err := c.TektonV1().PipelineRuns("ci").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return l.Items
}

func TestTektonCreatesPipelineRun(t *testing.T) {
	t.Parallel()
	c := fake.NewSimpleClientset()
	k := dispatch.NewTektonFor(tektontest.PipelineRuns(c), dispatch.TektonOptions{Policy: fakePolicy(retry.NewFakeClock(t0))})
	o := k.Dispatch(context.Background(), tektonTarget())
	if o.Status != dispatch.StatusDispatched || o.Detail != "ci/app-a-1a2b1a2b1a2b" {
		t.Fatalf("outcome %+v", o)
	}
	runs := listRuns(t, c)
	if len(runs) != 1 {
		t.Fatalf("%d PipelineRuns, want 1", len(runs))
	}
	pr := runs[0]
	wantLabels := map[string]string{
		"team": "web", dispatch.LabelDependent: "app-a", dispatch.LabelBaseDigest: newDigest.Hex()[:63],
		dispatch.LabelManagedBy: "cascade",
	}
	if diff := cmp.Diff(wantLabels, pr.Labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	if got := pr.Annotations[dispatch.AnnotationBaseRef]; got != "registry.example.com/acme/httpd-base:latest@"+string(newDigest) {
		t.Errorf("base-ref annotation %q", got)
	}
	if got := pr.Annotations[dispatch.AnnotationChain]; got != "httpd-base" {
		t.Errorf("chain annotation %q", got)
	}
	wantParams := pipelinev1.Params{
		{Name: "BASE_IMAGE", Value: *pipelinev1.NewStructuredValues("registry.example.com/acme/httpd-base@" + string(newDigest))},
		{Name: "CASCADE_ID", Value: *pipelinev1.NewStructuredValues("app-a-1a2b1a2b1a2b")},
	}
	if diff := cmp.Diff(wantParams, pr.Spec.Params); diff != "" {
		t.Errorf("params (-want +got):\n%s", diff)
	}
	if pr.Spec.PipelineRef == nil || pr.Spec.PipelineRef.Name != "app-a-build" || pr.Spec.TaskRunTemplate.ServiceAccountName != "builder" ||
		pr.Spec.Timeouts == nil || pr.Spec.Timeouts.Pipeline.Duration != time.Hour || len(pr.Spec.Workspaces) != 2 ||
		pr.Spec.Workspaces[0].PersistentVolumeClaim.ClaimName != "src" || pr.Spec.Workspaces[1].EmptyDir == nil {
		t.Errorf("spec %+v", pr.Spec)
	}
	if pr.GenerateName != "" {
		t.Errorf("generateName %q set", pr.GenerateName)
	}
}

func TestTektonResolverRef(t *testing.T) {
	t.Parallel()
	tg := target("app-a", config.Rebuild{Tekton: &config.Tekton{Namespace: "ci",
		PipelineRef: &config.TektonResolverRef{Resolver: "git", Params: map[string]string{"url": "https://example.com/r.git", "revision": "main"}}}})
	built, err := dispatch.BuildPipelineRun(tg)
	if err != nil {
		t.Fatal(err)
	}
	pr, err := tektontest.ToTekton(built)
	if err != nil {
		t.Fatal(err)
	}
	want := &pipelinev1.PipelineRef{ResolverRef: pipelinev1.ResolverRef{Resolver: "git", Params: pipelinev1.Params{
		{Name: "revision", Value: *pipelinev1.NewStructuredValues("main")},
		{Name: "url", Value: *pipelinev1.NewStructuredValues("https://example.com/r.git")},
	}}}
	if diff := cmp.Diff(want, pr.Spec.PipelineRef); diff != "" {
		t.Errorf("pipelineRef (-want +got):\n%s", diff)
	}
}

func TestR14_TektonCreateTimedOutAfterPersisting(t *testing.T) {
	t.Parallel()
	c := fake.NewSimpleClientset()
	var calls atomic.Int32
	c.PrependReactor("create", "pipelineruns", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if calls.Add(1) > 1 {
			return false, nil, nil // the tracker answers: AlreadyExists
		}
		obj := a.(k8stesting.CreateAction).GetObject()
		if err := c.Tracker().Create(pipelineRuns, obj, a.GetNamespace()); err != nil {
			return true, nil, err
		}
		return true, nil, apierrors.NewServerTimeout(pipelineRuns.GroupResource(), "create", 1)
	})
	clock := retry.NewFakeClock(t0)
	k := dispatch.NewTektonFor(tektontest.PipelineRuns(c), dispatch.TektonOptions{Policy: fakePolicy(clock)})
	o := k.Dispatch(context.Background(), tektonTarget())
	if o.Status != dispatch.StatusAlreadyDispatched || o.Err != nil || o.Attempts != 2 {
		t.Fatalf("outcome %+v, want already-dispatched after 2 attempts", o)
	}
	if n := len(listRuns(t, c)); n != 1 {
		t.Errorf("%d PipelineRuns, want exactly 1", n)
	}
	if diff := cmp.Diff([]time.Duration{time.Second}, clock.Waits()); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
}

func TestTektonTwiceIsOneRun(t *testing.T) {
	t.Parallel()
	c := fake.NewSimpleClientset()
	k := dispatch.NewTektonFor(tektontest.PipelineRuns(c), dispatch.TektonOptions{Policy: fakePolicy(retry.NewFakeClock(t0))})
	out, err := dispatch.Run(context.Background(), []dispatch.Target{tektonTarget(), tektonTarget(), tektonTarget()},
		map[string]dispatch.Dispatcher{"tekton": k}, dispatch.RunOptions{Concurrency: 3})
	if err != nil {
		t.Fatal(err)
	}
	var statuses []dispatch.Status
	for _, o := range out {
		statuses = append(statuses, o.Status)
	}
	created := 0
	for _, s := range statuses {
		if s == dispatch.StatusDispatched {
			created++
		} else if s != dispatch.StatusAlreadyDispatched {
			t.Errorf("status %s", s)
		}
	}
	if created != 1 || len(listRuns(t, c)) != 1 {
		t.Errorf("statuses %v, %d runs; want one created, one run", statuses, len(listRuns(t, c)))
	}
	if err := dispatch.Summarize(out); err != nil {
		t.Errorf("Summarize: %v", err)
	}
}

func TestTektonForbiddenExplained(t *testing.T) {
	t.Parallel()
	c := fake.NewSimpleClientset()
	c.PrependReactor("create", "pipelineruns", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(pipelineRuns.GroupResource(), "", nil)
	})
	k := dispatch.NewTektonFor(tektontest.PipelineRuns(c), dispatch.TektonOptions{Policy: fakePolicy(retry.NewFakeClock(t0))})
	o := k.Dispatch(context.Background(), tektonTarget())
	if o.Status != dispatch.StatusFailed || o.Attempts != 1 {
		t.Fatalf("outcome %+v, want failed after one attempt", o)
	}
	if !strings.Contains(o.Err.Error(), "the service account needs create on pipelineruns.tekton.dev in namespace ci") {
		t.Errorf("error %q does not explain the denial", o.Err)
	}
	if err := dispatch.Summarize([]dispatch.Outcome{o}); exitcode.Of(err) != exitcode.Partial {
		t.Errorf("Summarize = %v, want exit 3", err)
	}
}
