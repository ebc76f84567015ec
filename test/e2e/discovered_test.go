package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/imagecascade/cascade/internal/githubtest"
	"github.com/imagecascade/cascade/internal/plan"
	"github.com/imagecascade/cascade/internal/report"
	"github.com/imagecascade/cascade/internal/testenv"
)

// TestSeedScenarioDiscovered is the seed scenario's cascade step when the
// apps declare themselves: httpd-base's config lists neither app. app-a
// declares itself with annotations on its Tekton Pipeline, app-b in its own
// repository (topic cascade-dependent, .github/cascade.yaml naming its
// Dockerfile, whose FROM is an ARG defaulting to httpd-base). A new
// httpd-base build rebuilds both, exactly as with the central list: a
// PipelineRun the controller runs, a repository_dispatch; the plan says
// where each was declared; a re-run sends nothing. (The apps' own builds
// and deploy pins after the dispatch are TestSeedScenario's.)
func TestSeedScenarioDiscovered(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	c := newClock(t)
	defer c.done()

	c.step("1", "start docker-registry, etcd + kube-apiserver + Tekton, the GitHub test API")
	reg := timed(t, "docker-registry", func() *testenv.Registry { return testenv.StartRegistry(t) })
	b := timed(t, "buildah (private storage)", func() *testenv.Buildah { return testenv.NewBuildah(t) })
	k := timed(t, "etcd + kube-apiserver", func() *testenv.Kube { return testenv.StartKube(t) })
	tk := timed(t, "tekton (CRDs, config maps, controller)", func() *testenv.Tekton { return testenv.StartTekton(t, k) })
	if err := k.CreateNamespace(ctx, "ci"); err != nil {
		t.Fatal(err)
	}
	gh := timed(t, "GitHub test API", func() *githubtest.Server { return githubtest.New(t) })

	c.step("2", "buildah: centos (stand-in), httpd-base FROM it, app-a and app-b FROM httpd-base; push")
	centos := reg.Ref("centos:7")
	if err := b.BuildBase(ctx, "localhost/centos:7"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Push(ctx, "localhost/centos:7", centos); err != nil {
		t.Fatal(err)
	}
	httpd, appA, appB := reg.Ref("acme/httpd-base:latest"), reg.Ref("acme/app-a:latest"), reg.Ref("acme/app-b:latest")
	root := t.TempDir()
	src := filepath.Join(root, "src")
	writeFiles(t, src, map[string]string{
		"httpd-base/Dockerfile": "FROM " + centos + "\nARG RELEASE\nRUN mkdir -p /var/www && echo \"httpd-base release $RELEASE\" > /etc/httpd-release\n",
		"app-a/Dockerfile":      appDockerfile(httpd, "app-a"),
		"app-b/Dockerfile":      appDockerfile(httpd, "app-b"),
	})
	buildPush(t, ctx, b, filepath.Join(src, "httpd-base"), httpd, testenv.BuildOptions{BuildArgs: map[string]string{"RELEASE": "1"}})
	buildPush(t, ctx, b, filepath.Join(src, "app-a"), appA, testenv.BuildOptions{})
	buildPush(t, ctx, b, filepath.Join(src, "app-b"), appB, testenv.BuildOptions{})

	c.step("3", "the apps declare themselves: app-a's Pipeline annotations, app-b's repository (topic, .github/cascade.yaml, Dockerfile)")
	p, err := tk.CreatePipeline(ctx, "ci", "app-a-build", "BASE_IMAGE")
	if err != nil {
		t.Fatal(err)
	}
	p.Annotations = map[string]string{
		"cascade.dev/name":   "app-a",
		"cascade.dev/image":  appA,
		"cascade.dev/from":   httpd,
		"cascade.dev/params": `{BASE_IMAGE: "{{ .Base.Ref }}"}`,
	}
	if _, err := tk.Client.TektonV1().Pipelines("ci").Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	repoB := gh.Repo("acme/app-b")
	repoB.SetTopics("cascade-dependent")
	repoB.WriteFiles("main", "app-b declares itself", map[string]string{
		".github/cascade.yaml": "version: 1\nimages:\n  - name: app-b\n    image: " + appB + "\n    dockerfile: Dockerfile\n",
		"Dockerfile":           appDockerfile(httpd, "app-b"),
	})
	gh.Repo("acme/httpd-base").SetTopics("base-image")

	c.step("4", "the lab's \"Start build\": httpd-base rebuilt with a different RUN and pushed")
	newBase := buildPush(t, ctx, b, filepath.Join(src, "httpd-base"), httpd, testenv.BuildOptions{BuildArgs: map[string]string{"RELEASE": "2"}})

	c.step("5", "cascade plan and run for httpd-base, whose config lists no app")
	platform := filepath.Join(root, "platform")
	writeFiles(t, platform, map[string]string{"cascade.yaml": strings.ReplaceAll(`# The platform team's cascade config: the apps declare themselves.
version: 1
images:
  - name: httpd-base
    image: REG/acme/httpd-base:latest
    from: [REG/centos:7]
    rebuild: {github: {repository: acme/httpd-base}}
discover:
  github: {owner: acme, topic: cascade-dependent}
  tekton: {namespaces: [ci]}
registries:
  allow: [REG]
`, "REG", reg.Host)})
	env := []string{"GITHUB_TOKEN=" + gh.Token(), "GITHUB_API_URL=" + gh.URL, "KUBECONFIG=" + k.Kubeconfig}
	var pl plan.Plan
	cascadeJSON(t, ctx, env, &pl, "plan", "--image", httpd, "--workspace", platform)
	got := map[string]string{}
	for _, d := range pl.Dependents {
		got[d.Name] = string(d.Status) + " " + d.Rebuild + " " + strings.SplitN(d.DeclaredBy, "@", 2)[0]
	}
	if diff := cmp.Diff(map[string]string{"app-a": "stale tekton tekton:ci/app-a-build", "app-b": "stale github github:acme/app-b"}, got); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	baseRun := []string{"run", "--image", httpd, "--workspace", platform}
	var r report.Run
	cascadeJSON(t, ctx, env, &r, baseRun...)
	if diff := cmp.Diff(map[string]string{"app-a": "tekton/dispatched", "app-b": "github/dispatched"}, outcomes(r)); diff != "" {
		t.Fatalf("httpd-base's run: dispatches (-want +got):\n%s", diff)
	}

	c.step("6", "app-a's PipelineRun runs; app-b got its repository_dispatch; a re-run sends nothing")
	prs, err := tk.Client.TektonV1().PipelineRuns("ci").List(ctx, metav1.ListOptions{LabelSelector: "cascade.dev/dependent=app-a"})
	if err != nil {
		t.Fatal(err)
	}
	if len(prs.Items) != 1 {
		t.Fatalf("%d PipelineRuns for app-a, want 1", len(prs.Items))
	}
	pr := prs.Items[0]
	if want := strings.TrimSuffix(httpd, ":latest") + "@" + newBase; param(pr, "BASE_IMAGE") != want {
		t.Errorf("PipelineRun %s: BASE_IMAGE=%q, want %q", pr.Name, param(pr, "BASE_IMAGE"), want)
	}
	if _, err := tk.RunningPod(ctx, "ci", pr.Name); err != nil {
		t.Fatal(err)
	}
	ds := gh.RepositoryDispatches()
	if len(ds) != 1 || ds[0].Repo != "acme/app-b" || ds[0].EventType != "base-image-updated" || !strings.Contains(string(ds[0].ClientPayload), newBase) {
		t.Fatalf("repository dispatches: %+v", ds)
	}
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
	if len(prs.Items) != 1 || len(gh.RepositoryDispatches()) != 1 {
		t.Errorf("the re-run dispatched: %d PipelineRuns, %d repository dispatches", len(prs.Items), len(gh.RepositoryDispatches()))
	}
}
