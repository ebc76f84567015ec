package cli

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/imagetest"
	"github.com/imagecascade/cascade/internal/testenv"
)

// timeoutProxy forwards to the API server with the admin's credentials, and
// answers the first PipelineRun create with 504 after the API server has
// persisted it: the create "timed out" on the client's side.
func timeoutProxy(t *testing.T, k *testenv.Kube) (kubeconfig string, creates *atomic.Int32) {
	t.Helper()
	rt, err := rest.TransportFor(k.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	target, _ := url.Parse(k.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = rt
	creates = &atomic.Int32{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/pipelineruns") && creates.Add(1) == 1 {
			rec := httptest.NewRecorder()
			rp.ServeHTTP(rec, r)
			if rec.Code != http.StatusCreated {
				t.Errorf("the first create was not persisted: %d %s", rec.Code, rec.Body.String())
			}
			http.Error(w, "upstream request timeout", http.StatusGatewayTimeout)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	kubeconfig = filepath.Join(t.TempDir(), "proxy.kubeconfig")
	writeFile(t, kubeconfig, fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: proxy, cluster: {server: %q}}]
users: [{name: admin, user: {}}]
contexts: [{name: proxy, context: {cluster: proxy, user: admin}}]
current-context: proxy
`, srv.URL))
	return kubeconfig, creates
}

// TestR14_TektonOnRealAPIServer: cascade run creates app-a's PipelineRun in
// a real kube-apiserver with Tekton's controller running. The first create
// times out after the object was persisted; the retry's AlreadyExists on the
// deterministic name counts as success, and there is exactly one
// PipelineRun, which the controller runs. A second run (R10) still leaves
// one. A service account without create on pipelineruns gets a clear error.
func TestR14_TektonOnRealAPIServer(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	k := testenv.StartKube(t)
	tk := testenv.StartTekton(t, k)
	if err := k.CreateNamespace(ctx, "ci"); err != nil {
		t.Fatal(err)
	}
	if _, err := tk.CreatePipeline(ctx, "ci", "app-a-build", "BASE_IMAGE"); err != nil {
		t.Fatal(err)
	}

	reg := imagetest.NewRegistry(t)
	root := imagetest.Root(t)
	v1 := imagetest.On(t, root)
	baseRef := reg.Ref("acme/base:latest")
	v1d := reg.Push("acme/base:latest", v1)
	reg.Push("acme/app-a:latest", imagetest.Annotated(imagetest.On(t, v1), baseRef, v1d))
	v2d := reg.Push("acme/base:latest", imagetest.On(t, root))

	ws := t.TempDir()
	writeFile(t, filepath.Join(ws, "cascade.yaml"), strings.ReplaceAll(`version: 1
images:
  - {name: base, image: REG/acme/base:latest, rebuild: {rebase: {}}}
  - name: app-a
    image: REG/acme/app-a:latest
    from: [REG/acme/base]
    rebuild:
      tekton: {namespace: ci, pipeline: app-a-build, params: {BASE_IMAGE: "{{ .Base.Ref }}"}}
`, "REG", reg.Host))
	kubeconfig, creates := timeoutProxy(t, k)
	args := []string{"run", "--image", baseRef, "--workspace", ws, "--kubeconfig", kubeconfig}

	code, out, errs := run(t, args...)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	if !strings.Contains(out, "already-dispatched") || creates.Load() != 2 {
		t.Errorf("want a timed-out create, then AlreadyExists (creates: %d):\n%s", creates.Load(), out)
	}
	prs, err := tk.Client.TektonV1().PipelineRuns("ci").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(prs.Items) != 1 {
		t.Fatalf("%d PipelineRuns, want exactly 1", len(prs.Items))
	}
	pr := prs.Items[0]
	if pr.Name != "app-a-"+v2d.Hex[:12] || pr.Labels["cascade.dev/dependent"] != "app-a" {
		t.Errorf("PipelineRun %s labels %v", pr.Name, pr.Labels)
	}
	wantBase := reg.Host + "/acme/base@" + v2d.String()
	if len(pr.Spec.Params) != 1 || pr.Spec.Params[0].Value.StringVal != wantBase {
		t.Errorf("params = %+v, want BASE_IMAGE=%s", pr.Spec.Params, wantBase)
	}
	// The controller picks it up: a TaskRun pod exists; completing it
	// completes the run.
	if _, err := tk.CompletePipelineRun(ctx, "ci", pr.Name, true); err != nil {
		t.Fatalf("completing the PipelineRun: %v", err)
	}

	// R09/R10: the same cascade again dispatches nothing (the cascade
	// history says it was done) and is still one PipelineRun.
	before := creates.Load()
	if code, out, errs := run(t, args...); code != 0 || !strings.Contains(out, "recorded in the cascade history") {
		t.Errorf("second run: exit %d\n%s\n%s", code, out, errs)
	}
	if creates.Load() != before {
		t.Errorf("a second run tried to create PipelineRuns again")
	}
	prs, _ = tk.Client.TektonV1().PipelineRuns("ci").List(ctx, metav1.ListOptions{})
	if len(prs.Items) != 1 {
		t.Errorf("%d PipelineRuns after a second run, want 1", len(prs.Items))
	}

	// RBAC: a user who cannot create PipelineRuns.
	limited := k.UserKubeconfig(t, testenv.LimitedUser)
	ws2 := t.TempDir()
	data, _ := os.ReadFile(filepath.Join(ws, "cascade.yaml"))
	// Another dependent name: a new dedup key, not in the cascade history.
	writeFile(t, filepath.Join(ws2, "cascade.yaml"), strings.ReplaceAll(string(data), "name: app-a\n", "name: app-a-limited\n"))
	code, out, errs = run(t, "run", "--image", baseRef, "--workspace", ws2, "--kubeconfig", limited)
	if code != exitcode.Partial && code != exitcode.Transient {
		t.Errorf("limited user: exit %d, want 3\n%s\n%s", code, out, errs)
	}
	if !strings.Contains(errs, "pipelineruns") || !strings.Contains(errs, "ci") {
		t.Errorf("the RBAC error should name the resource and namespace:\n%s", errs)
	}
}
