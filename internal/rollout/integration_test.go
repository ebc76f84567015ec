package rollout_test

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/imagecascade/cascade/internal/rollout"
	"github.com/imagecascade/cascade/internal/testenv"
)

// TestRolloutOnRealCluster rolls live workloads on a real kube-apiserver
// with kube-controller-manager's workload controllers: the opted-in
// Deployment gets a new ReplicaSet whose pod template holds the new digest
// (its pods stay Pending: there is no kubelet — "rolled" means the
// controller started the rollout), the StatefulSet and DaemonSet new
// ControllerRevisions, the CronJob's jobTemplate moves; the paused trigger,
// the Deployment that did not opt in and the Argo CD-owned one do not move;
// a second run applies nothing.
func TestRolloutOnRealCluster(t *testing.T) {
	t.Parallel()
	k := testenv.StartKube(t)
	k.StartControllerManager(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := k.CreateNamespace(ctx, "apps"); err != nil {
		t.Fatal(err)
	}
	cs := kubernetes.NewForConfigOrDie(k.RESTConfig())
	repo := "registry.example/acme/app-a"
	// Created the way kubectl create would (an Update manager owning the
	// image fields): cascade's first apply must force them.
	create := metav1.CreateOptions{FieldManager: "kubectl-create"}
	mk := func(d *appsv1.Deployment) {
		t.Helper()
		if _, err := cs.AppsV1().Deployments("apps").Create(ctx, d, create); err != nil {
			t.Fatal(err)
		}
	}
	mk(deployment("app-a", trig(`spec.template.spec.containers[?(@.name=="web")].image`, false), ctr("web", repo+":1.0@"+oldDigest)))
	mk(deployment("paused", trig(`spec.template.spec.containers[?(@.name=="web")].image`, true), ctr("web", repo+":1.0@"+oldDigest)))
	mk(deployment("not-opted-in", nil, ctr("web", repo+":1.0@"+oldDigest)))
	mk(deployment("argo", map[string]string{rollout.FollowAnnotation: "true", "argocd.argoproj.io/tracking-id": "x"}, ctr("web", repo+":1.0@"+oldDigest)))
	follow := map[string]string{rollout.FollowAnnotation: "true"}
	tmpl := func(app string) (*metav1.LabelSelector, corev1.PodTemplateSpec) {
		labels := map[string]string{"app": app}
		return &metav1.LabelSelector{MatchLabels: labels},
			corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{Containers: []corev1.Container{ctr("web", repo+":1.0")}}}
	}
	setSel, setTmpl := tmpl("set")
	dsSel, dsTmpl := tmpl("daemon")
	if _, err := cs.AppsV1().StatefulSets("apps").Create(ctx, &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "set", Namespace: "apps", Annotations: follow},
		Spec:       appsv1.StatefulSetSpec{Selector: setSel, Template: setTmpl},
	}, create); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.AppsV1().DaemonSets("apps").Create(ctx, &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "daemon", Namespace: "apps", Annotations: follow},
		Spec:       appsv1.DaemonSetSpec{Selector: dsSel, Template: dsTmpl},
	}, create); err != nil {
		t.Fatal(err)
	}
	jobTmpl := corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{ctr("job", repo+":1.0")}}}
	if _, err := cs.BatchV1().CronJobs("apps").Create(ctx, &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "nightly", Namespace: "apps", Annotations: follow},
		Spec:       batchv1.CronJobSpec{Schedule: "0 3 * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: jobTmpl}}},
	}, create); err != nil {
		t.Fatal(err)
	}
	// The controllers' first ReplicaSets and revisions.
	waitFor(ctx, t, "first ReplicaSets and ControllerRevisions", func() bool {
		return len(replicaSets(ctx, t, cs, "app-a")) == 1 && len(revisions(ctx, t, cs)) == 2
	})

	api, err := rollout.NewKubeAPI(k.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	c := rollout.New(api, rollout.Target{Name: "test", Namespaces: []string{"apps"}, PageSize: 2})
	res, err := c.Plan(ctx, updated)
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Err(); err != nil {
		t.Fatalf("dry run: %v", err)
	}
	got := byName(t, res)
	for name, st := range map[string]rollout.Status{"app-a": rollout.StatusRoll, "paused": rollout.StatusPaused, "not-opted-in": rollout.StatusNotOptedIn, "argo": rollout.StatusGitOps,
		"set": rollout.StatusRoll, "daemon": rollout.StatusRoll, "nightly": rollout.StatusRoll} {
		if got[name].Status != st {
			t.Errorf("plan: %s is %q (%s), want %q", name, got[name].Status, got[name].Reason, st)
		}
	}
	// The dry run changed nothing.
	if d, _ := cs.AppsV1().Deployments("apps").Get(ctx, "app-a", metav1.GetOptions{}); d.Spec.Template.Spec.Containers[0].Image != repo+":1.0@"+oldDigest {
		t.Fatalf("the dry run moved app-a to %s", d.Spec.Template.Spec.Containers[0].Image)
	}

	c.Apply(ctx, updated, res)
	if err := res.Err(); err != nil {
		t.Fatalf("apply: %v", err)
	}
	if n := res.Count(rollout.StatusRolled); n != 4 {
		t.Fatalf("%d rolled, want 4: %+v", n, res.Workloads)
	}
	pin := repo + ":1.0@" + newDigest
	waitFor(ctx, t, "app-a's new ReplicaSet", func() bool {
		for _, rs := range replicaSets(ctx, t, cs, "app-a") {
			if rs.Spec.Template.Spec.Containers[0].Image == pin {
				return true
			}
		}
		return false
	})
	waitFor(ctx, t, "new ControllerRevisions of the StatefulSet and DaemonSet", func() bool {
		return len(revisions(ctx, t, cs)) == 4
	})
	cj, err := cs.BatchV1().CronJobs("apps").Get(ctx, "nightly", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Image; got != pin {
		t.Errorf("CronJob's jobTemplate holds %s", got)
	}
	for _, name := range []string{"paused", "not-opted-in", "argo"} {
		d, err := cs.AppsV1().Deployments("apps").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if img := d.Spec.Template.Spec.Containers[0].Image; img != repo+":1.0@"+oldDigest {
			t.Errorf("%s moved to %s", name, img)
		}
		if n := len(replicaSets(ctx, t, cs, name)); n != 1 {
			t.Errorf("%s has %d ReplicaSets", name, n)
		}
	}
	// cascade's manager owns the image field now, and nothing else of
	// the pod spec.
	d, err := cs.AppsV1().Deployments("apps").Get(ctx, "app-a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range d.ManagedFields {
		if f.Manager != rollout.FieldManager(updated) {
			continue
		}
		fields := string(f.FieldsV1.Raw)
		if !strings.Contains(fields, `"f:image"`) || strings.Contains(fields, `"f:selector"`) || strings.Contains(fields, `"f:labels"`) {
			t.Errorf("cascade's managed fields: %s", fields)
		}
	}

	// A second run changes nothing.
	before := d.ResourceVersion
	res2, err := c.Plan(ctx, updated)
	if err != nil {
		t.Fatal(err)
	}
	c.Apply(ctx, updated, res2)
	if res2.Rollouts() != 0 || res2.Count(rollout.StatusCurrent) != 4 {
		t.Errorf("second run: %+v", res2.Workloads)
	}
	d, err = cs.AppsV1().Deployments("apps").Get(ctx, "app-a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.ResourceVersion != before {
		t.Errorf("second run changed app-a: resourceVersion %s → %s", before, d.ResourceVersion)
	}
}

// TestRolloutDryRunChecksPermissions: a user who may list Deployments but
// not patch them fails in the dry run, before anything changed.
func TestRolloutDryRunChecksPermissions(t *testing.T) {
	t.Parallel()
	k := testenv.StartKube(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := k.CreateNamespace(ctx, "apps"); err != nil {
		t.Fatal(err)
	}
	admin := kubernetes.NewForConfigOrDie(k.RESTConfig())
	repo := "registry.example/acme/app-a"
	if _, err := admin.AppsV1().Deployments("apps").Create(ctx, deployment("web", map[string]string{rollout.FollowAnnotation: "true"}, ctr("web", repo+":1.0")), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "lister", Namespace: "apps"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{"apps", "batch"}, Resources: []string{"deployments", "statefulsets", "daemonsets", "cronjobs"}, Verbs: []string{"list"}}},
	}
	if _, err := admin.RbacV1().Roles("apps").Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RbacV1().RoleBindings("apps").Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "alice-lists", Namespace: "apps"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "lister"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "alice"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	api, err := rollout.NewKubeAPI(k.UserRESTConfig(t, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := rollout.New(api, rollout.Target{Namespaces: []string{"apps"}}).Plan(ctx, updated)
	if err != nil {
		t.Fatal(err)
	}
	if res.Count(rollout.StatusFailed) != 1 || !strings.Contains(res.Err().Error(), "forbidden") {
		t.Errorf("dry run as a user without patch: %+v", res.Workloads)
	}
	d, err := admin.AppsV1().Deployments("apps").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Spec.Template.Spec.Containers[0].Image != repo+":1.0" {
		t.Errorf("moved: %s", d.Spec.Template.Spec.Containers[0].Image)
	}
}

func replicaSets(ctx context.Context, t *testing.T, cs kubernetes.Interface, app string) []appsv1.ReplicaSet {
	t.Helper()
	l, err := cs.AppsV1().ReplicaSets("apps").List(ctx, metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		t.Fatal(err)
	}
	return l.Items
}

func revisions(ctx context.Context, t *testing.T, cs kubernetes.Interface) []appsv1.ControllerRevision {
	t.Helper()
	l, err := cs.AppsV1().ControllerRevisions("apps").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return l.Items
}

// waitFor polls cond every 20 ms until it holds or ctx ends.
func waitFor(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-tick.C:
		}
	}
}
