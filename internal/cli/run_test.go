package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/crane"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/githubtest"
	"github.com/imagecascade/cascade/internal/imagetest"
	"github.com/imagecascade/cascade/internal/report"
	"github.com/imagecascade/cascade/internal/testenv"
)

// runFixture is a stream on an in-process registry: base, and built on it
// app-gh (repository_dispatch), app-wf (workflow_dispatch), app-hook
// (webhook), app-rb (rebase) and, on app-rb, child (webhook). base v2 has
// been pushed, so the direct dependents are stale.
type runFixture struct {
	reg     *imagetest.Registry
	gh      *githubtest.Server
	ws      string
	hooks   *hookServer
	baseRef string
	// v1 is base's first version, v1d its digest: what the dependents
	// were built on.
	v1  v1.Image
	v1d v1.Hash
}

type hookServer struct {
	*httptest.Server
	mu       sync.Mutex
	bodies   map[string]string // by path
	hits     map[string]int    // requests by path
	failPath string
}

func newHookServer(t *testing.T) *hookServer {
	h := &hookServer{bodies: map[string]string{}, hits: map[string]int{}}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.bodies[r.URL.Path] = string(body)
		h.hits[r.URL.Path]++
		fail := r.URL.Path == h.failPath
		h.mu.Unlock()
		if r.Header.Get("X-Cascade-Signature-256") == "" {
			http.Error(w, "unsigned", http.StatusUnauthorized)
			return
		}
		if fail {
			http.Error(w, "no such pipeline", http.StatusUnprocessableEntity)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookServer) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.bodies)
}

func newRunFixture(t *testing.T) *runFixture {
	t.Helper()
	f := &runFixture{reg: imagetest.NewRegistry(t), gh: githubtest.New(t), ws: t.TempDir(), hooks: newHookServer(t)}
	f.gh.Repo("acme/app-gh")
	f.gh.Repo("acme/app-wf").AddWorkflow(githubtest.Workflow{Path: ".github/workflows/build.yml",
		Inputs: []githubtest.WorkflowInput{{Name: "base-image"}}})
	r := f.reg
	f.baseRef = r.Ref("acme/base:latest")
	root := imagetest.Root(t)
	v1 := imagetest.On(t, root)
	v1d := r.Push("acme/base:latest", v1)
	f.v1, f.v1d = v1, v1d
	for _, app := range []string{"app-gh", "app-wf", "app-hook", "app-rb"} {
		img := imagetest.Annotated(imagetest.On(t, v1), f.baseRef, v1d)
		d := r.Push("acme/"+app+":latest", img)
		if app == "app-rb" {
			r.Push("acme/child:latest", imagetest.Annotated(imagetest.On(t, img), r.Ref("acme/app-rb:latest"), d))
		}
	}
	r.Push("acme/base:latest", imagetest.On(t, root)) // the rebuild: v2

	cfg := strings.NewReplacer("REG", r.Host, "HOOKURL", f.hooks.URL).Replace(`version: 1
images:
  - {name: base, image: REG/acme/base:latest, rebuild: {github: {repository: acme/base}}}
  - {name: app-gh, image: REG/acme/app-gh:latest, from: [REG/acme/base], rebuild: {github: {repository: acme/app-gh}}}
  - name: app-wf
    image: REG/acme/app-wf:latest
    from: [REG/acme/base]
    rebuild: {github: {repository: acme/app-wf, workflow: build.yml, ref: main, inputs: {base-image: "{{ .Base.Ref }}"}}}
  - {name: app-hook, image: REG/acme/app-hook:latest, from: [REG/acme/base], rebuild: {webhook: {url: "HOOKURL/app-hook", secretEnv: HOOK_SECRET}}}
  - {name: app-rb, image: REG/acme/app-rb:latest, from: [REG/acme/base], rebuild: {rebase: {}}}
  - {name: child, image: REG/acme/child:latest, from: [REG/acme/app-rb], rebuild: {webhook: {url: "HOOKURL/child", secretEnv: HOOK_SECRET}}}
`)
	writeFile(t, filepath.Join(f.ws, "cascade.yaml"), cfg)
	writeFile(t, filepath.Join(f.ws, "deploy", "base.yaml"), "apiVersion: v1\nkind: Pod\nmetadata: {name: base}\nspec:\n  containers:\n    - name: c\n      image: "+f.baseRef+"  # the base itself\n")
	return f
}

func (f *runFixture) run(t *testing.T, args ...string) (int, report.Run, string) {
	t.Helper()
	all := append([]string{"run", "--image", f.baseRef, "--workspace", f.ws, "--github-api-url", f.gh.URL, "-o", "json"}, args...)
	code, out, errs := run(t, all...)
	var r report.Run
	if out != "" {
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("run JSON: %v\n%s", err, out)
		}
	}
	return code, r, errs
}

func statuses(r report.Run) map[string]string {
	m := map[string]string{}
	for _, o := range r.Dispatches {
		m[o.Name] = o.Kind + "/" + string(o.Status)
	}
	return m
}

// Not parallel: the tokens and the webhook secret come from the environment.
func TestR09_RunDispatchesEveryKindThenRerunIsNoop(t *testing.T) {
	f := newRunFixture(t)
	t.Setenv("GITHUB_TOKEN", f.gh.Token())
	t.Setenv("HOOK_SECRET", "s3cret")

	code, r, errs := f.run(t)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	want := map[string]string{
		"app-gh": "github/dispatched", "app-wf": "github/dispatched", "app-hook": "webhook/dispatched",
		"app-rb": "rebase/dispatched", "child": "webhook/dispatched",
	}
	if diff := cmp.Diff(want, statuses(r)); diff != "" {
		t.Errorf("dispatches (-want +got):\n%s", diff)
	}
	if len(r.Cascaded) != 1 || r.Cascaded[0].Summary.Dispatches != 1 {
		t.Errorf("the rebased app-rb should cascade to child in the same run: %+v", r.Cascaded)
	}
	rd := f.gh.RepositoryDispatches()
	if len(rd) != 1 || rd[0].Repo != "acme/app-gh" || rd[0].EventType != "base-image-updated" {
		t.Fatalf("repository dispatches = %+v", rd)
	}
	var payload struct {
		Image, Digest, Ref, Dependent string
		Cascade                       struct {
			ID     string
			Depth  int
			Chain  []string
			Origin string
		}
	}
	if err := json.Unmarshal(rd[0].ClientPayload, &payload); err != nil {
		t.Fatal(err)
	}
	if payload.Dependent != "app-gh" || payload.Digest != r.Plan.Digest || payload.Cascade.Depth != 1 ||
		!cmp.Equal(payload.Cascade.Chain, []string{"base"}) || !strings.HasPrefix(payload.Cascade.ID, "app-gh-") {
		t.Errorf("client_payload = %s", rd[0].ClientPayload)
	}
	if wd := f.gh.WorkflowDispatches(); len(wd) != 1 {
		t.Errorf("workflow dispatches = %+v", wd)
	}
	if !strings.Contains(f.hooks.bodies["/child"], `"chain":["base","app-rb"]`) {
		t.Errorf("child's payload should carry the chain through the rebase: %s", f.hooks.bodies["/child"])
	}
	got, _ := os.ReadFile(filepath.Join(f.ws, "deploy", "base.yaml"))
	if !strings.Contains(string(got), f.baseRef+"@"+r.Plan.Digest+"  # the base itself") {
		t.Errorf("the base's own manifest was not pinned:\n%s", got)
	}

	// R09: the same run again (the apps have not been rebuilt yet) sends
	// nothing: the cascade history says every dispatch was done, the
	// manifests are already pinned.
	requests, hooks := len(f.gh.Requests()), f.hooks.count()
	code, r, errs = f.run(t)
	if code != 0 {
		t.Fatalf("re-run: exit %d: %s", code, errs)
	}
	for _, o := range r.Dispatches {
		if o.Status != "already-dispatched" {
			t.Errorf("re-run: %s %s (%s)", o.Name, o.Status, o.Detail)
		}
	}
	if len(f.gh.Requests()) != requests || f.hooks.count() != hooks {
		t.Errorf("re-run sent requests: github %d -> %d, hooks %d -> %d", requests, len(f.gh.Requests()), hooks, f.hooks.count())
	}
	if len(r.Manifests.Changed) != 0 {
		t.Errorf("re-run changed manifests: %v", r.Manifests.Changed)
	}

	// cascade history shows the generation with its dispatches.
	code, out, errs := run(t, "history", "--image", f.baseRef, "--workspace", f.ws)
	if code != 0 {
		t.Fatalf("history: exit %d: %s", code, errs)
	}
	for _, want := range []string{r.Plan.Digest, "app-gh", "github", "dispatched", "app-hook", "app-rb"} {
		if !strings.Contains(out, want) {
			t.Errorf("history lacks %q:\n%s", want, out)
		}
	}
}

func TestRunDryRunDispatchesAndWritesNothing(t *testing.T) {
	f := newRunFixture(t)
	t.Setenv("GITHUB_TOKEN", "")
	before, _ := os.ReadFile(filepath.Join(f.ws, "deploy", "base.yaml"))
	code, r, errs := f.run(t, "--dry-run")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, o := range r.Dispatches {
		if o.Status != "skipped" {
			t.Errorf("dry run dispatched %s: %s", o.Name, o.Status)
		}
	}
	if len(r.Manifests.Changed) != 1 {
		t.Errorf("dry run should show the manifest change: %+v", r.Manifests)
	}
	after, _ := os.ReadFile(filepath.Join(f.ws, "deploy", "base.yaml"))
	if string(before) != string(after) || len(f.gh.Requests()) != 0 || f.hooks.count() != 0 {
		t.Error("dry run wrote or sent something")
	}
}

// TestR07_BlastRadius: over the limit is refused before any call, with the
// plan printed; the override flag lets it through.
func TestR07_BlastRadius(t *testing.T) {
	f := newRunFixture(t)
	t.Setenv("GITHUB_TOKEN", f.gh.Token())
	t.Setenv("HOOK_SECRET", "s3cret")
	code, r, _ := f.run(t, "--max-dispatches", "2")
	if code != exitcode.Refused {
		t.Fatalf("exit %d, want 5", code)
	}
	if r.Plan == nil || r.Plan.Summary.Dispatches != 4 {
		t.Errorf("the plan should be printed: %+v", r.Plan)
	}
	if len(f.gh.Requests()) != 0 || f.hooks.count() != 0 {
		t.Error("something was dispatched over the blast radius")
	}
	if code, _, errs := f.run(t, "--max-dispatches", "10"); code != 0 {
		t.Errorf("override: exit %d: %s", code, errs)
	}
}

// TestR27_OwnDispatchRetriggers: a run for the base started by cascade's
// own dispatch for the same base does nothing, exit 0.
func TestR27_OwnDispatchRetriggers(t *testing.T) {
	f := newRunFixture(t)
	code, r, errs := f.run(t, "--cascade-context", `{"id":"x","depth":1,"chain":["base"],"origin":"o"}`)
	if code != 0 || r.Note == "" || len(r.Dispatches) != 0 {
		t.Errorf("exit %d, note %q, dispatches %v: %s", code, r.Note, r.Dispatches, errs)
	}
	// The chain also travels in from the GitHub event that started the job.
	ev := filepath.Join(t.TempDir(), "event.json")
	writeFile(t, ev, `{"client_payload":{"cascade":{"id":"x","depth":1,"chain":["base"],"origin":"o"}}}`)
	t.Setenv("GITHUB_EVENT_NAME", "repository_dispatch")
	t.Setenv("GITHUB_EVENT_PATH", ev)
	code, r, _ = f.run(t)
	if code != 0 || r.Note == "" || len(f.gh.Requests()) != 0 {
		t.Errorf("from the event: exit %d, note %q", code, r.Note)
	}
}

// TestR08_DepthOverMaxRefused: a cascade deeper than limits.maxDepth is
// refused with zero dispatches.
func TestR08_DepthOverMaxRefused(t *testing.T) {
	f := newRunFixture(t)
	t.Setenv("GITHUB_TOKEN", f.gh.Token())
	code, _, errs := f.run(t, "--cascade-context", `{"id":"x","depth":10,"chain":["a","b"],"origin":"o"}`)
	if code != exitcode.Refused || !strings.Contains(errs, "too deep") {
		t.Errorf("exit %d, %s; want 5, too deep", code, errs)
	}
	if len(f.gh.Requests()) != 0 || f.hooks.count() != 0 {
		t.Error("dispatched despite the depth limit")
	}
}

// A failing target does not stop the others; the run exits 3 with every
// outcome reported.
func TestRunPartialFailure(t *testing.T) {
	f := newRunFixture(t)
	t.Setenv("GITHUB_TOKEN", f.gh.Token())
	t.Setenv("HOOK_SECRET", "s3cret")
	f.hooks.failPath = "/app-hook"
	code, r, errs := f.run(t)
	if code != exitcode.Partial {
		t.Fatalf("exit %d, want 3: %s", code, errs)
	}
	got := statuses(r)
	if got["app-hook"] != "webhook/failed" || got["app-gh"] != "github/dispatched" || got["child"] != "webhook/dispatched" {
		t.Errorf("outcomes = %v", got)
	}
	if !strings.Contains(errs, "app-hook") {
		t.Errorf("the error should name the failed target: %s", errs)
	}
}

// TestR31_MaxDispatchesZeroRefused: --max-dispatches 0 (flag or
// variable) is invalid, not "no limit": exit 2, nothing sent.
func TestR31_MaxDispatchesZeroRefused(t *testing.T) {
	f := newRunFixture(t)
	t.Setenv("GITHUB_TOKEN", f.gh.Token())
	t.Setenv("HOOK_SECRET", "s3cret")
	if code, _, errs := f.run(t, "--max-dispatches", "0"); code != exitcode.Invalid || !strings.Contains(errs, "--max-dispatches 0: want 1 or more") {
		t.Errorf("flag: exit %d: %s", code, errs)
	}
	t.Setenv("CASCADE_MAX_DISPATCHES", "0")
	if code, _, errs := f.run(t); code != exitcode.Invalid || !strings.Contains(errs, "--max-dispatches 0 (from CASCADE_MAX_DISPATCHES): want 1 or more") {
		t.Errorf("variable: exit %d: %s", code, errs)
	}
	if len(f.gh.Requests()) != 0 || f.hooks.count() != 0 {
		t.Error("dispatched with --max-dispatches 0")
	}
}

// TestR30_PlanShowsTheRefusalsRunWouldMake: with a depth limit that only
// the tier app-rb's rebase opens exceeds, plan lists the refusal and exits
// 5, and run refuses before rebasing anything.
func TestR30_PlanShowsTheRefusalsRunWouldMake(t *testing.T) {
	f := newRunFixture(t)
	t.Setenv("GITHUB_TOKEN", f.gh.Token())
	t.Setenv("HOOK_SECRET", "s3cret")
	cfg := filepath.Join(f.ws, "cascade.yaml")
	data, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, cfg, string(data)+"limits: {maxDepth: 1}\n")
	code, out, errs := run(t, "plan", "--image", f.baseRef, "--workspace", f.ws, "-o", "json")
	if code != exitcode.Refused || !strings.Contains(out, `"refusals": [`) || !strings.Contains(out, "cascade too deep: child") {
		t.Errorf("plan: exit %d, want 5 with the refusal listed:\n%s\n%s", code, out, errs)
	}
	digestOf := func() string {
		d, err := crane.Digest(f.reg.Ref("acme/app-rb:latest"))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	before := digestOf()
	code, r, errs := f.run(t)
	if code != exitcode.Refused || len(r.Plan.Refusals) == 0 {
		t.Errorf("run: exit %d, want 5: %s", code, errs)
	}
	if after := digestOf(); after != before {
		t.Error("app-rb was rebased and pushed before the refusal")
	}
	if len(f.gh.Requests()) != 0 || f.hooks.count() != 0 {
		t.Error("dispatched before the refusal")
	}
}

// TestR32_ConcurrentRunsDispatchEachRebuildOnce: three `cascade run`s for
// the same digest at once: every dependent — repository_dispatch,
// workflow_dispatch, webhook, rebase, the webhook the rebase cascades to,
// and a Tekton PipelineRun on a real kube-apiserver — is dispatched exactly
// once, by whichever run claimed it first; the
// others report it as claimed by another run and exit 0.
func TestR32_ConcurrentRunsDispatchEachRebuildOnce(t *testing.T) {
	f := newRunFixture(t)
	t.Setenv("GITHUB_TOKEN", f.gh.Token())
	t.Setenv("HOOK_SECRET", "s3cret")
	// Tekton: app-tk, rebuilt by a PipelineRun in a real kube-apiserver
	// with Tekton's CRDs, reached through a proxy that counts the creates.
	k := testenv.StartKube(t)
	testenv.InstallTektonCRDs(t, k)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := k.CreateNamespace(ctx, "ci"); err != nil {
		t.Fatal(err)
	}
	kubeconfig, creates := countingProxy(t, k)
	f.reg.Push("acme/app-tk:latest", imagetest.Annotated(imagetest.On(t, f.v1), f.baseRef, f.v1d))
	appendFile(t, filepath.Join(f.ws, "cascade.yaml"), strings.ReplaceAll(`  - name: app-tk
    image: REG/acme/app-tk:latest
    from: [REG/acme/base]
    rebuild: {tekton: {namespace: ci, pipeline: app-tk-build, params: {BASE_IMAGE: "{{ .Base.Ref }}"}}}
`, "REG", f.reg.Host))
	// Three CI jobs, three checkouts: each run has its own workspace (runs
	// on one workspace take turns through its lock), so only the claims in
	// the registry stand between them and a duplicate.
	var wss []string
	for range 3 {
		ws := t.TempDir()
		if err := os.CopyFS(ws, os.DirFS(f.ws)); err != nil {
			t.Fatal(err)
		}
		wss = append(wss, ws)
	}
	var wg sync.WaitGroup
	codes := make([]int, 3)
	errs := make([]string, 3)
	for i := range 3 {
		wg.Go(func() {
			codes[i], _, errs[i] = run(t, "run", "--image", f.baseRef, "--workspace", wss[i], "--github-api-url", f.gh.URL, "--kubeconfig", kubeconfig, "-o", "json")
		})
	}
	wg.Wait()
	for i, c := range codes {
		if c != 0 {
			t.Errorf("run %d: exit %d: %s", i, c, errs[i])
		}
	}
	perRepo := map[string]int{}
	for _, r := range f.gh.Requests() {
		if r.Method == http.MethodPost {
			perRepo[r.Path]++
		}
	}
	want := map[string]int{
		"/repos/acme/app-gh/dispatches":                             1,
		"/repos/acme/app-wf/actions/workflows/build.yml/dispatches": 1,
	}
	if diff := cmp.Diff(want, perRepo); diff != "" {
		t.Errorf("GitHub dispatches (-want +got):\n%s", diff)
	}
	f.hooks.mu.Lock()
	hits := maps.Clone(f.hooks.hits)
	f.hooks.mu.Unlock()
	if diff := cmp.Diff(map[string]int{"/app-hook": 1, "/child": 1}, hits); diff != "" {
		t.Errorf("webhook deliveries (-want +got):\n%s", diff)
	}
	// One PipelineRun for app-tk at the new digest, created once: the
	// claims kept the other runs from even trying (the deterministic
	// name would have caught them, R14, but not counted on here).
	if n := creates.Load(); n != 1 {
		t.Errorf("%d PipelineRun creates, want 1", n)
	}
	tc, err := versioned.NewForConfig(k.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	prs, err := tc.TektonV1().PipelineRuns("ci").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(prs.Items) != 1 || prs.Items[0].Labels["cascade.dev/dependent"] != "app-tk" {
		var names []string
		for _, pr := range prs.Items {
			names = append(names, pr.Name)
		}
		t.Errorf("PipelineRuns %v, want exactly one, for app-tk", names)
	}
}

// countingProxy forwards to the API server with the admin's credentials
// and counts the PipelineRun creates.
func countingProxy(t *testing.T, k *testenv.Kube) (kubeconfig string, creates *atomic.Int32) {
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
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/pipelineruns") {
			creates.Add(1)
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

// appendFile appends text to the file at path.
func appendFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestRunProgressAtInfo: --log-level info prints one line per stage and
// per tier, with counts and the time taken.
func TestRunProgressAtInfo(t *testing.T) {
	f := newRunFixture(t)
	t.Setenv("GITHUB_TOKEN", f.gh.Token())
	t.Setenv("HOOK_SECRET", "s3cret")
	code, _, errs := f.run(t, "--log-level", "info")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{`msg=planning`, `msg=planned dependents=5 stale=5`, `msg=dispatching`, `msg=dispatched`, `ok=4`, `elapsed=`} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
}

// TestRunTimeoutBoundsTheRun: --timeout bounds the whole run; one that
// runs out before anything was sent is not a success and sends nothing.
func TestRunTimeoutBoundsTheRun(t *testing.T) {
	f := newRunFixture(t)
	t.Setenv("GITHUB_TOKEN", f.gh.Token())
	t.Setenv("HOOK_SECRET", "s3cret")
	code, _, errs := f.run(t, "--timeout", "1ns")
	if code == 0 || code == exitcode.Internal {
		t.Errorf("exit %d, want a classified failure: %s", code, errs)
	}
	if len(f.gh.Requests()) != 0 || f.hooks.count() != 0 {
		t.Error("dispatched after the timeout")
	}
	if code, _, _ := f.run(t, "--timeout", "-1s"); code != exitcode.Invalid {
		t.Errorf("--timeout -1s: exit %d, want 2", code)
	}
}
