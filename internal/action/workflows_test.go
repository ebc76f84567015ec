package action

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/imagecascade/cascade/internal/testenv"
)

// Versions .ci/build-gh-tools builds; the cache folders are named after them.
const (
	actVersion        = "v0.2.82"
	actionlintVersion = "v1.7.9"
	mermaidVersion    = "11.4.1"
)

// repoRoot is the repository root, two levels above this package.
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// ghTool finds a tool .ci/build-gh-tools builds: $env, else the tools
// cache. Missing, it fails the test in CI and skips it elsewhere.
func ghTool(t testing.TB, env, rel string) string {
	t.Helper()
	p := os.Getenv(env)
	if p == "" {
		cache, err := testenv.ToolsCache()
		if err != nil {
			t.Fatal(err)
		}
		p = filepath.Join(cache, rel)
	}
	if _, err := os.Stat(p); err != nil {
		msg := "%s not found (%v): run .ci/build-gh-tools, or set $%s"
		if testenv.InCI() {
			t.Fatalf("real component missing in CI: "+msg, p, err, env)
		}
		t.Skipf(msg, p, err, env)
	}
	return p
}

// workflowFiles are every workflow of the repository, examples included.
func workflowFiles(t testing.TB) []string {
	t.Helper()
	root := repoRoot(t)
	var files []string
	for _, g := range []string{".github/workflows/*.yml", "examples/github/*.yml"} {
		m, err := filepath.Glob(filepath.Join(root, g))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 4 {
		t.Fatalf("found only %d workflows: %q", len(files), files)
	}
	return files
}

// TestActionlint runs the real actionlint on every workflow; through the
// examples that use `uses: ./` it also checks the inputs given to action.yml.
func TestActionlint(t *testing.T) {
	t.Parallel()
	bin := ghTool(t, "CASCADE_ACTIONLINT", filepath.Join("actionlint-"+actionlintVersion, "actionlint"))
	root := repoRoot(t)
	var rel []string
	for _, f := range workflowFiles(t) {
		r, _ := filepath.Rel(root, f)
		rel = append(rel, r)
	}
	cmd := exec.Command(bin, append([]string{"-no-color"}, rel...)...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("actionlint %s: %v\n%s", strings.Join(rel, " "), err, out)
	}
}

// R26: no ${{ }} inside a run: script, in any workflow or in action.yml.
func TestNoExpressionsInRunScripts(t *testing.T) {
	t.Parallel()
	files := append(workflowFiles(t), filepath.Join(repoRoot(t), "action.yml"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(data, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		runs := 0
		walk(&doc, func(key, val *yaml.Node) {
			if key.Value != "run" || val.Kind != yaml.ScalarNode {
				return
			}
			runs++
			if strings.Contains(val.Value, "${{") {
				t.Errorf("%s:%d: ${{ }} inside run: (pass it through env): %q", f, val.Line, val.Value)
			}
		})
		if runs == 0 {
			t.Errorf("%s: no run: steps found; is the walk broken?", f)
		}
	}
}

func walk(n *yaml.Node, f func(key, val *yaml.Node)) {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			f(n.Content[i], n.Content[i+1])
		}
	}
	for _, c := range n.Content {
		walk(c, f)
	}
}

// action.yml declares exactly the inputs the binary reads, hands each to it
// as INPUT_<NAME> from ${{ inputs.<name> }}, and maps every output.
func TestActionYAMLMatchesTheBinary(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var a struct {
		Inputs  map[string]struct{ Default string } `yaml:"inputs"`
		Outputs map[string]struct{ Value string }   `yaml:"outputs"`
		Runs    struct {
			Using string `yaml:"using"`
			Steps []struct {
				ID  string            `yaml:"id"`
				Env map[string]string `yaml:"env"`
				Run string            `yaml:"run"`
			} `yaml:"steps"`
		} `yaml:"runs"`
	}
	if err := yaml.Unmarshal(data, &a); err != nil {
		t.Fatal(err)
	}
	if a.Runs.Using != "composite" {
		t.Errorf("runs.using = %q, want composite (no Docker needed)", a.Runs.Using)
	}
	want := []string{"command", "config", "digest", "dispatch-unknown", "dry-run", "github-api-url", "image", "max-dispatches", "push", "token", "workspace", "write"}
	var got []string
	for k := range a.Inputs {
		got = append(got, k)
	}
	sort.Strings(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("inputs (-want +got):\n%s", diff)
	}
	var run map[string]string
	for _, s := range a.Runs.Steps {
		if s.ID == "cascade" {
			run = s.Env
			if !strings.Contains(s.Run, "action") {
				t.Errorf("step cascade runs %q, want cascade action", s.Run)
			}
		}
	}
	for _, name := range want {
		key := "INPUT_" + strings.ToUpper(name)
		if v := run[key]; v != "${{ inputs."+name+" }}" {
			t.Errorf("env %s = %q, want ${{ inputs.%s }}", key, v, name)
		}
	}
	var outs []string
	for k, o := range a.Outputs {
		outs = append(outs, k)
		if o.Value != "${{ steps.cascade.outputs."+k+" }}" {
			t.Errorf("output %s = %q", k, o.Value)
		}
	}
	sort.Strings(outs)
	wantOuts, err := outputs(nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, kv := range wantOuts {
		names = append(names, kv[0])
	}
	slices.Sort(names)
	if diff := cmp.Diff(names, outs); diff != "" {
		t.Errorf("outputs (-binary +action.yml):\n%s", diff)
	}
}
