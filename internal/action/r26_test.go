package action

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestR26_NoExpressionsInRunAnywhere: no ${{ }} inside a run: script in any
// YAML file under .github/ or examples/ (at any depth, workflows or not) or
// in action.yml; values reach scripts through env.
func TestR26_NoExpressionsInRunAnywhere(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	files := []string{filepath.Join(root, "action.yml")}
	for _, dir := range []string{".github", "examples"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if ext := filepath.Ext(p); !d.IsDir() && (ext == ".yml" || ext == ".yaml") {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	runs := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(strings.NewReader(string(data)))
		for {
			var doc yaml.Node
			if err := dec.Decode(&doc); err != nil {
				break
			}
			walk(&doc, func(key, val *yaml.Node) {
				if key.Value != "run" {
					return
				}
				runs++
				if val.Kind != yaml.ScalarNode {
					t.Errorf("%s:%d: run: is not a plain script", f, val.Line)
					return
				}
				if strings.Contains(val.Value, "${{") {
					t.Errorf("%s:%d: ${{ }} inside run: (pass it through env): %q", f, val.Line, val.Value)
				}
			})
		}
	}
	if runs == 0 {
		t.Fatalf("no run: scripts found in %q; is the walk broken?", files)
	}
	t.Logf("%d run: scripts in %d files checked", runs, len(files))
}

// TestR26_OutputsUseTheDelimiterProtocol: every GITHUB_OUTPUT record is
// name<<DELIM with a delimiter found in no value, so a value holding a
// "name=value" text, a heredoc opener or workflow commands stays one value;
// a value with a newline is refused loudly (not written, the step fails)
// rather than split, and the other outputs are still intact.
func TestR26_OutputsUseTheDelimiterProtocol(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, value string
		multiLine   bool
	}{
		{"one line", "https://github.example.com/acme/base/pull/7?stale=999 plan<<EOF ::add-mask::$(id)`id` ghadelimiter_x", false},
		{"multi-line", "https://github.example.com/acme/base/pull/7\nstale=999\nplan<<EOF\nEOF\nghadelimiter_x\n::add-mask::$(id)`id`", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, map[string]string{"image": "registry.example.com/acme/httpd-base:latest"})
			rep := strings.Replace(runJSON, `"https://github.example.com/acme/base/pull/7"`, jsonString(t, tt.value), 1)
			if rep == runJSON {
				t.Fatal("the fixture no longer has the pull request URL to replace")
			}
			h.w = newWorld(t, rep)
			code := h.run(t)
			if tt.multiLine != (code != 0) {
				t.Errorf("exit %d; log:\n%s", code, h.log.String())
			}
			raw, err := os.ReadFile(h.env["GITHUB_OUTPUT"])
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(string(raw), "\n")
			var names []string
			for i := 0; i < len(lines); i++ {
				if lines[i] == "" {
					continue
				}
				name, delim, ok := strings.Cut(lines[i], "<<")
				if !ok || len(delim) < 16 || strings.Contains(tt.value, delim) {
					t.Fatalf("GITHUB_OUTPUT line %d %q: want name<<DELIM with an unguessable delimiter not in any value", i+1, lines[i])
				}
				names = append(names, name)
				for i++; i < len(lines) && lines[i] != delim; i++ {
				}
				if i == len(lines) {
					t.Fatalf("output %s: delimiter %q never closes", name, delim)
				}
			}
			want, pr := "plan,stale,dispatched,updated-files,pull-request", tt.value
			if tt.multiLine {
				want, pr = "plan,stale,dispatched,updated-files", ""
				if !strings.Contains(h.log.String(), "output pull-request: a multi-line value is not expected") {
					t.Errorf("the refusal is not reported; log:\n%s", h.log.String())
				}
			}
			if got := strings.Join(names, ","); got != want {
				t.Errorf("outputs written: %s, want %s", got, want)
			}
			out := h.outputs(t)
			if out["pull-request"] != pr || out["stale"] != "2" {
				t.Errorf("pull-request = %q, stale = %q: a value was split or altered", out["pull-request"], out["stale"])
			}
			for _, c := range activeCommands(h.log.String()) {
				if strings.Contains(c, "add-mask") || strings.Contains(c, "set-output") {
					t.Errorf("an injected command is live in the log: %q", c)
				}
			}
		})
	}
}

func jsonString(t *testing.T, s string) string {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
