package run

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/imageref"
	"github.com/imagecascade/cascade/internal/manifests"
	"github.com/imagecascade/cascade/internal/report"
	"github.com/imagecascade/cascade/internal/rollout"
	"github.com/imagecascade/cascade/internal/rollout/rollouttest"
)

// liveCluster is a fake cluster with one Deployment "web" that follows
// base:latest; dry-run applies are answered without being stored (the
// fake tracker ignores dryRun) and counted, as are real ones.
type liveCluster struct {
	cs            *fake.Clientset
	dryRuns, real int
	failDryRun    bool
	// failList makes every list answer 503 (failDryRun every dry run
	// 403).
	failList bool
}

// follower is an opted-in Deployment name in namespace apps whose
// container web follows base:latest.
func follower(name string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "apps", Annotations: map[string]string{rollout.FollowAnnotation: "true"}},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: labels},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: reg + "base:latest"}}},
		}},
	}
}

func newLiveCluster(t *testing.T) *liveCluster {
	t.Helper()
	c := &liveCluster{cs: fake.NewClientset(follower("web"))}
	c.cs.PrependReactor("list", "*", func(k8stesting.Action) (bool, runtime.Object, error) {
		if c.failList {
			return true, nil, apierrors.NewServiceUnavailable("etcd is down")
		}
		return false, nil, nil
	})
	c.cs.PrependReactor("patch", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.PatchActionImpl)
		if len(p.PatchOptions.DryRun) == 0 {
			c.real++
			return false, nil, nil
		}
		c.dryRuns++
		if c.failDryRun {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "deployments"}, p.Name, nil)
		}
		return true, nil, nil
	})
	return c
}

// add adds another opted-in Deployment.
func (c *liveCluster) add(t *testing.T, name string) {
	t.Helper()
	if _, err := c.cs.AppsV1().Deployments("apps").Create(context.Background(), follower(name), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func (c *liveCluster) target() []ClusterTarget {
	return []ClusterTarget{rollout.New(rollouttest.New(c.cs), rollout.Target{Name: "test", Namespaces: []string{"apps"}})}
}

func (c *liveCluster) image(t *testing.T) string {
	t.Helper()
	d, err := c.cs.AppsV1().Deployments("apps").Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d.Spec.Template.Spec.Containers[0].Image
}

func workloadStatuses(out *report.Run) []string {
	var s []string
	for _, w := range out.Plan.Workloads {
		s = append(s, w.Name+"/"+string(w.Status))
	}
	return s
}

// TestClustersRollInPhase2: phase 1 dry-runs, phase 2 applies and
// reports; a re-run finds the workload current and applies nothing.
func TestClustersRollInPhase2(t *testing.T) {
	t.Parallel()
	s := newStream(map[string]string{"a": "github"}, 0)
	h := &fakeHistory{}
	c := newLiveCluster(t)
	d := deps(s, allKinds(), h, nil)
	d.Clusters = c.target()
	out, err := Run(context.Background(), d, baseRequest())
	if err != nil {
		t.Fatal(err)
	}
	want := reg + "base:latest@" + string(dg('b'))
	if got := c.image(t); got != want {
		t.Errorf("live image %s, want %s", got, want)
	}
	if got := workloadStatuses(out); len(got) != 1 || got[0] != "web/rolled" || c.dryRuns != 1 || c.real != 1 {
		t.Errorf("workloads %v, %d dry runs, %d applies", got, c.dryRuns, c.real)
	}
	var recorded []string
	for _, g := range h.records() {
		for _, ro := range g.Rollouts {
			recorded = append(recorded, ro.Cluster+"/"+ro.Workload+"/"+ro.Status)
		}
	}
	if len(recorded) != 1 || recorded[0] != "test/Deployment apps/web/rolled" {
		t.Errorf("history records rollouts %v", recorded)
	}
	out, err = Run(context.Background(), d, baseRequest())
	if err != nil {
		t.Fatal(err)
	}
	if got := workloadStatuses(out); len(got) != 1 || got[0] != "web/current" || c.real != 1 {
		t.Errorf("re-run: workloads %v, %d applies", got, c.real)
	}
	rollouts := 0
	for _, g := range h.records() {
		rollouts += len(g.Rollouts)
	}
	if rollouts != 1 {
		t.Errorf("the re-run recorded rollouts again: %d in all", rollouts)
	}
}

// TestClustersDryRunAppliesNothing: a dry run (and cascade plan) lists
// the workload that would roll and changes nothing.
func TestClustersDryRunAppliesNothing(t *testing.T) {
	t.Parallel()
	s := newStream(map[string]string{"a": "github"}, 0)
	c := newLiveCluster(t)
	d := deps(s, allKinds(), &fakeHistory{}, nil)
	d.Clusters = c.target()
	req := baseRequest()
	req.DryRun = true
	out, err := Run(context.Background(), d, req)
	if err != nil {
		t.Fatal(err)
	}
	if got := workloadStatuses(out); len(got) != 1 || got[0] != "web/roll" || c.real != 0 || c.image(t) != reg+"base:latest" {
		t.Errorf("dry run: workloads %v, %d applies, image %s", got, c.real, c.image(t))
	}
}

// TestClustersRefusalsComeBeforeAnySideEffect: rollouts over the blast
// radius, a failed server-side dry run, and an object both a manifest
// file and the cluster target would change each refuse the run (exit 5)
// with nothing dispatched or applied.
func TestClustersRefusalsComeBeforeAnySideEffect(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		setup func(d *Deps, c *liveCluster)
		want  string
	}{
		{"blast radius", func(d *Deps, _ *liveCluster) { d.Config.Limits.MaxDispatches = 1 }, "1 dispatches and 1 rollouts"},
		{"dry run fails", func(_ *Deps, c *liveCluster) { c.failDryRun = true }, "server-side dry run"},
		{"files and cluster", func(d *Deps, _ *liveCluster) { d.Manifests = namedManifests{} }, "both the manifests and the cluster target would change Deployment apps/web (in deploy/web.yaml)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newStream(map[string]string{"a": "github"}, 0)
			ds := allKinds()
			c := newLiveCluster(t)
			d := deps(s, ds, &fakeHistory{}, nil)
			d.Clusters = c.target()
			tc.setup(d, c)
			out, err := Run(context.Background(), d, baseRequest())
			if exitcode.Of(err) != exitcode.Refused || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("exit %d (%v), want 5 with %q", exitcode.Of(err), err, tc.want)
			}
			if ds.count() != 0 || c.real != 0 {
				t.Errorf("refused run acted: %d dispatches, %d applies", ds.count(), c.real)
			}
			if len(out.Plan.Refusals) == 0 {
				t.Errorf("refusal not in the plan")
			}
		})
	}
}

// namedManifests changes Deployment web in deploy/web.yaml.
type namedManifests struct{}

func (namedManifests) Update(_ context.Context, ref imageref.Ref, _ bool) (*manifests.Result, error) {
	return &manifests.Result{Files: []manifests.FileResult{{Path: "deploy/web.yaml", Format: "kubernetes", Objects: []manifests.ObjectResult{{
		Kind: "Deployment", Name: "web", Changes: []manifests.Change{{Line: 1, Old: ref.Short(), New: ref.Short() + "@" + string(ref.Digest)}}}}}}}, nil
}

func (namedManifests) WriteBack(context.Context, imageref.Ref, *manifests.Result) (*report.WriteBack, error) {
	return &report.WriteBack{Mode: "none"}, nil
}

// TestClustersCancelledInPhase1IsInterrupted: a run cancelled while the
// rollouts are checked ends with exit 130 and changes nothing.
func TestClustersCancelledInPhase1IsInterrupted(t *testing.T) {
	t.Parallel()
	s := newStream(map[string]string{"a": "github"}, 0)
	ds := allKinds()
	c := newLiveCluster(t)
	d := deps(s, ds, &fakeHistory{}, nil)
	d.Clusters = c.target()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Run(ctx, d, baseRequest())
	if exitcode.Of(err) != exitcode.Interrupted || ds.count() != 0 || c.real != 0 || c.dryRuns != 0 {
		t.Errorf("exit %d (%v); %d dispatches, %d dry runs, %d applies", exitcode.Of(err), err, ds.count(), c.dryRuns, c.real)
	}
}
