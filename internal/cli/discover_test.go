package cli

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/imagecascade/cascade/internal/githubtest"
	"github.com/imagecascade/cascade/internal/imagetest"
	"github.com/imagecascade/cascade/internal/testenv"
)

// TestDiscoveredDependentsOnRealComponents: the base's config lists no
// dependent at all. app-a declares itself with annotations on its Tekton
// Pipeline in a real kube-apiserver (Tekton's controller running), app-b in
// its own repository's .github/cascade.yaml (the GitHub fake, found by its
// topic, its Dockerfile naming the base). `cascade graph` and `cascade plan`
// show where each was declared; `cascade run` creates app-a's PipelineRun
// exactly as for a configured one — which the controller starts — and
// sends app-b's repository_dispatch.
func TestDiscoveredDependentsOnRealComponents(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	k := testenv.StartKube(t)
	tk := testenv.StartTekton(t, k)
	if err := k.CreateNamespace(ctx, "ci"); err != nil {
		t.Fatal(err)
	}
	reg := imagetest.NewRegistry(t)
	root := imagetest.Root(t)
	v1 := imagetest.On(t, root)
	baseRef := reg.Ref("acme/httpd-base:latest")
	v1d := reg.Push("acme/httpd-base:latest", v1)
	reg.Push("acme/app-a:latest", imagetest.Annotated(imagetest.On(t, v1), baseRef, v1d))
	reg.Push("acme/app-b:latest", imagetest.Annotated(imagetest.On(t, v1), baseRef, v1d))
	v2d := reg.Push("acme/httpd-base:latest", imagetest.On(t, root))

	p, err := tk.CreatePipeline(ctx, "ci", "app-a-build", "BASE_IMAGE")
	if err != nil {
		t.Fatal(err)
	}
	p.Annotations = map[string]string{
		"cascade.dev/name":   "app-a",
		"cascade.dev/image":  reg.Ref("acme/app-a:latest"),
		"cascade.dev/from":   reg.Ref("acme/httpd-base:latest"),
		"cascade.dev/params": `{BASE_IMAGE: "{{ .Base.Ref }}"}`,
	}
	if _, err := tk.Client.TektonV1().Pipelines("ci").Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	gh := githubtest.New(t)
	b := gh.Repo("acme/app-b")
	b.SetTopics("cascade-dependent")
	b.WriteFiles("main", "declare", map[string]string{
		".github/cascade.yaml": "version: 1\nimages:\n  - {name: app-b, image: " + reg.Ref("acme/app-b:latest") + ", dockerfile: Dockerfile}\n",
		"Dockerfile":           "FROM " + baseRef + "\n",
	})
	gh.Repo("acme/unrelated")

	ws := t.TempDir()
	writeFile(t, filepath.Join(ws, "cascade.yaml"), `version: 1
discover:
  github: {owner: acme, topic: cascade-dependent}
  tekton: {namespaces: [ci]}
`)
	t.Setenv("GITHUB_TOKEN", gh.Token())
	t.Setenv("GITHUB_API_URL", gh.URL)
	t.Setenv("KUBECONFIG", k.Kubeconfig)

	code, out, errs := run(t, "graph", "--workspace", ws, "-o", "json")
	if code != 0 {
		t.Fatalf("graph: exit %d\n%s\n%s", code, out, errs)
	}
	var gr struct {
		Nodes []struct{ ID, DeclaredBy string }
	}
	if err := json.Unmarshal([]byte(out), &gr); err != nil {
		t.Fatal(err)
	}
	declared := map[string]string{}
	for _, n := range gr.Nodes {
		declared[n.ID] = n.DeclaredBy
	}
	if declared["app-a"] != "tekton:ci/app-a-build" || !strings.HasPrefix(declared["app-b"], "github:acme/app-b@") {
		t.Errorf("graph declaredBy %v", declared)
	}

	code, out, errs = run(t, "plan", "--image", baseRef, "--workspace", ws, "-o", "json")
	if code != 0 {
		t.Fatalf("plan: exit %d\n%s\n%s", code, out, errs)
	}
	validate(t, "plan", out)
	var pl struct {
		Dependents []struct{ Name, Status, Rebuild, DeclaredBy string }
	}
	if err := json.Unmarshal([]byte(out), &pl); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range pl.Dependents {
		got = append(got, d.Name+" "+d.Status+" "+d.Rebuild+" "+strings.SplitN(d.DeclaredBy, "@", 2)[0])
	}
	if diff := cmp.Diff([]string{"app-b stale github github:acme/app-b", "app-a stale tekton tekton:ci/app-a-build"}, got); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}

	code, out, errs = run(t, "run", "--image", baseRef, "--workspace", ws, "-o", "json")
	if code != 0 {
		t.Fatalf("run: exit %d\n%s\n%s", code, out, errs)
	}
	validate(t, "run", out)
	ds := gh.RepositoryDispatches()
	if len(ds) != 1 || ds[0].Repo != "acme/app-b" || ds[0].EventType != "base-image-updated" {
		t.Errorf("repository dispatches %+v, want one to acme/app-b", ds)
	}
	prs, err := tk.Client.TektonV1().PipelineRuns("ci").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(prs.Items) != 1 {
		t.Fatalf("%d PipelineRuns, want 1", len(prs.Items))
	}
	pr := prs.Items[0]
	wantBase := reg.Host + "/acme/httpd-base@" + v2d.String()
	if pr.Name != "app-a-"+v2d.Hex[:12] || pr.Spec.PipelineRef.Name != "app-a-build" || pr.Labels["cascade.dev/dependent"] != "app-a" ||
		len(pr.Spec.Params) != 1 || pr.Spec.Params[0].Value.StringVal != wantBase {
		t.Errorf("PipelineRun %s ref %v labels %v params %+v; want app-a's, BASE_IMAGE=%s", pr.Name, pr.Spec.PipelineRef, pr.Labels, pr.Spec.Params, wantBase)
	}
	if _, err := tk.RunningPod(ctx, "ci", pr.Name); err != nil {
		t.Errorf("the controller did not start the PipelineRun: %v", err)
	}
}

// TestImportReachesDiscoveredDependents: the bases of discovered
// dependents are imported too — centos moved upstream, and the only image
// built on it declares itself in its repository.
func TestImportReachesDiscoveredDependents(t *testing.T) {
	reg := imagetest.NewRegistry(t)
	root := imagetest.Root(t)
	c1 := imagetest.On(t, root)
	c1d := reg.Push("library/centos:7", c1)
	reg.Push("acme/httpd-base:latest", imagetest.Annotated(imagetest.On(t, c1), reg.Ref("library/centos:7"), c1d))
	reg.Push("library/centos:7", imagetest.On(t, root)) // upstream moved

	gh := githubtest.New(t)
	r := gh.Repo("acme/httpd-base")
	r.SetTopics("cascade-dependent")
	r.WriteFiles("main", "declare", map[string]string{
		".github/cascade.yaml": "version: 1\nimages:\n  - {name: httpd-base, image: " + reg.Ref("acme/httpd-base:latest") + ", from: [" + reg.Ref("library/centos:7") + "]}\n",
	})
	ws := t.TempDir()
	writeFile(t, filepath.Join(ws, "cascade.yaml"), "version: 1\ndiscover:\n  github: {owner: acme, topic: cascade-dependent}\n")
	t.Setenv("GITHUB_TOKEN", gh.Token())
	code, out, errs := run(t, "import", "--workspace", ws, "--github-api-url", gh.URL, "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	var rep importReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Bases) != 1 || len(rep.Bases[0].Dispatches) != 1 || rep.Bases[0].Dispatches[0].Status != "dispatched" {
		t.Fatalf("import: %s", out)
	}
	if ds := gh.RepositoryDispatches(); len(ds) != 1 || ds[0].Repo != "acme/httpd-base" {
		t.Errorf("repository dispatches %+v, want one to acme/httpd-base", ds)
	}
}
