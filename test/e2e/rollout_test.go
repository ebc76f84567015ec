package e2e

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/imagecascade/cascade/internal/history"
	"github.com/imagecascade/cascade/internal/plan"
	"github.com/imagecascade/cascade/internal/report"
	"github.com/imagecascade/cascade/internal/testenv"
)

// TestSeedScenarioLiveWorkloads is the seed scenario with live workloads
// instead of a deploy repository: app-a and app-b run as Deployments on a
// real kube-apiserver with kube-controller-manager, following their tags
// with OpenShift's image.openshift.io/triggers annotation (app-a) and
// cascade.dev/follow (app-b). httpd-base is rebuilt, each app is rebuilt on
// it, and each app's pipeline ends with `cascade run`, which rolls its
// Deployment: a new ReplicaSet whose pod template holds the new digest
// (pods stay Pending: there is no kubelet). A paused trigger and a
// Deployment that did not opt in stay where they are; a second run changes
// nothing.
func TestSeedScenarioLiveWorkloads(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	c := newClock(t)
	defer c.done()

	c.step("1", "start docker-registry, etcd + kube-apiserver + kube-controller-manager")
	reg := timed(t, "docker-registry", func() *testenv.Registry { return testenv.StartRegistry(t) })
	b := timed(t, "buildah (private storage)", func() *testenv.Buildah { return testenv.NewBuildah(t) })
	k := timed(t, "etcd + kube-apiserver", func() *testenv.Kube { return testenv.StartKube(t) })
	timed(t, "kube-controller-manager", func() bool { k.StartControllerManager(t); return true })
	if err := k.CreateNamespace(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	cs := kubernetes.NewForConfigOrDie(k.RESTConfig())

	c.step("2", "buildah: centos (stand-in), httpd-base, app-a and app-b on it; push")
	centos := reg.Ref("centos:7")
	if err := b.BuildBase(ctx, "localhost/centos:7"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Push(ctx, "localhost/centos:7", centos); err != nil {
		t.Fatal(err)
	}
	httpd, appA, appB := reg.Ref("acme/httpd-base:latest"), reg.Ref("acme/app-a:latest"), reg.Ref("acme/app-b:latest")
	src := t.TempDir()
	writeFiles(t, src, map[string]string{
		"httpd-base/Dockerfile": "FROM " + centos + "\nARG RELEASE\nRUN mkdir -p /var/www && echo \"httpd-base release $RELEASE\" > /etc/httpd-release\n",
		"app-a/Dockerfile":      appDockerfile(httpd, "app-a"),
		"app-b/Dockerfile":      appDockerfile(httpd, "app-b"),
	})
	buildPush(t, ctx, b, filepath.Join(src, "httpd-base"), httpd, testenv.BuildOptions{BuildArgs: map[string]string{"RELEASE": "1"}})
	oldA := buildPush(t, ctx, b, filepath.Join(src, "app-a"), appA, testenv.BuildOptions{})
	oldB := buildPush(t, ctx, b, filepath.Join(src, "app-b"), appB, testenv.BuildOptions{})

	c.step("3", "deploy app-a (triggers), app-b (cascade.dev/follow), app-a-canary (paused trigger), app-a-legacy (no opt-in)")
	trigger := func(paused bool) string {
		b, _ := json.Marshal([]map[string]any{{"from": map[string]string{"kind": "ImageStreamTag", "name": "app-a:latest"},
			"fieldPath": `spec.template.spec.containers[?(@.name=="web")].image`, "paused": paused}})
		return string(b)
	}
	deploy := func(name, image string, ann map[string]string) {
		t.Helper()
		labels := map[string]string{"app": name}
		d := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", Annotations: ann},
			Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: image}}},
			}},
		}
		if _, err := cs.AppsV1().Deployments("shop").Create(ctx, d, metav1.CreateOptions{FieldManager: "kubectl-create"}); err != nil {
			t.Fatal(err)
		}
	}
	pinnedA, pinnedB := appA+"@"+oldA, appB+"@"+oldB
	deploy("app-a", pinnedA, map[string]string{"image.openshift.io/triggers": trigger(false)})
	deploy("app-b", pinnedB, map[string]string{"cascade.dev/follow": "true"})
	deploy("app-a-canary", pinnedA, map[string]string{"image.openshift.io/triggers": trigger(true)})
	deploy("app-a-legacy", pinnedA, nil)
	for _, name := range []string{"app-a", "app-b", "app-a-canary", "app-a-legacy"} {
		waitReplicaSets(ctx, t, cs, name, 1)
	}

	c.step("4", "httpd-base rebuilt; app-a and app-b rebuilt on it (their pipelines)")
	buildPush(t, ctx, b, filepath.Join(src, "httpd-base"), httpd, testenv.BuildOptions{BuildArgs: map[string]string{"RELEASE": "2"}})
	newA := buildPush(t, ctx, b, filepath.Join(src, "app-a"), appA, testenv.BuildOptions{})
	newB := buildPush(t, ctx, b, filepath.Join(src, "app-b"), appB, testenv.BuildOptions{})
	if newA == oldA || newB == oldB {
		t.Fatalf("rebuilt apps have their old digests")
	}

	platform := t.TempDir()
	writeFiles(t, platform, map[string]string{"cascade.yaml": strings.ReplaceAll(`version: 1
images:
  - name: httpd-base
    image: REG/acme/httpd-base:latest
    from: [REG/centos:7]
    rebuild: {webhook: {url: "http://127.0.0.1:9/unused"}}
  - name: app-a
    image: REG/acme/app-a:latest
    from: [REG/acme/httpd-base:latest]
    rebuild: {webhook: {url: "http://127.0.0.1:9/unused"}}
  - name: app-b
    image: REG/acme/app-b:latest
    from: [REG/acme/httpd-base:latest]
    rebuild: {webhook: {url: "http://127.0.0.1:9/unused"}}
registries:
  allow: [REG]
clusters:
  - name: test
    namespaces: [shop]
    kinds: [Deployment]
`, "REG", reg.Host)})
	common := []string{"--workspace", platform, "--kubeconfig", k.Kubeconfig}

	c.step("5", "cascade plan for app-a: which workloads would roll and why the others won't")
	var p plan.Plan
	cascadeJSON(t, ctx, nil, &p, append([]string{"plan", "--image", appA, "--digest", newA}, common...)...)
	if diff := cmp.Diff(map[string]string{"app-a": "roll", "app-a-canary": "paused", "app-a-legacy": "not-opted-in"}, workloadStatus(p.Workloads)); diff != "" {
		t.Errorf("plan's workloads (-want +got):\n%s", diff)
	}
	code, out, errs := cascade(t, ctx, nil, append([]string{"plan", "--image", appA, "--digest", newA}, common...)...)
	if code != 0 || !strings.Contains(out, "Live workloads:") || !strings.Contains(out, "would roll if opted in") {
		t.Errorf("plan text: exit %d\n%s\n%s", code, out, errs)
	}

	c.step("6", "each app's pipeline ends with cascade run: its Deployment rolls")
	var runA, runB report.Run
	cascadeJSON(t, ctx, nil, &runA, append([]string{"run", "--image", appA, "--digest", newA}, common...)...)
	cascadeJSON(t, ctx, nil, &runB, append([]string{"run", "--image", appB, "--digest", newB}, common...)...)
	if diff := cmp.Diff(map[string]string{"app-a": "rolled", "app-a-canary": "paused", "app-a-legacy": "not-opted-in"}, workloadStatus(runA.Plan.Workloads)); diff != "" {
		t.Errorf("app-a's run (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"app-b": "rolled"}, workloadStatus(runB.Plan.Workloads)); diff != "" {
		t.Errorf("app-b's run (-want +got):\n%s", diff)
	}
	start := time.Now()
	waitTemplate(ctx, t, cs, "app-a", appA+"@"+newA)
	waitTemplate(ctx, t, cs, "app-b", appB+"@"+newB)
	t.Logf("   new ReplicaSets with the new digests %.0f ms after the runs", float64(time.Since(start).Microseconds())/1000)
	versions := map[string]string{}
	for _, name := range []string{"app-a", "app-b", "app-a-canary", "app-a-legacy"} {
		d, err := cs.AppsV1().Deployments("shop").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		versions[name] = d.ResourceVersion
		if strings.HasPrefix(name, "app-a-") {
			if img := d.Spec.Template.Spec.Containers[0].Image; img != pinnedA || len(replicaSets(ctx, t, cs, name)) != 1 {
				t.Errorf("%s moved: %s, %d ReplicaSets", name, img, len(replicaSets(ctx, t, cs, name)))
			}
		}
	}

	var gens []history.Generation
	cascadeJSON(t, ctx, nil, &gens, "history", "--image", appA, "--workspace", platform)
	var rolled []string
	for _, g := range gens {
		for _, ro := range g.Rollouts {
			rolled = append(rolled, g.Digest+" "+ro.Workload+" "+ro.Status)
		}
	}
	if diff := cmp.Diff([]string{newA + " Deployment shop/app-a rolled"}, rolled); diff != "" {
		t.Errorf("app-a's history of rollouts (-want +got):\n%s", diff)
	}

	c.step("7", "the pipelines run again: nothing changes")
	var againA, againB report.Run
	cascadeJSON(t, ctx, nil, &againA, append([]string{"run", "--image", appA, "--digest", newA}, common...)...)
	cascadeJSON(t, ctx, nil, &againB, append([]string{"run", "--image", appB, "--digest", newB}, common...)...)
	if got := workloadStatus(againA.Plan.Workloads)["app-a"] + "," + workloadStatus(againB.Plan.Workloads)["app-b"]; got != "current,current" {
		t.Errorf("re-run: app-a, app-b are %s, want current", got)
	}
	for name, rv := range versions {
		d, err := cs.AppsV1().Deployments("shop").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if d.ResourceVersion != rv {
			t.Errorf("re-run changed %s (resourceVersion %s → %s)", name, rv, d.ResourceVersion)
		}
	}
}

func workloadStatus(ws []plan.Workload) map[string]string {
	m := map[string]string{}
	for _, w := range ws {
		m[w.Name] = string(w.Status)
	}
	return m
}

func replicaSets(ctx context.Context, t *testing.T, cs kubernetes.Interface, app string) []appsv1.ReplicaSet {
	t.Helper()
	l, err := cs.AppsV1().ReplicaSets("shop").List(ctx, metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		t.Fatal(err)
	}
	return l.Items
}

// waitReplicaSets waits (20 ms polls, bounded by ctx) until app has n.
func waitReplicaSets(ctx context.Context, t *testing.T, cs kubernetes.Interface, app string, n int) {
	t.Helper()
	poll(ctx, t, app+"'s ReplicaSets", func() bool { return len(replicaSets(ctx, t, cs, app)) >= n })
}

// waitTemplate waits until one of app's ReplicaSets runs image.
func waitTemplate(ctx context.Context, t *testing.T, cs kubernetes.Interface, app, image string) {
	t.Helper()
	poll(ctx, t, "a ReplicaSet of "+app+" with "+image, func() bool {
		for _, rs := range replicaSets(ctx, t, cs, app) {
			if rs.Spec.Template.Spec.Containers[0].Image == image {
				return true
			}
		}
		return false
	})
}

func poll(ctx context.Context, t *testing.T, what string, cond func() bool) {
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
