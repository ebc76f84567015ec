package wire

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imagecascade/cascade/internal/dispatch"
	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/imageref"
	"github.com/imagecascade/cascade/internal/imagetest"
	"github.com/imagecascade/cascade/internal/run"
)

func TestParseCascade(t *testing.T) {
	t.Parallel()
	c, err := ParseCascade("input", ` {"id":"k","depth":2,"chain":["a","b"],"origin":"o"} `)
	if err != nil || c.ID != "k" || c.Depth != 2 || strings.Join(c.Chain, ",") != "a,b" || c.Origin != "o" {
		t.Errorf("got %+v, %v", c, err)
	}
	if c, err := ParseCascade("input", "  "); err != nil || c.ID != "" {
		t.Errorf("empty: %+v, %v", c, err)
	}
	for _, bad := range []string{`{"id":"k","extra":1}`, `{"depth":-1}`, `not json`} {
		if _, err := ParseCascade("--cascade-context", bad); exitcode.Of(err) != exitcode.Invalid || !strings.HasPrefix(err.Error(), "--cascade-context: ") {
			t.Errorf("%s: %v, want invalid input naming its source", bad, err)
		}
	}
}

func TestWriteValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		w     Write
		token string
		want  string // "" for valid
	}{
		{Write{}, "", ""},
		{Write{Mode: "commit", Push: true}, "", ""},
		{Write{Mode: "pull-request", Repository: "acme/deploy"}, "tok", ""},
		{Write{Mode: "copy"}, "", `--write "copy"`},
		{Write{Mode: "none", Push: true}, "", "--push goes with --write commit"},
		{Write{Mode: "pull-request", Repository: "acme"}, "tok", "must be owner/name"},
		{Write{Mode: "pull-request", Repository: "acme/deploy"}, "", "needs a token"},
	} {
		err := tc.w.validate(tc.token)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || exitcode.Of(err) != exitcode.Invalid) {
			t.Errorf("%+v (token %q): %v, want %q", tc.w, tc.token, err, tc.want)
		}
	}
}

// workspace writes a config naming one image per rebuild kind on a real
// (in-process) registry.
func workspace(t *testing.T) (string, *imagetest.Registry) {
	t.Helper()
	reg := imagetest.NewRegistry(t)
	ws := t.TempDir()
	cfg := strings.ReplaceAll(`version: 1
registries: {insecure: [REG]}
images:
  - {name: base, image: REG/acme/base:latest, rebuild: {rebase: {}}}
  - {name: gh, image: REG/acme/gh:latest, from: [REG/acme/base], rebuild: {github: {repository: acme/gh}}}
  - {name: tk, image: REG/acme/tk:latest, from: [REG/acme/base], rebuild: {tekton: {namespace: ci, pipeline: tk}}}
`, "REG", reg.Host)
	if err := os.WriteFile(filepath.Join(ws, "cascade.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return ws, reg
}

// TestRunDepsTokenIsAValue: the GitHub dispatcher is built from the
// options' token only — never from the environment — and a dry run needs
// neither a token nor a cluster.
func TestRunDepsTokenIsAValue(t *testing.T) {
	ws, _ := workspace(t)
	t.Setenv("CASCADE_GITHUB_TOKEN", "ghs_from_the_environment")
	t.Setenv("GITHUB_TOKEN", "ghs_from_the_environment")
	d, err := RunDeps(Options{Workspace: ws})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Dispatchers.For("github"); exitcode.Of(err) != exitcode.Invalid || !strings.Contains(err.Error(), "need a token") {
		t.Errorf("github without a token in the options: %v, want invalid input", err)
	}
	d, err = RunDeps(Options{Workspace: ws, GitHubToken: "ghs_value"})
	if err != nil {
		t.Fatal(err)
	}
	if ds, err := d.Dispatchers.For("github"); err != nil || ds.Kind() != "github" {
		t.Errorf("github with a token: %v, %v", ds, err)
	}
	if a, b := must(d.Dispatchers.For("github")), must(d.Dispatchers.For("github")); a != b {
		t.Error("the github dispatcher is built twice")
	}
	d, err = RunDeps(Options{Workspace: ws, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"github", "tekton", "rebase", "webhook"} {
		if _, err := d.Dispatchers.For(kind); err != nil {
			t.Errorf("dry run, %s: %v", kind, err)
		}
	}
	tk := must(d.Dispatchers.For("tekton"))
	if o := tk.Dispatch(context.Background(), dispatch.Target{Name: "tk"}); o.Status != dispatch.StatusSkipped {
		t.Errorf("a dry run's Tekton dispatcher sent: %+v", o)
	}
}

func must(d dispatch.Dispatcher, err error) dispatch.Dispatcher {
	if err != nil {
		panic(err)
	}
	return d
}

// TestRunDepsPlansOnTheRegistry: the Deps wire builds plan for real
// against a registry: base moved, gh built on the old base is stale.
func TestRunDepsPlansOnTheRegistry(t *testing.T) {
	t.Parallel()
	ws, reg := workspace(t)
	root := imagetest.Root(t)
	v1 := imagetest.On(t, root)
	baseRef := reg.Ref("acme/base:latest")
	v1d := reg.Push("acme/base:latest", v1)
	reg.Push("acme/gh:latest", imagetest.Annotated(imagetest.On(t, v1), baseRef, v1d))
	reg.Push("acme/base:latest", imagetest.On(t, root))

	d, err := RunDeps(Options{Workspace: ws, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	out, err := run.Run(context.Background(), d, run.Request{Image: imageref.MustParse(baseRef), DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	stale := 0
	for _, dep := range out.Plan.Dependents {
		if dep.Name == "gh" && dep.Status == "stale" {
			stale++
		}
	}
	if stale != 1 {
		t.Errorf("gh is not stale: %+v", out.Plan.Dependents)
	}
}

func TestRunDepsNeedsAConfig(t *testing.T) {
	t.Parallel()
	if _, err := RunDeps(Options{Workspace: t.TempDir()}); exitcode.Of(err) != exitcode.Invalid {
		t.Errorf("no config: %v, want invalid input", err)
	}
	d, cfg, err := UpdateDeps(Options{Workspace: t.TempDir()}, []string{"deploy/*.yaml"})
	if err != nil || cfg != nil || d == nil || len(d.Clusters) != 0 || d.History != nil {
		t.Fatalf("update without a config: %+v, %v, %v", d, cfg, err)
	}
	if m, ok := d.Manifests.(*run.WorkspaceManifests); !ok || strings.Join(m.Paths, ",") != "deploy/*.yaml" {
		t.Errorf("update without a config: manifests %+v", d.Manifests)
	}
}

// TestUpdateDepsBuildsClusterTargets: `cascade update` (the CLI and the
// Action's command update) gets the config's clusters as a run does,
// with the history that records their rollouts and the blast radius;
// --clusters=false gives none, and a kubeconfig that cannot be loaded is
// invalid input.
func TestUpdateDepsBuildsClusterTargets(t *testing.T) {
	t.Parallel()
	ws := t.TempDir()
	if err := os.WriteFile(filepath.Join(ws, "cascade.yaml"), []byte(`version: 1
images:
  - {name: app, image: reg.example.com/acme/app:latest, rebuild: {webhook: {url: "http://127.0.0.1:9/unused"}}}
limits: {maxDispatches: 7}
clusters:
  - {name: prod, context: deployer, namespaces: [shop]}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(ws, "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: u, user: {token: not-a-real-token}}]
contexts: [{name: deployer, context: {cluster: c, user: u}}]
current-context: deployer
`), 0o600); err != nil {
		t.Fatal(err)
	}
	d, cfg, err := UpdateDeps(Options{Workspace: ws, Kubeconfig: kubeconfig}, nil)
	if err != nil || cfg == nil {
		t.Fatalf("UpdateDeps: %v", err)
	}
	if len(d.Clusters) != 1 || d.History == nil || d.MaxRollouts != 7 {
		t.Errorf("clusters %d, history %v, max rollouts %d; want 1, a store, 7", len(d.Clusters), d.History, d.MaxRollouts)
	}
	if d, _, err := UpdateDeps(Options{Workspace: ws, Kubeconfig: kubeconfig, NoClusters: true}, nil); err != nil || len(d.Clusters) != 0 || d.History != nil {
		t.Errorf("--clusters=false: %+v, %v", d, err)
	}
	if _, _, err := UpdateDeps(Options{Workspace: ws, Kubeconfig: filepath.Join(ws, "missing")}, nil); exitcode.Of(err) != exitcode.Invalid {
		t.Errorf("a missing kubeconfig: %v, want invalid input", err)
	}
}
