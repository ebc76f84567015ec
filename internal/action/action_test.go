package action

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/imagecascade/cascade/internal/dispatch"
	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/imageref"
	"github.com/imagecascade/cascade/internal/run"
	"github.com/sethvargo/go-githubactions"
)

// harness is one action run against fakes of run.Deps (a world), with
// the runner's files (GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, the event) in a
// temp folder.
type harness struct {
	env map[string]string
	w   *world
	log bytes.Buffer
}

func newHarness(t *testing.T, inputs map[string]string) *harness {
	t.Helper()
	dir := t.TempDir()
	h := &harness{
		env: map[string]string{
			"GITHUB_OUTPUT":       filepath.Join(dir, "output"),
			"GITHUB_STEP_SUMMARY": filepath.Join(dir, "summary"),
			"GITHUB_WORKSPACE":    dir,
			"GITHUB_ACTIONS":      "true",
		},
		w: newWorld(t, runJSON),
	}
	for k, v := range inputs {
		h.env["INPUT_"+strings.ToUpper(k)] = v
	}
	return h
}

func (h *harness) event(t *testing.T, name string, payload any) {
	t.Helper()
	b, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "event.json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	h.env["GITHUB_EVENT_NAME"] = name
	h.env["GITHUB_EVENT_PATH"] = p
}

func (h *harness) options(tektonResults string) Options {
	return Options{Stdout: &h.log, Getenv: func(k string) string { return h.env[k] },
		TektonResults: tektonResults, Build: h.w.builders()}
}

func (h *harness) run(t *testing.T) int {
	t.Helper()
	return Run(context.Background(), h.options(""))
}

// outputs parses GITHUB_OUTPUT as the runner does: name<<DELIM lines.
func (h *harness) outputs(t *testing.T) map[string]string {
	t.Helper()
	data, err := os.ReadFile(h.env["GITHUB_OUTPUT"])
	if err != nil {
		t.Fatalf("reading GITHUB_OUTPUT: %v", err)
	}
	out := map[string]string{}
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		if lines[i] == "" {
			continue
		}
		name, delim, ok := strings.Cut(lines[i], "<<")
		if !ok {
			t.Fatalf("GITHUB_OUTPUT line %d: %q is not name<<DELIMITER", i+1, lines[i])
		}
		var val []string
		for i++; i < len(lines) && lines[i] != delim; i++ {
			val = append(val, lines[i])
		}
		out[name] = strings.Join(val, "\n")
	}
	return out
}

func (h *harness) summary(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(h.env["GITHUB_STEP_SUMMARY"])
	if err != nil {
		t.Fatalf("reading GITHUB_STEP_SUMMARY: %v", err)
	}
	return string(data)
}

// activeCommands returns the workflow commands the runner would act on in
// log: lines starting with "::" outside ::stop-commands:: regions.
func activeCommands(log string) []string {
	var out []string
	stop := ""
	for _, line := range strings.Split(log, "\n") {
		if stop != "" {
			if line == "::"+stop+"::" {
				stop = ""
			}
			continue
		}
		if tok, ok := strings.CutPrefix(line, "::stop-commands::"); ok {
			stop = tok
			continue
		}
		if strings.HasPrefix(line, "::") {
			out = append(out, line)
		}
	}
	return out
}

const runJSON = `{
  "schemaVersion": 1,
  "dryRun": false,
  "plan": {
    "schemaVersion": 1, "image": "registry.example.com/acme/httpd-base:latest",
    "digest": "sha256:1111111111111111111111111111111111111111111111111111111111111111",
    "index": false, "roots": ["httpd-base"],
    "dependents": [
      {"name": "app-a", "image": "registry.example.com/acme/app-a:latest", "depth": 1, "base": "httpd-base",
       "status": "stale", "evidence": "annotation", "reason": "built on sha256:0000", "rebuild": "github", "action": "dispatch"},
      {"name": "app-b", "image": "registry.example.com/acme/app-b:latest", "depth": 1, "base": "httpd-base",
       "status": "current", "evidence": "layers", "reason": "built on the new digest", "rebuild": "tekton", "action": "skip"},
      {"name": "app-c", "image": "registry.example.com/acme/app-c:latest", "depth": 2, "base": "app-a",
       "status": "stale", "evidence": "annotation", "reason": "its base app-a is rebuilt", "rebuild": "webhook", "action": "cascade", "via": "app-a"}
    ],
    "summary": {"dependents": 3, "stale": 2, "current": 1, "unknown": 0, "dispatches": 1}
  },
  "dispatches": [
    {"name": "app-a", "kind": "github", "key": "app-a-111111111111", "status": "dispatched", "detail": "repository_dispatch acme/app-a", "attempts": 1}
  ],
  "manifests": {
    "schemaVersion": 1, "image": "registry.example.com/acme/httpd-base:latest@sha256:1111111111111111111111111111111111111111111111111111111111111111",
    "dryRun": false, "changed": ["deploy/base.yaml"],
    "files": [{"path": "deploy/base.yaml", "format": "kubernetes",
      "objects": [{"kind": "Deployment", "name": "base", "changes": [{"line": 17, "column": 16, "field": "spec.template.spec.containers[0].image",
        "old": "registry.example.com/acme/httpd-base:latest", "new": "registry.example.com/acme/httpd-base:latest@sha256:1111111111111111111111111111111111111111111111111111111111111111"}]}]}],
    "writeBack": {"mode": "pull-request", "pullRequest": "https://github.example.com/acme/base/pull/7", "branch": "cascade/httpd-base-111111111111"}
  }
}`

func TestRunWritesOutputsSummaryAndAnnotations(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{
		"image": "registry.example.com/acme/httpd-base:latest", "write": "pull-request", "token": "ghs_secret123",
		"github-api-url": "https://github.example.com/api/v3/",
	})
	h.env["GITHUB_REPOSITORY"] = "acme/base"
	if code := h.run(t); code != 0 {
		t.Fatalf("exit %d; log:\n%s", code, h.log.String())
	}
	out := h.outputs(t)
	wantOut := map[string]string{
		"stale":         "2",
		"dispatched":    `[{"name":"app-a","kind":"github","status":"dispatched","key":"app-a-111111111111","detail":"repository_dispatch acme/app-a"}]`,
		"updated-files": `["deploy/base.yaml"]`,
		"pull-request":  "https://github.example.com/acme/base/pull/7",
	}
	planOut := out["plan"]
	delete(out, "plan")
	if diff := cmp.Diff(wantOut, out); diff != "" {
		t.Errorf("outputs (-want +got):\n%s", diff)
	}
	var p struct {
		Image   string `json:"image"`
		Summary struct{ Stale int }
	}
	if err := json.Unmarshal([]byte(planOut), &p); err != nil || p.Image != "registry.example.com/acme/httpd-base:latest" || p.Summary.Stale != 2 {
		t.Errorf("plan output %q: %v, %+v", planOut, err, p)
	}
	if got := h.w.sentNames(); !slices.Equal(got, []string{"app-a"}) {
		t.Errorf("dispatched %q, want app-a only", got)
	}

	// The token reaches the clients as a value: never the environment,
	// never a command line.
	o := h.w.lastOptions(t)
	if o.GitHubToken != "ghs_secret123" || o.GitHubAPIURL != "https://github.example.com/api/v3/" ||
		o.Write.Mode != "pull-request" || o.Write.Repository != "acme/base" || o.Workspace != "." || o.DryRun {
		t.Errorf("options: token %q, api %q, write %+v, workspace %q, dry run %v", o.GitHubToken, o.GitHubAPIURL, o.Write, o.Workspace, o.DryRun)
	}
	log := h.log.String()
	if !strings.HasPrefix(log, "::add-mask::ghs_secret123\n") {
		t.Errorf("the token is not masked first; log starts %q", log[:min(len(log), 80)])
	}
	if strings.Count(log, "ghs_secret123") != 1 {
		t.Errorf("the token appears in the log beyond its mask:\n%s", log)
	}

	cmds := activeCommands(log)
	wantCmds := []string{
		"::add-mask::ghs_secret123",
		"::group::cascade: inputs",
		"::endgroup::",
		"::group::cascade run",
		"::endgroup::",
		"::group::cascade: report",
		"::endgroup::",
		"::notice col=16,file=deploy/base.yaml,line=17,title=cascade pinned registry.example.com/acme/httpd-base%3Alatest@sha256%3A1111111111111111111111111111111111111111111111111111111111111111::Deployment/base spec.template.spec.containers[0].image: registry.example.com/acme/httpd-base:latest → registry.example.com/acme/httpd-base:latest@sha256:1111111111111111111111111111111111111111111111111111111111111111",
	}
	if diff := cmp.Diff(wantCmds, cmds); diff != "" {
		t.Errorf("workflow commands (-want +got):\n%s\nlog:\n%s", diff, log)
	}

	sum := h.summary(t)
	for _, want := range []string{
		"## cascade run — `registry.example.com/acme/httpd-base:latest`",
		"```mermaid\nflowchart LR\n",
		`subgraph tier1["tier 1"]`,
		`n1["app-a<br/>stale · dispatched"]:::stale`,
		`n2["app-b<br/>current · skip"]:::current`,
		`subgraph tier2["tier 2"]`,
		`n3["app-c<br/>stale · cascade"]:::stale`,
		"n1 -->|cascade| n3",
		"| 1 | `app-a` | 🔄 stale | annotation | dispatch | github | 🚀 dispatched |",
		"### Dispatches",
		"| `deploy/base.yaml` | 17 | Deployment/base |",
		"pull request https://github.example.com/acme/base/pull/7",
	} {
		if !strings.Contains(sum, want) {
			t.Errorf("summary lacks %q:\n%s", want, sum)
		}
	}
}

// TestNoTokenInTheEnvironment: the action never sets an environment
// variable; the token travels in wire.Options.
func TestNoTokenInTheEnvironment(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "Setenv") {
			t.Errorf("%s sets the environment", f)
		}
	}
}

func TestRunInputsToRequest(t *testing.T) {
	t.Parallel()
	img := func(s string) imageref.Ref {
		r, err := imageref.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	withDigest := func(r imageref.Ref, c byte) imageref.Ref {
		r.Digest = imageref.Digest("sha256:" + strings.Repeat(string(c), 64))
		return r
	}
	type opts struct {
		Workspace, Config, Write, API string
		DryRun, Push                  bool
	}
	tests := []struct {
		name     string
		inputs   map[string]string
		event    string
		payload  any
		wantReq  run.Request
		wantOpts opts
		wantWarn []string
	}{{
		name:     "run defaults",
		inputs:   map[string]string{"image": "ghcr.io/acme/base:1"},
		wantReq:  run.Request{Image: img("ghcr.io/acme/base:1")},
		wantOpts: opts{Workspace: ".", Write: "none"},
	}, {
		name: "run with every input",
		inputs: map[string]string{"image": "ghcr.io/acme/base:1", "digest": "sha256:" + strings.Repeat("a", 64), "config": "ci/cascade.yaml",
			"workspace": "sub", "dry-run": "true", "write": "commit", "push": "TRUE", "max-dispatches": "7", "dispatch-unknown": "True"},
		wantReq:  run.Request{Image: withDigest(img("ghcr.io/acme/base:1"), 'a'), DryRun: true, DispatchUnknown: true, MaxDispatches: 7},
		wantOpts: opts{Workspace: "sub", Config: "ci/cascade.yaml", Write: "commit", DryRun: true, Push: true},
	}, {
		name:     "plan ignores write-back inputs, with a warning",
		inputs:   map[string]string{"command": "plan", "image": "ghcr.io/acme/base:1", "write": "commit", "dry-run": "true", "github-api-url": "https://api.github.com"},
		wantReq:  run.Request{Image: img("ghcr.io/acme/base:1")},
		wantOpts: opts{Workspace: ".", Write: "none", DryRun: true, API: "https://api.github.com"},
		wantWarn: []string{"::warning::input dry-run is ignored by command plan", "::warning::input write is ignored by command plan"},
	}, {
		name:     "update",
		inputs:   map[string]string{"command": "update", "image": "ghcr.io/acme/app:1@sha256:" + strings.Repeat("b", 64), "max-dispatches": "3"},
		wantReq:  run.Request{Image: img("ghcr.io/acme/app:1@sha256:" + strings.Repeat("b", 64))},
		wantOpts: opts{Workspace: ".", Write: "none"},
		wantWarn: []string{"::warning::input max-dispatches is ignored by command update"},
	}, {
		name:   "repository_dispatch payload when image is empty",
		inputs: map[string]string{},
		event:  "repository_dispatch",
		payload: map[string]any{"action": "base-image-updated", "client_payload": map[string]any{
			"image": "ghcr.io/acme/base:1", "digest": "sha256:" + strings.Repeat("c", 64), "dependent": "app",
			"cascade": map[string]any{"id": "k", "depth": 1, "chain": []string{"base"}, "origin": "ghcr.io/acme/base@sha256:" + strings.Repeat("c", 64)},
		}},
		wantReq: run.Request{Image: withDigest(img("ghcr.io/acme/base:1"), 'c'),
			Incoming: dispatch.Cascade{ID: "k", Depth: 1, Chain: []string{"base"}, Origin: "ghcr.io/acme/base@sha256:" + strings.Repeat("c", 64)}},
		wantOpts: opts{Workspace: ".", Write: "none"},
	}, {
		name:   "the image input wins over the payload, the chain travels on",
		inputs: map[string]string{"image": "ghcr.io/acme/app:latest"},
		event:  "repository_dispatch",
		payload: map[string]any{"client_payload": map[string]any{
			"image": "ghcr.io/acme/base:1", "cascade": map[string]any{"id": "k", "depth": 1, "chain": []string{"base"}},
		}},
		wantReq:  run.Request{Image: img("ghcr.io/acme/app:latest"), Incoming: dispatch.Cascade{ID: "k", Depth: 1, Chain: []string{"base"}}},
		wantOpts: opts{Workspace: ".", Write: "none"},
	}, {
		name:   "workflow_dispatch inputs",
		inputs: map[string]string{"command": "update"},
		event:  "workflow_dispatch",
		payload: map[string]any{"inputs": map[string]any{
			"image": "ghcr.io/acme/base:1", "digest": "sha256:" + strings.Repeat("d", 64), "cascade-context": `{"id":"k","depth":2,"chain":["a","b"]}`,
		}},
		wantReq:  run.Request{Image: withDigest(img("ghcr.io/acme/base:1"), 'd')},
		wantOpts: opts{Workspace: ".", Write: "none"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, tt.inputs)
			if tt.event != "" {
				h.event(t, tt.event, tt.payload)
			}
			// The request the inputs and the event make.
			s := &session{a: githubactions.New(githubactions.WithGetenv(func(k string) string { return h.env[k] })), o: h.options("")}
			_, req, err := s.inputs()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantReq, req); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
			// A whole run: the options the clients are built from, the
			// image planned, the warnings.
			if code := h.run(t); code != 0 {
				t.Fatalf("exit %d; log:\n%s", code, h.log.String())
			}
			o := h.w.lastOptions(t)
			got := opts{Workspace: o.Workspace, Config: o.ConfigPath, Write: o.Write.Mode, API: o.GitHubAPIURL, DryRun: o.DryRun, Push: o.Write.Push}
			if diff := cmp.Diff(tt.wantOpts, got); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
			var warns []string
			for _, c := range activeCommands(h.log.String()) {
				if strings.HasPrefix(c, "::warning") {
					warns = append(warns, c)
				}
			}
			if diff := cmp.Diff(tt.wantWarn, warns); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRunInvalidInputs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		inputs  map[string]string
		wantErr string
	}{
		{"unknown command", map[string]string{"image": "a", "command": "deploy"}, `input command: "deploy": want run, plan or update`},
		{"bad boolean", map[string]string{"image": "a", "dry-run": "yes"}, `input dry-run: "yes": want true or false`},
		{"bad number", map[string]string{"image": "a", "max-dispatches": "-1"}, `input max-dispatches: "-1": want a whole number ≥ 0`},
		{"no image anywhere", map[string]string{}, "the image input is empty"},
		{"a value that looks like a flag", map[string]string{"image": "--help"}, "input image"},
		{"two digests", map[string]string{"image": "ghcr.io/a/b:1@sha256:" + strings.Repeat("a", 64), "digest": "sha256:" + strings.Repeat("b", 64)}, "input image has digest"},
		{"update without a tag", map[string]string{"command": "update", "image": "ghcr.io/a/b@sha256:" + strings.Repeat("a", 64)}, "a tag is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, tt.inputs)
			if code := h.run(t); code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if len(h.w.opts) != 0 {
				t.Errorf("clients were built: %+v", h.w.opts)
			}
			log := h.log.String()
			if !strings.Contains(log, "::error::") || !strings.Contains(log, tt.wantErr) {
				t.Errorf("no error annotation with %q:\n%s", tt.wantErr, log)
			}
		})
	}
}

// TestRunPassesTheExitCodeAndTheError: the run's exit code is the
// action's, and its error an annotation.
func TestRunPassesTheExitCodeAndTheError(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		code     int
		buildErr error
	}{
		{1, errors.New("a bug")},
		{2, exitcode.AsInvalid(errors.New("images rebuilt through GitHub need a token"))},
		{3, nil}, // app-a's dispatch fails: the manifests are pinned
		{4, exitcode.AsTransient(errors.New("registry unavailable"))},
		{5, exitcode.AsRefused(errors.New("host not allowed"))},
	} {
		t.Run(fmt.Sprint(tt.code), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, map[string]string{"image": "registry.example.com/acme/httpd-base:latest"})
			h.w.buildErr = tt.buildErr
			h.w.fail["app-a"] = errors.New("403 Forbidden")
			if got := h.run(t); got != tt.code {
				t.Errorf("exit %d, want %d; log:\n%s", got, tt.code, h.log.String())
			}
			cmds := strings.Join(activeCommands(h.log.String()), "\n")
			if tt.buildErr != nil {
				if !strings.Contains(cmds, "::error::cascade: "+tt.buildErr.Error()) {
					t.Errorf("no error annotation for the run's error:\n%s", cmds)
				}
				return
			}
			if !strings.Contains(cmds, "::error::cascade: ") {
				t.Errorf("no error annotation for the run's error:\n%s", cmds)
			}
			if !strings.Contains(cmds, "::error title=cascade%3A rebuild of app-a not started::github: 403 Forbidden") {
				t.Errorf("no error annotation for the failed dispatch:\n%s", cmds)
			}
		})
	}
}

// R26: values are data. A tag, a payload or a report value that holds
// workflow commands, $(...) or newlines never becomes a command, an extra
// output or a mask.
func TestRunKeepsHostileValuesInert(t *testing.T) {
	t.Parallel()
	evil := "ghcr.io/acme/base:1\n::set-output name=stale::999\n::add-mask::x$(id)`id`"
	checkInert := func(t *testing.T, h *harness) {
		for _, c := range activeCommands(h.log.String()) {
			name, _, _ := strings.Cut(strings.TrimPrefix(c, "::"), "::")
			name, _, _ = strings.Cut(name, " ")
			switch name {
			case "group", "endgroup", "notice", "error", "warning":
			default:
				t.Errorf("unexpected workflow command %q in log:\n%s", c, h.log.String())
			}
			// Inside a message, a command is inert once its newline is
			// escaped (%0A) or quoted (\n).
			if strings.Contains(c, "::set-output") && !strings.Contains(c, "%0A::set-output") && !strings.Contains(c, `\n::set-output`) {
				t.Errorf("an injected command is live: %q", c)
			}
		}
	}
	t.Run("image", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, map[string]string{})
		h.event(t, "repository_dispatch", map[string]any{"client_payload": map[string]any{"image": evil}})
		if got := h.run(t); got != 2 {
			t.Fatalf("exit %d, want 2", got)
		}
		checkInert(t, h)
	})
	t.Run("report", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, map[string]string{})
		h.event(t, "repository_dispatch", map[string]any{"client_payload": map[string]any{
			"image":   "registry.example.com/acme/httpd-base:latest",
			"cascade": map[string]any{"id": "::error::pwned", "depth": 1, "chain": []string{"%0A::warning::x"}},
		}})
		h.w = newWorld(t, strings.NewReplacer(`"deploy/base.yaml"`, `"deploy/evil\n::set-output name=x::y.yaml"`,
			`"name": "base"`, `"name": "base,file=x::y"`,
			`"repository_dispatch acme/app-a"`, `"`+strings.ReplaceAll(evil, "\n", `\n`)+`"`).Replace(runJSON))
		h.w.fail["app-a"] = errors.New(evil)
		if got := h.run(t); got != 3 {
			t.Fatalf("exit %d, want 3; log:\n%s", got, h.log.String())
		}
		if got := h.w.lastOptions(t); got.Workspace != "." {
			t.Errorf("workspace %q", got.Workspace)
		}
		checkInert(t, h)
		out := h.outputs(t)
		if len(out) != 5 || out["stale"] != "2" || out["pull-request"] != "https://github.example.com/acme/base/pull/7" {
			t.Errorf("outputs were tampered with: %q", out)
		}
		if out["updated-files"] != `["deploy/evil\n::set-output name=x::y.yaml"]` {
			t.Errorf("updated-files = %q: want the JSON-escaped name on one line", out["updated-files"])
		}
	})
}

func TestRunWithoutRunnerFiles(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{"image": "registry.example.com/acme/httpd-base:latest"})
	delete(h.env, "GITHUB_OUTPUT")
	delete(h.env, "GITHUB_STEP_SUMMARY")
	if code := h.run(t); code != 0 {
		t.Fatalf("exit %d; log:\n%s", code, h.log.String())
	}
	if !strings.Contains(h.log.String(), "::warning::GITHUB_OUTPUT is not set") {
		t.Errorf("no warning about GITHUB_OUTPUT:\n%s", h.log.String())
	}

	h = newHarness(t, map[string]string{"image": "registry.example.com/acme/httpd-base:latest"})
	h.env["GITHUB_OUTPUT"] = filepath.Join(t.TempDir(), "missing", "dir", "output")
	if code := h.run(t); code != 1 {
		t.Errorf("an unwritable GITHUB_OUTPUT: exit %d, want 1", code)
	}
}

func TestRepoPath(t *testing.T) {
	t.Parallel()
	tests := []struct{ root, workspace, file, want string }{
		{"/w", "", "deploy/a.yaml", "deploy/a.yaml"},
		{"/w", "sub", "deploy/a.yaml", "sub/deploy/a.yaml"},
		{"/w", "/w/sub", "a.yaml", "sub/a.yaml"},
		{"/w", "/elsewhere", "a.yaml", "/elsewhere/a.yaml"},
		{"", "sub", "a.yaml", "sub/a.yaml"},
	}
	for _, tt := range tests {
		g := &githubHost{getenv: func(k string) string {
			if k == "GITHUB_WORKSPACE" {
				return tt.root
			}
			return ""
		}}
		if got := g.repoPath(tt.workspace, tt.file); got != tt.want {
			t.Errorf("repoPath(%q, %q) with GITHUB_WORKSPACE=%q = %q, want %q", tt.workspace, tt.file, tt.root, got, tt.want)
		}
	}
}

func TestRunTektonResults(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{"image": "registry.example.com/acme/httpd-base:latest"})
	h.env["CASCADE_GITHUB_TOKEN"] = "ghs_tok_from_the_secret"
	delete(h.env, "GITHUB_OUTPUT")
	delete(h.env, "GITHUB_STEP_SUMMARY")
	// app-z's rebuild was started by an earlier run (its PipelineRun
	// exists): not started by this one, so not in DISPATCHED.
	h.w = newWorld(t, strings.Replace(strings.Replace(runJSON, `"dependents": [`, `"dependents": [
      {"name": "app-z", "image": "registry.example.com/acme/app-z:latest", "depth": 1, "base": "httpd-base",
       "status": "stale", "evidence": "annotation", "reason": "built on sha256:0000", "rebuild": "tekton", "action": "dispatch"},`, 1),
		`"dispatches": [`, `"dispatches": [
    {"name": "app-z", "kind": "tekton", "key": "app-z-111111111111", "status": "already-dispatched", "detail": "PipelineRun exists", "attempts": 1},`, 1))
	dir := t.TempDir()
	code := Run(context.Background(), h.options(dir))
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, h.log.String())
	}
	got := map[string]string{}
	for _, name := range []string{"STALE", "DISPATCHED", "UPDATED_FILES"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		got[name] = string(b)
	}
	want := map[string]string{"STALE": "3", "DISPATCHED": `["app-a"]`, "UPDATED_FILES": `["deploy/base.yaml"]`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	if cmds := activeCommands(h.log.String()); len(cmds) != 0 {
		t.Errorf("workflow commands in a Tekton log: %q", cmds)
	}
	// The Task's token (its secret, in the environment) is the clients'.
	if o := h.w.lastOptions(t); o.GitHubToken != "ghs_tok_from_the_secret" {
		t.Errorf("token %q", o.GitHubToken)
	}
	if strings.Contains(h.log.String(), "ghs_tok_from_the_secret") {
		t.Errorf("the token is in the log:\n%s", h.log.String())
	}
}

func TestBoundedJSONArray(t *testing.T) {
	t.Parallel()
	var many []string
	for i := range 500 {
		many = append(many, fmt.Sprintf("deploy/service-%03d/deployment.yaml", i))
	}
	got := boundedJSONArray(many, MaxTektonResult)
	var back []string
	if err := json.Unmarshal([]byte(got), &back); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if len(got) > MaxTektonResult || len(back) == 0 || back[0] != many[0] {
		t.Errorf("%d bytes, %d items", len(got), len(back))
	}
	if next, _ := json.Marshal(many[:len(back)+1]); len(next) <= MaxTektonResult {
		t.Errorf("cut too early: %d items fit", len(back)+1)
	}
}
