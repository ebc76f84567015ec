package rollout_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/imageref"
	"github.com/imagecascade/cascade/internal/rollout"
	"github.com/imagecascade/cascade/internal/rollout/rollouttest"
)

const (
	oldDigest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	newDigest = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
)

var updated = func() imageref.Ref {
	r := imageref.MustParse("registry.example/acme/app-a:1.0")
	r.Digest = newDigest
	return r
}()

func deployment(name string, ann map[string]string, containers ...corev1.Container) *appsv1.Deployment {
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "apps", Annotations: ann},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec:       corev1.PodSpec{Containers: containers},
			},
		},
	}
}

func ctr(name, image string) corev1.Container { return corev1.Container{Name: name, Image: image} }

func trig(fieldPath string, paused bool) map[string]string {
	b, _ := json.Marshal([]map[string]any{{
		"from":      map[string]string{"kind": "ImageStreamTag", "name": "app-a:1.0"},
		"fieldPath": fieldPath,
		"paused":    paused,
	}})
	return map[string]string{"image.openshift.io/triggers": string(b)}
}

// newFake returns the fake clientset with objs, whose dry-run applies are
// answered without being stored (client-go's fake tracker ignores dryRun),
// and the patches it received.
func newFake(t *testing.T, objs ...runtime.Object) (*fake.Clientset, *[]k8stesting.PatchActionImpl) {
	t.Helper()
	cs := fake.NewClientset(objs...)
	var patches []k8stesting.PatchActionImpl
	cs.PrependReactor("patch", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.PatchActionImpl)
		patches = append(patches, p)
		return len(p.PatchOptions.DryRun) > 0, nil, nil
	})
	return cs, &patches
}

func byName(t *testing.T, res *rollout.Result) map[string]rollout.Workload {
	t.Helper()
	m := map[string]rollout.Workload{}
	for _, w := range res.Workloads {
		m[w.Name] = w
	}
	return m
}

func TestPlanDecidesEachWorkload(t *testing.T) {
	repo := "registry.example/acme/app-a"
	objs := []runtime.Object{
		deployment("by-name", trig(`spec.template.spec.containers[?(@.name=="web")].image`, false), ctr("web", repo+":1.0"), ctr("side", "busybox")),
		deployment("by-index", trig("spec.template.spec.containers[1].image", false), ctr("a", repo+":1.0@"+oldDigest), ctr("b", repo+":1.0@"+oldDigest)),
		deployment("paused", trig(`spec.template.spec.containers[?(@.name=="web")].image`, true), ctr("web", repo+":1.0")),
		deployment("not-opted-in", nil, ctr("web", repo+":1.0")),
		deployment("follow", map[string]string{rollout.FollowAnnotation: "true"}, ctr("web", repo+":1.0")),
		deployment("follow-one", map[string]string{rollout.FollowAnnotation: "b"}, ctr("a", repo+":1.0"), ctr("b", repo+":1.0")),
		deployment("current", map[string]string{rollout.FollowAnnotation: "true"}, ctr("web", repo+":1.0@"+newDigest)),
		deployment("other-tag", map[string]string{rollout.FollowAnnotation: "true"}, ctr("web", repo+":2.0")),
		deployment("other-repo", map[string]string{rollout.FollowAnnotation: "true"}, ctr("web", "registry.example/acme/app-b:1.0")),
		deployment("bad-triggers", map[string]string{"image.openshift.io/triggers": "{not json"}, ctr("web", repo+":1.0")),
		deployment("internal-registry", trig(`spec.template.spec.containers[?(@.name=="web")].image`, false), ctr("web", "image-registry.openshift-image-registry.svc:5000/apps/app-a:1.0")),
		func() *appsv1.Deployment {
			d := deployment("argo", map[string]string{rollout.FollowAnnotation: "true", "argocd.argoproj.io/tracking-id": "app:apps/Deployment:apps/argo"}, ctr("web", repo+":1.0"))
			return d
		}(),
		func() *appsv1.Deployment {
			d := deployment("flux", map[string]string{rollout.FollowAnnotation: "true"}, ctr("web", repo+":1.0"))
			d.Labels = map[string]string{"kustomize.toolkit.fluxcd.io/name": "apps"}
			return d
		}(),
		func() *appsv1.Deployment {
			d := deployment("init", trig("spec.template.spec.initContainers[0].image", false), ctr("web", "busybox"))
			d.Spec.Template.Spec.InitContainers = []corev1.Container{ctr("migrate", repo+":1.0")}
			return d
		}(),
		&batchv1.CronJob{
			TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "CronJob"},
			ObjectMeta: metav1.ObjectMeta{Name: "nightly", Namespace: "apps", Annotations: map[string]string{rollout.FollowAnnotation: "true"}},
			Spec: batchv1.CronJobSpec{Schedule: "@daily", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{
				Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{ctr("job", repo)}}},
			}}},
		},
	}
	cs, patches := newFake(t, objs...)
	c := rollout.New(rollouttest.New(cs), rollout.Target{Name: "test", Namespaces: []string{"apps"}})
	res, err := c.Plan(context.Background(), updated)
	if err != nil {
		t.Fatal(err)
	}
	got := byName(t, res)
	want := map[string]rollout.Status{
		"by-name": rollout.StatusRoll, "by-index": rollout.StatusRoll, "paused": rollout.StatusPaused, "not-opted-in": rollout.StatusNotOptedIn,
		"follow": rollout.StatusRoll, "follow-one": rollout.StatusRoll, "current": rollout.StatusCurrent, "other-tag": rollout.StatusSkipped,
		"bad-triggers": rollout.StatusSkipped, "internal-registry": rollout.StatusRoll, "argo": rollout.StatusGitOps, "flux": rollout.StatusGitOps,
		"init": rollout.StatusRoll,
		// A CronJob following REPO (latest) is not moved for tag 1.0.
		"nightly": rollout.StatusSkipped,
	}
	for name, st := range want {
		if got[name].Status != st {
			t.Errorf("%s: status %q (%s), want %q", name, got[name].Status, got[name].Reason, st)
		}
	}
	if _, ok := got["other-repo"]; ok {
		t.Errorf("other-repo reported: %+v", got["other-repo"])
	}
	if len(res.Workloads) != len(want) {
		t.Errorf("%d workloads reported, want %d", len(res.Workloads), len(want))
	}
	pin := repo + ":1.0@" + newDigest
	checks := map[string][]rollout.Change{
		"by-name":           {{Field: "containers[name=web].image", From: repo + ":1.0", To: pin}},
		"by-index":          {{Field: "containers[name=b].image", From: repo + ":1.0@" + oldDigest, To: pin}},
		"follow-one":        {{Field: "containers[name=b].image", From: repo + ":1.0", To: pin}},
		"init":              {{Field: "initContainers[name=migrate].image", From: repo + ":1.0", To: pin}},
		"internal-registry": {{Field: "containers[name=web].image", From: "image-registry.openshift-image-registry.svc:5000/apps/app-a:1.0", To: pin}},
	}
	for name, want := range checks {
		if g := got[name].Changes; len(g) != len(want) || g[0] != want[0] {
			t.Errorf("%s: changes %+v, want %+v", name, g, want)
		}
	}
	if !strings.Contains(got["not-opted-in"].Reason, "would roll if opted in") {
		t.Errorf("not-opted-in reason %q", got["not-opted-in"].Reason)
	}
	// Every roll was dry-run, with the dedicated manager, forced; nothing
	// else was patched.
	if len(*patches) != res.Count(rollout.StatusRoll) {
		t.Errorf("%d patches, want %d dry runs", len(*patches), res.Count(rollout.StatusRoll))
	}
	for _, p := range *patches {
		if len(p.PatchOptions.DryRun) == 0 || p.PatchOptions.FieldManager != "cascade:registry.example/acme/app-a" || p.PatchOptions.Force == nil || !*p.PatchOptions.Force {
			t.Errorf("patch of %s: options %+v", p.Name, p.PatchOptions)
		}
	}
}

// TestApplyBodyHoldsOnlyImageFields: the apply names only the containers
// of the repository, the opted-in one at the new digest, the other at its
// own value, so that the manager never drops a field it owned.
func TestApplyBodyHoldsOnlyImageFields(t *testing.T) {
	repo := "registry.example/acme/app-a"
	d := deployment("two", map[string]string{rollout.FollowAnnotation: "b"}, ctr("a", repo+":1.0@"+oldDigest), ctr("b", repo+":1.0"), ctr("other", "busybox"))
	cs, patches := newFake(t, d)
	res, err := rollout.New(rollouttest.New(cs), rollout.Target{}).Plan(context.Background(), updated)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rollouts() != 1 || len(*patches) != 1 {
		t.Fatalf("rollouts %d, patches %d", res.Rollouts(), len(*patches))
	}
	want := `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"two","namespace":"apps"},"spec":{"template":{"spec":{"containers":[{"name":"a","image":"` +
		repo + `:1.0@` + oldDigest + `"},{"name":"b","image":"` + repo + `:1.0@` + newDigest + `"}]}}}}`
	if got := string((*patches)[0].Patch); got != want {
		t.Errorf("apply body\n got %s\nwant %s", got, want)
	}
}

// TestApplyThenRerunIsNoOp: the real apply moves the object; a second
// plan finds it current and applies nothing.
func TestApplyThenRerunIsNoOp(t *testing.T) {
	repo := "registry.example/acme/app-a"
	cs, patches := newFake(t, deployment("web", map[string]string{rollout.FollowAnnotation: "true"}, ctr("web", repo+":1.0")))
	c := rollout.New(rollouttest.New(cs), rollout.Target{Namespaces: []string{"apps"}})
	ctx := context.Background()
	res, err := c.Plan(ctx, updated)
	if err != nil {
		t.Fatal(err)
	}
	c.Apply(ctx, updated, res)
	if err := res.Err(); err != nil || res.Count(rollout.StatusRolled) != 1 {
		t.Fatalf("apply: %v, %+v", err, res.Workloads)
	}
	d, err := cs.AppsV1().Deployments("apps").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Spec.Template.Spec.Containers[0].Image; got != repo+":1.0@"+newDigest {
		t.Fatalf("image after apply %q", got)
	}
	n := len(*patches)
	res, err = c.Plan(ctx, updated)
	if err != nil {
		t.Fatal(err)
	}
	if res.Count(rollout.StatusCurrent) != 1 || res.Rollouts() != 0 || len(*patches) != n {
		t.Errorf("re-run: %+v, %d new patches", res.Workloads, len(*patches)-n)
	}
}

// TestDryRunFailureFailsTheWorkload: a Forbidden dry run is a failed
// workload, and nothing is applied for real.
func TestDryRunFailureFailsTheWorkload(t *testing.T) {
	repo := "registry.example/acme/app-a"
	cs := fake.NewClientset(deployment("web", map[string]string{rollout.FollowAnnotation: "true"}, ctr("web", repo+":1.0")))
	cs.PrependReactor("patch", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "deployments"}, "web", nil)
	})
	res, err := rollout.New(rollouttest.New(cs), rollout.Target{}).Plan(context.Background(), updated)
	if err != nil {
		t.Fatal(err)
	}
	if res.Count(rollout.StatusFailed) != 1 || res.Err() == nil || !strings.Contains(res.Err().Error(), "server-side dry run") {
		t.Errorf("got %+v, err %v", res.Workloads, res.Err())
	}
}

// pagedAPI serves an API's objects a page at a time and counts requests.
type pagedAPI struct {
	rollout.API
	lists, pageSize int
}

func (p *pagedAPI) List(ctx context.Context, kind, ns string, opts metav1.ListOptions) ([]rollout.Object, string, error) {
	p.lists++
	if opts.Limit != int64(p.pageSize) {
		return nil, "", apierrors.NewBadRequest("unexpected limit")
	}
	all, _, err := p.API.List(ctx, kind, ns, metav1.ListOptions{})
	if err != nil {
		return nil, "", err
	}
	start := 0
	if opts.Continue != "" {
		if err := json.Unmarshal([]byte(opts.Continue), &start); err != nil {
			return nil, "", err
		}
	}
	end := min(start+p.pageSize, len(all))
	next := ""
	if end < len(all) {
		b, _ := json.Marshal(end)
		next = string(b)
	}
	return all[start:end], next, nil
}

func TestPlanListsPageByPage(t *testing.T) {
	repo := "registry.example/acme/app-a"
	var objs []runtime.Object
	for i := range 7 {
		objs = append(objs, deployment("d"+string(rune('a'+i)), map[string]string{rollout.FollowAnnotation: "true"}, ctr("web", repo+":1.0")))
	}
	cs, _ := newFake(t, objs...)
	api := &pagedAPI{API: rollouttest.New(cs), pageSize: 3}
	res, err := rollout.New(api, rollout.Target{Kinds: []string{rollout.KindDeployment}, PageSize: 3}).Plan(context.Background(), updated)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rollouts() != 7 || api.lists != 3 {
		t.Errorf("rollouts %d over %d list requests, want 7 over 3", res.Rollouts(), api.lists)
	}
}

func TestListErrorsAreClassified(t *testing.T) {
	cs := fake.NewClientset()
	cs.PrependReactor("list", "deployments", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "deployments"}, "", nil)
	})
	_, err := rollout.New(rollouttest.New(cs), rollout.Target{Namespaces: []string{"apps"}}).Plan(context.Background(), updated)
	if exitcode.Of(err) != exitcode.Invalid || !strings.Contains(err.Error(), "namespace apps") {
		t.Errorf("forbidden list: %v (exit %d)", err, exitcode.Of(err))
	}
	cs = fake.NewClientset()
	cs.PrependReactor("list", "deployments", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewServiceUnavailable("down")
	})
	_, err = rollout.New(rollouttest.New(cs), rollout.Target{}).Plan(context.Background(), updated)
	if exitcode.Of(err) != exitcode.Transient {
		t.Errorf("unavailable list: %v (exit %d)", err, exitcode.Of(err))
	}
}

func TestPlanNeedsTagAndDigest(t *testing.T) {
	cs := fake.NewClientset()
	_, err := rollout.New(rollouttest.New(cs), rollout.Target{}).Plan(context.Background(), imageref.MustParse("registry.example/acme/app-a:1.0"))
	if exitcode.Of(err) != exitcode.Invalid {
		t.Errorf("no digest: %v", err)
	}
}

func TestDeploymentConfigNotServedIsANote(t *testing.T) {
	cs := fake.NewClientset()
	res, err := rollout.New(rollouttest.New(cs), rollout.Target{Kinds: []string{rollout.KindDeploymentConfig}}).Plan(context.Background(), updated)
	if err != nil || len(res.Notes) != 1 || !strings.Contains(res.Notes[0], "DeploymentConfig") {
		t.Errorf("got %+v, %v", res, err)
	}
}

func TestFieldManager(t *testing.T) {
	if got := rollout.FieldManager(updated); got != "cascade:registry.example/acme/app-a" {
		t.Errorf("FieldManager = %q", got)
	}
	long := imageref.MustParse("registry.example/" + strings.Repeat("a/", 70) + "x:1")
	if got := rollout.FieldManager(long); len(got) > 128 || !strings.HasPrefix(got, "cascade:") {
		t.Errorf("long rollout.FieldManager = %q", got)
	}
}

// TestCancelledApplyChangesNothing: once the context is cancelled no apply
// is sent; the workload is failed with the cause, and Err says so.
func TestCancelledApplyChangesNothing(t *testing.T) {
	repo := "registry.example/acme/app-a"
	cs, patches := newFake(t, deployment("web", map[string]string{rollout.FollowAnnotation: "true"}, ctr("web", repo+":1.0")))
	c := rollout.New(rollouttest.New(cs), rollout.Target{})
	res, err := c.Plan(context.Background(), updated)
	if err != nil {
		t.Fatal(err)
	}
	n := len(*patches)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c.Apply(ctx, updated, res)
	if len(*patches) != n || res.Count(rollout.StatusFailed) != 1 || res.Err() == nil || !strings.Contains(res.Err().Error(), "not applied: context canceled") {
		t.Errorf("%d patches after cancel, workloads %+v, err %v", len(*patches)-n, res.Workloads, res.Err())
	}
}
