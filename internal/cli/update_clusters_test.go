package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/imagetest"
	"github.com/imagecascade/cascade/internal/plan"
	"github.com/imagecascade/cascade/internal/report"
	"github.com/imagecascade/cascade/internal/testenv"
)

// TestUpdateRollsLiveWorkloads: cascade update on a real kube-apiserver
// with a clusters: section. --dry-run lists the opted-in Deployment as
// roll (its server-side dry run passed) and the other as not-opted-in,
// and changes nothing; the update pins the file and rolls the opted-in
// Deployment only, and records the rollout in the image's history; a
// re-run changes nothing; a file that holds the rolled Deployment too is
// refused (exit 5) with nothing written; --clusters=false pins the files
// and leaves the cluster alone.
func TestUpdateRollsLiveWorkloads(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	k := testenv.StartKube(t)
	if err := k.CreateNamespace(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	cs := kubernetes.NewForConfigOrDie(k.RESTConfig())

	reg := imagetest.NewRegistry(t)
	app := reg.Ref("acme/app:latest")
	old := reg.Push("acme/app:latest", imagetest.Root(t))
	digest := reg.Push("acme/app:latest", imagetest.On(t, imagetest.Root(t)))
	pinned := app + "@" + old.String()
	for name, ann := range map[string]map[string]string{"web": {"cascade.dev/follow": "true"}, "legacy": nil} {
		labels := map[string]string{"app": name}
		d := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", Annotations: ann},
			Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: pinned}}},
			}},
		}
		if _, err := cs.AppsV1().Deployments("shop").Create(ctx, d, metav1.CreateOptions{FieldManager: "kubectl-create"}); err != nil {
			t.Fatal(err)
		}
	}
	live := func() map[string]string {
		t.Helper()
		l, err := cs.AppsV1().Deployments("shop").List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, d := range l.Items {
			out[d.Name] = d.Spec.Template.Spec.Containers[0].Image
		}
		return out
	}

	ws := t.TempDir()
	writeFile(t, filepath.Join(ws, "cascade.yaml"), strings.ReplaceAll(`version: 1
images:
  - {name: app, image: REG/acme/app:latest, rebuild: {webhook: {url: "http://127.0.0.1:9/unused"}}}
registries:
  allow: [REG]
clusters:
  - {name: test, namespaces: [shop], kinds: [Deployment]}
`, "REG", reg.Host))
	file := filepath.Join(ws, "deploy", "files-app.yaml")
	manifest := "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: files-app}\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: " + app + "\n"
	writeFile(t, file, manifest)
	readFile := func(path string) string {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	update := func(wantCode int, extra ...string) report.UpdateReport {
		t.Helper()
		args := append([]string{"update", "--image", app, "--workspace", ws, "--kubeconfig", k.Kubeconfig, "-o", "json"}, extra...)
		code, out, errs := run(t, args...)
		if code != wantCode {
			t.Fatalf("%v: exit %d, want %d\n%s\n%s", extra, code, wantCode, out, errs)
		}
		var u report.UpdateReport
		if wantCode == 0 {
			validate(t, "update", out)
			if err := json.Unmarshal([]byte(out), &u); err != nil {
				t.Fatal(err)
			}
		}
		return u
	}
	statuses := func(ws []plan.Workload) map[string]string {
		out := map[string]string{}
		for _, w := range ws {
			out[w.Name] = string(w.Status)
		}
		return out
	}
	unchanged := map[string]string{"web": pinned, "legacy": pinned}
	want := app + "@" + digest.String()

	// A dry run: listed, dry-run on the server, nothing changed.
	u := update(0, "--dry-run")
	if diff := cmp.Diff(map[string]string{"web": "roll", "legacy": "not-opted-in"}, statuses(u.Workloads)); diff != "" {
		t.Errorf("dry run's workloads (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(unchanged, live()); diff != "" || readFile(file) != manifest {
		t.Errorf("the dry run changed something (-want +got):\n%s", diff)
	}

	// The update: the file pinned, web rolled, legacy left alone.
	u = update(0)
	if diff := cmp.Diff(map[string]string{"web": "rolled", "legacy": "not-opted-in"}, statuses(u.Workloads)); diff != "" {
		t.Errorf("workloads (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"web": want, "legacy": pinned}, live()); diff != "" {
		t.Errorf("live images (-want +got):\n%s", diff)
	}
	if !strings.Contains(readFile(file), want) || len(u.Changed) != 1 {
		t.Errorf("the file is not pinned (changed %v):\n%s", u.Changed, readFile(file))
	}
	code, out, errs := run(t, "history", "--image", app, "--workspace", ws, "-o", "json")
	if code != 0 || !strings.Contains(out, `"workload":"Deployment shop/web"`) && !strings.Contains(out, `"workload": "Deployment shop/web"`) {
		t.Errorf("history has no rollout of web: exit %d\n%s\n%s", code, out, errs)
	}

	// A re-run: everything current, nothing applied.
	rv := func() string {
		d, err := cs.AppsV1().Deployments("shop").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return d.ResourceVersion
	}
	before := rv()
	u = update(0)
	if diff := cmp.Diff(map[string]string{"web": "current", "legacy": "not-opted-in"}, statuses(u.Workloads)); diff != "" || rv() != before || len(u.Changed) != 0 {
		t.Errorf("re-run: changed %v, web's resourceVersion %s → %s, workloads (-want +got):\n%s", u.Changed, before, rv(), diff)
	}

	// A file that holds web too: refused before anything is written.
	both := filepath.Join(ws, "deploy", "web.yaml")
	webManifest := strings.ReplaceAll(manifest, "files-app", "web")
	writeFile(t, both, webManifest)
	code, out, errs = run(t, "update", "--image", app, "--workspace", ws, "--kubeconfig", k.Kubeconfig)
	if code != exitcode.Refused || !strings.Contains(errs, "both the manifests and the cluster target would change Deployment shop/web") {
		t.Errorf("a file and the cluster on one object: exit %d, want 5\n%s\n%s", code, out, errs)
	}
	if readFile(both) != webManifest {
		t.Errorf("the refused update wrote %s:\n%s", both, readFile(both))
	}

	// --clusters=false: the files only.
	u = update(0, "--clusters=false")
	if len(u.Workloads) != 0 || !strings.Contains(readFile(both), want) {
		t.Errorf("--clusters=false: workloads %+v, web.yaml:\n%s", u.Workloads, readFile(both))
	}
}
