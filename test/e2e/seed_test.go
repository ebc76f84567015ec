package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/apis"

	"github.com/imagecascade/cascade/internal/githubtest"
	"github.com/imagecascade/cascade/internal/history"
	"github.com/imagecascade/cascade/internal/plan"
	"github.com/imagecascade/cascade/internal/registry"
	"github.com/imagecascade/cascade/internal/report"
	"github.com/imagecascade/cascade/internal/testenv"
)

// TestSeedScenario is the OpenShift "Image Stream" lab on real components:
// centos → httpd-base → app-a (rebuilt by a Tekton PipelineRun) and app-b
// (rebuilt by a GitHub repository_dispatch, played by act), each deployed
// from a git repository by digest. A new httpd-base build rebuilds both apps
// on it, and each app's pipeline ends with the cascade step that pins its
// new digest in the deploy repository and pushes — one of the two pushes
// loses the race and recovers.
func TestSeedScenario(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	c := newClock(t)
	defer c.done()

	// ── 1 ─────────────────────────────────────────────────────────────
	c.step("1", "start docker-registry, etcd + kube-apiserver + Tekton, the GitHub test API, a bare git remote")
	testenv.Require(t, "git")
	act := requireAct(t)
	reg := timed(t, "docker-registry", func() *testenv.Registry { return testenv.StartRegistry(t) })
	b := timed(t, "buildah (private storage)", func() *testenv.Buildah { return testenv.NewBuildah(t) })
	k := timed(t, "etcd + kube-apiserver", func() *testenv.Kube { return testenv.StartKube(t) })
	tk := timed(t, "tekton (CRDs, config maps, controller)", func() *testenv.Tekton { return testenv.StartTekton(t, k) })
	if err := k.CreateNamespace(ctx, "ci"); err != nil {
		t.Fatal(err)
	}
	if _, err := tk.CreatePipeline(ctx, "ci", "app-a-build", "BASE_IMAGE"); err != nil {
		t.Fatal(err)
	}
	gh := timed(t, "GitHub test API", func() *githubtest.Server { return githubtest.New(t) })
	gh.Repo("acme/app-b")
	root := t.TempDir()
	remote := filepath.Join(root, "deploy.git")
	timed(t, "bare git remote", func() string { return git(t, root, "init", "-q", "--bare", "-b", "main", remote) })

	// ── 2 ─────────────────────────────────────────────────────────────
	c.step("2", "buildah: centos (stand-in), httpd-base FROM it, app-a and app-b FROM httpd-base; push; pin the deploy repo")
	centos := reg.Ref("centos:7")
	if err := b.BuildBase(ctx, "localhost/centos:7"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Push(ctx, "localhost/centos:7", centos); err != nil {
		t.Fatal(err)
	}
	httpd, appA, appB := reg.Ref("acme/httpd-base:latest"), reg.Ref("acme/app-a:latest"), reg.Ref("acme/app-b:latest")
	src := filepath.Join(root, "src")
	appBRepo := filepath.Join(root, "app-b")
	writeFiles(t, src, map[string]string{
		"httpd-base/Dockerfile": "FROM " + centos + "\nARG RELEASE\nRUN mkdir -p /var/www && echo \"httpd-base release $RELEASE\" > /etc/httpd-release\n",
		"app-a/Dockerfile":      appDockerfile(httpd, "app-a"),
	})
	writeFiles(t, appBRepo, map[string]string{"Dockerfile": appDockerfile(httpd, "app-b")})
	buildPush(t, ctx, b, filepath.Join(src, "httpd-base"), httpd, testenv.BuildOptions{BuildArgs: map[string]string{"RELEASE": "1"}})
	oldA := buildPush(t, ctx, b, filepath.Join(src, "app-a"), appA, testenv.BuildOptions{})
	oldB := buildPush(t, ctx, b, appBRepo, appB, testenv.BuildOptions{})
	seedFiles := deployRepo(reg.Host, oldA, oldB)
	seed := filepath.Join(root, "seed")
	git(t, root, "clone", "-q", remote, seed)
	writeFiles(t, seed, seedFiles)
	git(t, seed, "add", ".")
	git(t, seed, "commit", "-qm", "deploy app-a and app-b, pinned by digest")
	git(t, seed, "push", "-q", "origin", "main")

	// ── 3 ─────────────────────────────────────────────────────────────
	c.step("3", "the lab's \"Start build\": httpd-base rebuilt with a different RUN and pushed")
	newBase := buildPush(t, ctx, b, filepath.Join(src, "httpd-base"), httpd, testenv.BuildOptions{BuildArgs: map[string]string{"RELEASE": "2"}})
	t.Logf("   httpd-base is now %s", newBase)

	// ── 4 ─────────────────────────────────────────────────────────────
	c.step("4", "cascade run for httpd-base, as its pipeline step: app-a → Tekton, app-b → repository_dispatch")
	platform := filepath.Join(root, "platform")
	writeFiles(t, platform, map[string]string{"cascade.yaml": strings.ReplaceAll(`# The platform team's cascade config, next to httpd-base.
version: 1
images:
  - name: httpd-base
    image: REG/acme/httpd-base:latest
    from: [REG/centos:7]
    rebuild: {github: {repository: acme/httpd-base}}
  - name: app-a
    image: REG/acme/app-a:latest
    from: [REG/acme/httpd-base:latest]
    rebuild:
      tekton: {namespace: ci, pipeline: app-a-build, params: {BASE_IMAGE: "{{ .Base.Ref }}"}}
  - name: app-b
    image: REG/acme/app-b:latest
    from: [REG/acme/httpd-base:latest]
    rebuild:
      github: {repository: acme/app-b, event: base-image-updated}
registries:
  allow: [REG]
`, "REG", reg.Host)})
	config := filepath.Join(platform, "cascade.yaml")
	env := []string{"GITHUB_TOKEN=" + gh.Token()}
	baseRun := []string{"run", "--image", httpd, "--workspace", platform, "--kubeconfig", k.Kubeconfig, "--github-api-url", gh.URL}
	var r report.Run
	cascadeJSON(t, ctx, env, &r, baseRun...)
	if diff := cmp.Diff(map[string]string{"app-a": "tekton/dispatched", "app-b": "github/dispatched"}, outcomes(r)); diff != "" {
		t.Fatalf("httpd-base's run: dispatches (-want +got):\n%s", diff)
	}
	if r.Plan.Digest != newBase {
		t.Errorf("planned digest %s, pushed %s", r.Plan.Digest, newBase)
	}

	// ── 5a ────────────────────────────────────────────────────────────
	c.step("5a", "app-a's PipelineRun: the controller runs it; the test builds app-a on the announced base")
	prs, err := tk.Client.TektonV1().PipelineRuns("ci").List(ctx, metav1.ListOptions{LabelSelector: "cascade.dev/dependent=app-a"})
	if err != nil {
		t.Fatal(err)
	}
	if len(prs.Items) != 1 {
		t.Fatalf("%d PipelineRuns for app-a, want 1", len(prs.Items))
	}
	pr := prs.Items[0]
	baseRef := param(pr, "BASE_IMAGE")
	if want := strings.TrimSuffix(httpd, ":latest") + "@" + newBase; baseRef != want {
		t.Fatalf("PipelineRun %s: BASE_IMAGE=%q, want %q", pr.Name, baseRef, want)
	}
	pod, err := tk.RunningPod(ctx, "ci", pr.Name)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("   PipelineRun %s → pod %s; building app-a FROM %s", pr.Name, pod.Name, baseRef)
	newA := buildPush(t, ctx, b, filepath.Join(src, "app-a"), appA, testenv.BuildOptions{BuildArgs: map[string]string{"BASE_IMAGE": baseRef}})

	// Both pipelines check the deploy repository out before either
	// pushes: the second push loses the race.
	cloneA, cloneB := filepath.Join(root, "deploy-a"), filepath.Join(root, "deploy-b")
	git(t, root, "clone", "-q", remote, cloneA)
	git(t, root, "clone", "-q", remote, cloneB)

	// ── 6a ────────────────────────────────────────────────────────────
	c.step("6a", "app-a's pipeline ends with the cascade step: pin app-a's new digest in the deploy repo, push; the PipelineRun completes")
	var runA report.Run
	cascadeJSON(t, ctx, nil, &runA, "run", "--image", appA, "--digest", newA, "--config", config, "--workspace", cloneA, "--write", "commit", "--push")
	done, err := tk.CompletePipelineRun(ctx, "ci", pr.Name, true)
	if err != nil {
		t.Fatal(err)
	}
	if cond := done.Status.GetCondition(apis.ConditionSucceeded); cond == nil || !cond.IsTrue() {
		t.Fatalf("PipelineRun %s not Succeeded: %+v", pr.Name, cond)
	}
	t.Logf("   PipelineRun %s: Succeeded (%s)", pr.Name, done.Status.GetCondition(apis.ConditionSucceeded).Reason)

	// ── 5b + 6b ───────────────────────────────────────────────────────
	c.step("5b+6b", "app-b's workflow under act on the recorded repository_dispatch: build on the announced base, then the cascade step (its push loses the race)")
	ds := gh.RepositoryDispatches()
	if len(ds) != 1 || ds[0].Repo != "acme/app-b" || ds[0].EventType != "base-image-updated" {
		t.Fatalf("repository dispatches: %+v", ds)
	}
	t.Logf("   client_payload: %s", ds[0].ClientPayload)
	newB, runB := playAppB(t, ctx, act, appBRepo, ds[0], appB, reg.Host, cloneB, config)

	// ── 7 ─────────────────────────────────────────────────────────────
	c.step("7", "assert: base annotations, the deploy repo's main, plan, history, an idempotent re-run")
	for name, want := range map[string]string{appA: newA, appB: newB} {
		d, m, _ := manifest(t, ctx, name)
		if d != want {
			t.Errorf("%s is %s, the pipeline pushed %s", name, d, want)
		}
		if m == nil || m.Annotations[registry.BaseDigestKey] != newBase {
			t.Errorf("%s: %s = %q, want the new httpd-base %s", name, registry.BaseDigestKey, annotation(m), newBase)
		}
	}
	// The race: app-a pushed first; app-b's push was rejected, recomputed
	// on the fresh tree and pushed on its second attempt.
	if wb := writeBack(runA); wb == nil || !wb.Pushed || wb.Attempts != 1 {
		t.Errorf("app-a's write-back: %+v, want pushed on attempt 1", wb)
	}
	if wb := writeBack(runB); wb == nil || !wb.Pushed || wb.Attempts != 2 {
		t.Errorf("app-b's write-back: %+v, want pushed on attempt 2 (lost the race)", wb)
	}
	check := filepath.Join(root, "check")
	git(t, root, "clone", "-q", remote, check)
	want := map[string]string{}
	for p, content := range seedFiles {
		want[p] = strings.NewReplacer(oldA, newA, oldB, newB).Replace(content)
	}
	if diff := cmp.Diff(want, readTree(t, check)); diff != "" {
		t.Errorf("deploy repo main: only the two digests may change (-want +got):\n%s", diff)
	}
	t.Logf("   deploy repo main, seed → now:\n%s", git(t, check, "diff", "--stat", "HEAD~2", "HEAD"))
	log := git(t, check, "log", "--format=%s%n%b%n--")
	for _, trailer := range []string{"Cascade-Update: " + appA + "@" + newA, "Cascade-Update: " + appB + "@" + newB} {
		if !strings.Contains(log, trailer) {
			t.Errorf("deploy repo log lacks %q:\n%s", trailer, log)
		}
	}
	if n := git(t, check, "rev-list", "--count", "main"); n != "3" {
		t.Errorf("main has %s commits, want 3 (seed, app-a, app-b):\n%s", n, log)
	}

	var p plan.Plan
	cascadeJSON(t, ctx, nil, &p, "plan", "--image", httpd, "--workspace", platform)
	got := map[string]string{}
	for _, d := range p.Dependents {
		got[d.Name] = string(d.Status) + "/" + string(d.Evidence) + " on " + d.BuiltOn
	}
	wantPlan := map[string]string{"app-a": "current/annotation on " + newBase, "app-b": "current/annotation on " + newBase}
	if diff := cmp.Diff(wantPlan, got); diff != "" || p.Summary.Dispatches != 0 {
		t.Errorf("plan after the cascade (-want +got):\n%s\ndispatches: %d", diff, p.Summary.Dispatches)
	}

	var gens []history.Generation
	cascadeJSON(t, ctx, nil, &gens, "history", "--image", httpd, "--workspace", platform)
	gotGen := map[string]string{}
	for _, g := range gens {
		if g.Digest != newBase {
			continue
		}
		for _, d := range g.Dispatches {
			gotGen[d.Dependent] = d.Kind + "/" + string(d.Status)
		}
	}
	if diff := cmp.Diff(map[string]string{"app-a": "tekton/dispatched", "app-b": "github/dispatched"}, gotGen); diff != "" {
		t.Errorf("history of httpd-base %s (-want +got):\n%s\n%+v", newBase, diff, gens)
	}
	code, out, errs := cascade(t, ctx, nil, "history", "--image", httpd, "--workspace", platform)
	if code != 0 || !strings.Contains(out, newBase) {
		t.Errorf("cascade history: exit %d\n%s\n%s", code, out, errs)
	}
	t.Logf("   cascade history --image %s:\n%s", httpd, out)

	// Step 4 again: nothing is dispatched.
	requests := len(gh.Requests())
	var again report.Run
	cascadeJSON(t, ctx, env, &again, baseRun...)
	for _, o := range again.Dispatches {
		if o.Status == "dispatched" {
			t.Errorf("the re-run dispatched %s (%s)", o.Name, o.Kind)
		}
	}
	prs, err = tk.Client.TektonV1().PipelineRuns("ci").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(prs.Items) != 1 || len(gh.RepositoryDispatches()) != 1 || len(gh.Requests()) != requests {
		t.Errorf("the re-run dispatched: %d PipelineRuns, %d repository dispatches, GitHub requests %d → %d",
			len(prs.Items), len(gh.RepositoryDispatches()), requests, len(gh.Requests()))
	}
}

// appDockerfile is an application built on httpd-base; BASE_IMAGE lets its
// pipeline build it on the exact digest a cascade announced.
func appDockerfile(httpd, app string) string {
	return "ARG BASE_IMAGE=" + httpd + "\nFROM ${BASE_IMAGE}\nRUN echo '" + app + "' > /var/www/index.html\n"
}

// deployRepo is the deploy repository's seed: Deployments of app-a (tag
// and digest) and app-b (digest only), a kustomization and Helm values,
// all pinned to the apps' digests, and a README nothing may touch.
func deployRepo(host, digestA, digestB string) map[string]string {
	r := strings.NewReplacer("REG", host, "DIGEST_A", digestA, "DIGEST_B", digestB)
	return map[string]string{
		"README.md": "# deploy\n\nProduction manifests. cascade pins the apps' digests here.\n",
		"deploy/app-a.yaml": r.Replace(`# app-a: the front end.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-a
  labels: {app: app-a}
spec:
  replicas: 2
  selector:
    matchLabels: {app: app-a}
  template:
    metadata:
      labels: {app: app-a}
    spec:
      containers:
        - name: httpd
          image: REG/acme/app-a:latest@DIGEST_A   # follows latest, pinned
          ports:
            - containerPort: 8080
`),
		"deploy/app-b.yaml": r.Replace(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-b
spec:
  selector:
    matchLabels:
      app: app-b
  template:
    metadata:
      labels:
        app: app-b
    spec:
      containers:
      - name: httpd
        image: "REG/acme/app-b@DIGEST_B"
        resources:
          limits: {memory: 128Mi}
`),
		"deploy/kustomization.yaml": r.Replace(`apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - app-a.yaml
  - app-b.yaml
images:
  - name: REG/acme/app-a
    newTag: latest
    digest: DIGEST_A
  - name: REG/acme/app-b
    newTag: latest
    digest: DIGEST_B
`),
		"charts/apps/values.yaml": r.Replace(`# Values of the apps chart.
appA:
  replicas: 2
  image:
    repository: REG/acme/app-a
    tag: latest
    digest: "DIGEST_A"

appB:
  image:
    repository: REG/acme/app-b
    tag: latest
    digest: "DIGEST_B"
  service:
    port: 80
`),
	}
}

// appBWorkflow is app-b's receiving workflow: on cascade's
// repository_dispatch, build app-b on the exact base digest announced and
// end with the cascade step, which reads the cascade chain from the event
// and pushes app-b's new digest to the deploy repository. buildah and the
// cascade binary are configured through E2E_* variables (private storage,
// the test registry over plain HTTP).
const appBWorkflow = `name: app-b-on-base-update
on:
  repository_dispatch:
    types: [base-image-updated]
jobs:
  rebuild:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - name: Rebuild on the new base
        id: build
        env:
          BASE_REF: ${{ github.event.client_payload.ref }}
          DEPENDENT: ${{ github.event.client_payload.dependent }}
        run: |
          set -eu
          echo "rebuilding ${DEPENDENT} on ${BASE_REF}"
          buildah ${E2E_BUILDAH_STORAGE} build --isolation chroot --format oci --pull=always --layers=false \
            --signature-policy "${E2E_POLICY}" --build-arg "BASE_IMAGE=${BASE_REF}" -t "${E2E_IMAGE}" .
          buildah ${E2E_BUILDAH_STORAGE} push --signature-policy "${E2E_POLICY}" --digestfile "${RUNNER_TEMP}/digest" "${E2E_IMAGE}"
          echo "digest=$(cat "${RUNNER_TEMP}/digest")" >> "${GITHUB_OUTPUT}"
      - name: Cascade app-b
        env:
          DIGEST: ${{ steps.build.outputs.digest }}
        run: |
          set -eu
          "${E2E_CASCADE}" run --image "${E2E_IMAGE}" --digest "${DIGEST}" --config "${E2E_CONFIG}" \
            --workspace "${E2E_DEPLOY}" --write commit --push -o json > "${E2E_REPORT}"
          echo "cascade step done: app-b ${DIGEST}"
`

// playAppB runs app-b's workflow under act (host mode) on the event GitHub
// would deliver for the recorded dispatch, and returns the digest the
// workflow pushed and its cascade step's run report.
func playAppB(t *testing.T, ctx context.Context, act, repo string, d githubtest.RepositoryDispatch,
	image, host, deploy, config string) (string, report.Run) {
	t.Helper()
	writeFiles(t, repo, map[string]string{".github/workflows/on-base-update.yml": appBWorkflow})
	git(t, repo, "init", "-q", "-b", "main")
	git(t, repo, "remote", "add", "origin", "https://github.com/acme/app-b.git")
	git(t, repo, "add", "-A")
	git(t, repo, "commit", "-qm", "app-b")

	// The event GitHub delivers for that request: action is the
	// event_type, client_payload the exact payload sent.
	event, err := json.Marshal(map[string]any{
		"action":         d.EventType,
		"client_payload": d.ClientPayload,
		"repository":     map[string]any{"full_name": "acme/app-b", "name": "app-b", "owner": map[string]any{"login": "acme"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	eventFile, reportFile := filepath.Join(dir, "event.json"), filepath.Join(dir, "report.json")
	bs := filepath.Join(dir, "buildah")
	writeFiles(t, dir, map[string]string{
		"event.json":      string(event),
		"policy.json":     `{"default":[{"type":"insecureAcceptAnything"}]}`,
		"registries.conf": fmt.Sprintf("unqualified-search-registries = []\n[[registry]]\nlocation = %q\ninsecure = true\n", host),
		"containers.conf": "[engine]\n",
	})
	args := []string{"repository_dispatch", "-e", eventFile,
		"-W", filepath.Join(repo, ".github", "workflows"),
		"-P", "ubuntu-latest=-self-hosted", "--action-offline-mode",
		"--action-cache-path", filepath.Join(dir, "act-cache"),
		"--env", "E2E_BUILDAH_STORAGE=--root " + filepath.Join(bs, "root") + " --runroot " + filepath.Join(bs, "run") + " --storage-driver vfs",
		"--env", "E2E_POLICY=" + filepath.Join(dir, "policy.json"),
		"--env", "E2E_IMAGE=" + image,
		"--env", "E2E_CASCADE=" + cascadeBinary(t),
		"--env", "E2E_CONFIG=" + config,
		"--env", "E2E_DEPLOY=" + deploy,
		"--env", "E2E_REPORT=" + reportFile,
		"--env", execAsCascade + "=cascade",
		"--env", "CONTAINERS_REGISTRIES_CONF=" + filepath.Join(dir, "registries.conf"),
		"--env", "CONTAINERS_CONF=" + filepath.Join(dir, "containers.conf"),
		"--env", "TMPDIR=" + dir,
	}
	cmd := exec.CommandContext(ctx, act, args...)
	cmd.Dir = repo
	cmd.Env = append(cascadeEnv(), "HOME="+filepath.Join(dir, "home"))
	cmd.Env = slices.DeleteFunc(cmd.Env, func(kv string) bool { return strings.HasPrefix(kv, execAsCascade+"=") })
	cmd.WaitDelay = 10 * time.Second
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("   act ran the workflow in %.1fs", time.Since(start).Seconds())
	t.Cleanup(func() {
		// Best effort: vfs layers hold read-only directories.
		_ = exec.Command("chmod", "-R", "u+w", bs).Run()
	})
	if err != nil {
		t.Fatalf("act: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`cascade step done: app-b (sha256:[0-9a-f]{64})`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("the workflow did not reach the end of its cascade step:\n%s", out)
	}
	if !strings.Contains(string(out), "rebuilding app-b on ") {
		t.Errorf("the build step did not announce its base:\n%s", out)
	}
	data, err := os.ReadFile(reportFile)
	if err != nil {
		t.Fatalf("app-b's cascade report: %v\n%s", err, out)
	}
	var r report.Run
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("app-b's cascade report: %v\n%s", err, data)
	}
	return string(m[1]), r
}

// outcomes maps each dispatched dependent to kind/status.
func outcomes(r report.Run) map[string]string {
	m := map[string]string{}
	for _, o := range r.Dispatches {
		m[o.Name] = o.Kind + "/" + string(o.Status)
	}
	return m
}

func writeBack(r report.Run) *report.WriteBack {
	if r.Manifests == nil {
		return nil
	}
	return r.Manifests.WriteBack
}

func param(pr pipelinev1.PipelineRun, name string) string {
	for _, p := range pr.Spec.Params {
		if p.Name == name {
			return p.Value.StringVal
		}
	}
	return ""
}
