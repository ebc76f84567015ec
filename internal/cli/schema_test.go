package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/report/reporttest"
)

// validate checks out, the JSON output of one command, against schema and
// returns it decoded for the scenario's own checks.
func validate(t *testing.T, schema, out string) any {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(strings.NewReader(out))
	if err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if err := reporttest.CompileSchema(t, schema).Validate(inst); err != nil {
		t.Fatalf("output does not match docs/schemas/%s.schema.json: %v\n%s", schema, err, out)
	}
	return inst
}

// dispatchStatuses collects the status of every dispatch outcome under v.
func dispatchStatuses(v any) map[string]bool {
	got := map[string]bool{}
	var walk func(any, string)
	walk = func(v any, key string) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				walk(e, k)
			}
		case []any:
			for _, e := range v {
				if o, ok := e.(map[string]any); ok && key == "dispatches" {
					if s, ok := o["status"].(string); ok {
						got[s] = true
					}
				}
				walk(e, key)
			}
		}
	}
	walk(v, "")
	return got
}

// limitDepth refuses the fixture's cascade: child is at depth 2.
func limitDepth(t *testing.T, f *runFixture) {
	t.Helper()
	cfg := filepath.Join(f.ws, "cascade.yaml")
	data, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, cfg, string(data)+"limits: {maxDepth: 1}\n")
}

// TestJSONOutputsMatchTheirSchemas runs each command that has -o json in
// process, against an in-process registry, GitHub fake and webhook server,
// and validates what it prints against its schema under docs/schemas.
// Not parallel: the tokens and the webhook secret come from the environment.
func TestJSONOutputsMatchTheirSchemas(t *testing.T) {
	tests := []struct {
		name   string
		schema string
		// args runs the command on a fresh fixture (setup may change it
		// first) and returns its arguments.
		args func(t *testing.T, f *runFixture) []string
		code int
		// check asserts the scenario produced what it is about.
		check func(t *testing.T, v any)
	}{
		{
			name: "plan", schema: "plan",
			args: func(t *testing.T, f *runFixture) []string {
				return []string{"plan", "--image", f.baseRef, "--workspace", f.ws, "-o", "json"}
			},
			check: func(t *testing.T, v any) {
				if deps := v.(map[string]any)["dependents"].([]any); len(deps) != 5 {
					t.Errorf("plan has %d dependents, want 5", len(deps))
				}
			},
		},
		{
			name: "plan with refusals", schema: "plan",
			args: func(t *testing.T, f *runFixture) []string {
				limitDepth(t, f)
				return []string{"plan", "--image", f.baseRef, "--workspace", f.ws, "-o", "json"}
			},
			code: exitcode.Refused,
			check: func(t *testing.T, v any) {
				if r := v.(map[string]any)["refusals"].([]any); len(r) == 0 {
					t.Error("plan over the blast radius has no refusals")
				}
			},
		},
		{
			name: "run refused", schema: "run",
			args: func(t *testing.T, f *runFixture) []string {
				limitDepth(t, f)
				return []string{"run", "--image", f.baseRef, "--workspace", f.ws, "--github-api-url", f.gh.URL, "-o", "json"}
			},
			code: exitcode.Refused,
			check: func(t *testing.T, v any) {
				if r := v.(map[string]any)["plan"].(map[string]any)["refusals"].([]any); len(r) == 0 {
					t.Error("a refused run lists no refusal")
				}
			},
		},
		{
			name: "run dry run", schema: "run",
			args: func(t *testing.T, f *runFixture) []string {
				return []string{"run", "--image", f.baseRef, "--workspace", f.ws, "--github-api-url", f.gh.URL, "--dry-run", "-o", "json"}
			},
			check: func(t *testing.T, v any) {
				if got := dispatchStatuses(v); !got["skipped"] || len(got) != 1 {
					t.Errorf("dry run dispatch statuses = %v, want only skipped", got)
				}
			},
		},
		{
			name: "run with a failed dispatch", schema: "run",
			args: func(t *testing.T, f *runFixture) []string {
				f.hooks.failPath = "/app-hook"
				return []string{"run", "--image", f.baseRef, "--workspace", f.ws, "--github-api-url", f.gh.URL, "-o", "json"}
			},
			code: exitcode.Partial,
			check: func(t *testing.T, v any) {
				if got := dispatchStatuses(v); !got["failed"] || !got["dispatched"] {
					t.Errorf("dispatch statuses = %v, want failed and dispatched", got)
				}
			},
		},
		{
			name: "run again", schema: "run",
			args: func(t *testing.T, f *runFixture) []string {
				args := []string{"run", "--image", f.baseRef, "--workspace", f.ws, "--github-api-url", f.gh.URL, "-o", "json"}
				if code, _, errs := run(t, args...); code != 0 {
					t.Fatalf("first run: exit %d: %s", code, errs)
				}
				return args
			},
			check: func(t *testing.T, v any) {
				if got := dispatchStatuses(v); !got["already-dispatched"] {
					t.Errorf("re-run dispatch statuses = %v, want already-dispatched", got)
				}
			},
		},
		{
			name: "history after a run", schema: "history",
			args: func(t *testing.T, f *runFixture) []string {
				if code, _, errs := run(t, "run", "--image", f.baseRef, "--workspace", f.ws, "--github-api-url", f.gh.URL, "-o", "json"); code != 0 {
					t.Fatalf("run: exit %d: %s", code, errs)
				}
				return []string{"history", "--image", f.baseRef, "--workspace", f.ws, "-o", "json"}
			},
			check: func(t *testing.T, v any) {
				if gens := v.([]any); len(gens) == 0 {
					t.Error("history after a run is empty")
				}
			},
		},
		{
			name: "history of an image without one", schema: "history",
			args: func(t *testing.T, f *runFixture) []string {
				return []string{"history", "--image", f.baseRef, "--workspace", f.ws, "-o", "json"}
			},
			check: func(t *testing.T, v any) {
				if gens := v.([]any); len(gens) != 0 {
					t.Errorf("history before any run = %v, want []", gens)
				}
			},
		},
		{
			name: "update with a skipped reference", schema: "update",
			args: func(t *testing.T, f *runFixture) []string {
				writeFile(t, filepath.Join(f.ws, "deploy", "app.yaml"), deployment)
				return []string{"update", "--workspace", f.ws, "--image", "registry.example.com/acme/app-a:latest@sha256:" + hex64, "-o", "json"}
			},
			check: func(t *testing.T, v any) {
				skipped := 0
				for _, f := range v.(map[string]any)["files"].([]any) {
					if s, ok := f.(map[string]any)["skipped"].([]any); ok {
						skipped += len(s)
					}
				}
				if skipped == 0 {
					t.Error("update reports no skipped reference")
				}
			},
		},
		{
			name: "update dry run", schema: "update",
			args: func(t *testing.T, f *runFixture) []string {
				return []string{"update", "--workspace", f.ws, "--image", f.baseRef + "@sha256:" + hex64, "--dry-run", "-o", "json"}
			},
			check: func(t *testing.T, v any) {
				if c := v.(map[string]any)["changed"].([]any); len(c) != 1 {
					t.Errorf("changed = %v, want deploy/base.yaml", c)
				}
				// Without a clusters: section, workloads is an empty list.
				if w, ok := v.(map[string]any)["workloads"].([]any); !ok || len(w) != 0 {
					t.Errorf("workloads = %v, want []", v.(map[string]any)["workloads"])
				}
			},
		},
		{
			name: "import", schema: "import",
			args: func(t *testing.T, f *runFixture) []string {
				// base is external to a workspace that lists only the
				// images built on it.
				cfg := strings.NewReplacer("REG", f.reg.Host, "HOOKURL", f.hooks.URL).Replace(`version: 1
images:
  - {name: app-hook, image: REG/acme/app-hook:latest, from: [REG/acme/base:latest], rebuild: {webhook: {url: "HOOKURL/app-hook", secretEnv: HOOK_SECRET}}}
  - {name: pinned, image: REG/acme/app-gh:latest, from: ["REG/acme/base@sha256:` + strings.Repeat("a", 64) + `"], rebuild: {webhook: {url: "HOOKURL/pinned", secretEnv: HOOK_SECRET}}}
`)
				ws := t.TempDir()
				writeFile(t, filepath.Join(ws, "cascade.yaml"), cfg)
				return []string{"import", "--workspace", ws, "-o", "json"}
			},
			check: func(t *testing.T, v any) {
				if b := v.(map[string]any)["bases"].([]any); len(b) == 0 {
					t.Error("import imported nothing")
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newRunFixture(t)
			t.Setenv("GITHUB_TOKEN", f.gh.Token())
			t.Setenv("HOOK_SECRET", "s3cret")
			code, out, errs := run(t, tt.args(t, f)...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d: %s\n%s", code, tt.code, errs, out)
			}
			tt.check(t, validate(t, tt.schema, out))
		})
	}
}

// TestSchemasRejectWhatTheContractForbids: the schemas are strict where the
// contract is: a dependent missing a key, an unknown status or dispatch
// status, another schemaVersion are refused.
func TestSchemasRejectWhatTheContractForbids(t *testing.T) {
	t.Parallel()
	const digest = "sha256:" + hex64
	dep := func(edit func(map[string]any)) map[string]any {
		d := map[string]any{"name": "a", "image": "r/a:1", "digest": "", "depth": 1, "base": "b", "status": "stale",
			"evidence": "annotation", "reason": "x", "builtOn": "", "rebuild": "webhook", "declaredBy": "config", "action": "dispatch", "via": "", "platforms": []any{}}
		if edit != nil {
			edit(d)
		}
		return d
	}
	plan := func(edit func(map[string]any)) map[string]any {
		p := map[string]any{"schemaVersion": 1, "image": "r/b:1", "digest": digest, "index": false, "roots": []any{"b"},
			"dependents": []any{dep(nil)}, "summary": map[string]any{"dependents": 1, "stale": 1, "current": 0, "unknown": 0, "dispatches": 1},
			"refusals": []any{}, "skippedDeclarations": []any{}, "workloads": []any{}}
		if edit != nil {
			edit(p)
		}
		return p
	}
	workload := func(edit func(map[string]any)) map[string]any {
		w := map[string]any{"cluster": "prod", "kind": "Deployment", "namespace": "apps", "name": "web", "status": "roll",
			"changes": []any{map[string]any{"field": "containers[name=web].image", "from": "r/b:1", "to": "r/b:1@" + digest}}}
		if edit != nil {
			edit(w)
		}
		return w
	}
	runDoc := func(outcome map[string]any) map[string]any {
		return map[string]any{"schemaVersion": 1, "dryRun": false, "plan": plan(nil), "dispatches": []any{outcome}}
	}
	pinning := func() map[string]any {
		return map[string]any{"schemaVersion": 1, "image": "r/b:1@" + digest, "dryRun": false, "changed": []any{}, "files": []any{}}
	}
	updateDoc := func(edit func(map[string]any)) map[string]any {
		u := pinning()
		u["workloads"] = []any{workload(func(w map[string]any) { w["status"] = "rolled" })}
		if edit != nil {
			edit(u)
		}
		return u
	}
	tests := []struct {
		name   string
		schema string
		doc    any
		valid  bool
	}{
		{"a complete plan", "plan", plan(nil), true},
		{"schemaVersion 2", "plan", plan(func(p map[string]any) { p["schemaVersion"] = 2 }), false},
		{"no refusals", "plan", plan(func(p map[string]any) { delete(p, "refusals") }), false},
		{"a dependent without via", "plan", plan(func(p map[string]any) { p["dependents"] = []any{dep(func(d map[string]any) { delete(d, "via") })} }), false},
		{"a dependent without platforms", "plan", plan(func(p map[string]any) {
			p["dependents"] = []any{dep(func(d map[string]any) { delete(d, "platforms") })}
		}), false},
		{"an unknown status", "plan", plan(func(p map[string]any) { p["dependents"] = []any{dep(func(d map[string]any) { d["status"] = "old" })} }), false},
		{"an unknown evidence", "plan", plan(func(p map[string]any) {
			p["dependents"] = []any{dep(func(d map[string]any) { d["evidence"] = "guess" })}
		}), false},
		{"an unknown action", "plan", plan(func(p map[string]any) { p["dependents"] = []any{dep(func(d map[string]any) { d["action"] = "build" })} }), false},
		{"a key the schema does not list (strict in tests)", "plan", plan(func(p map[string]any) {
			p["dependents"] = []any{dep(func(d map[string]any) { d["color"] = "red" })}
		}), false},
		{"declared by a repository", "plan", plan(func(p map[string]any) {
			p["dependents"] = []any{dep(func(d map[string]any) { d["declaredBy"] = "github:acme/app-b@0123456789ab" })}
			p["skippedDeclarations"] = []any{map[string]any{"source": "tekton:ci/x", "path": "metadata.annotations[cascade.dev/from]", "reason": "required"}}
		}), true},
		{"declared somewhere unknown", "plan", plan(func(p map[string]any) {
			p["dependents"] = []any{dep(func(d map[string]any) { d["declaredBy"] = "gitlab:acme/app-b" })}
		}), false},
		{"a dependent without declaredBy", "plan", plan(func(p map[string]any) {
			p["dependents"] = []any{dep(func(d map[string]any) { delete(d, "declaredBy") })}
		}), false},
		{"no skippedDeclarations", "plan", plan(func(p map[string]any) { delete(p, "skippedDeclarations") }), false},
		{"no workloads", "plan", plan(func(p map[string]any) { delete(p, "workloads") }), false},
		{"a short digest", "plan", plan(func(p map[string]any) { p["digest"] = "sha256:abc" }), false},
		{"a workload that rolls", "plan", plan(func(p map[string]any) { p["workloads"] = []any{workload(nil)} }), true},
		{"a workload of an unknown status", "plan", plan(func(p map[string]any) {
			p["workloads"] = []any{workload(func(w map[string]any) { w["status"] = "moved" })}
		}), false},
		{"a workload of a kind the cluster target does not roll", "plan", plan(func(p map[string]any) {
			p["workloads"] = []any{workload(func(w map[string]any) { w["kind"] = "Pod" })}
		}), false},
		{"a workload change without its target", "plan", plan(func(p map[string]any) {
			p["workloads"] = []any{workload(func(w map[string]any) {
				w["changes"] = []any{map[string]any{"field": "containers[name=web].image", "from": "r/b:1"}}
			})}
		}), false},
		{"a claimed dispatch", "run", runDoc(map[string]any{"name": "a", "kind": "webhook", "status": "claimed-by-another-run", "attempts": 0}), true},
		{"an unknown dispatch status", "run", runDoc(map[string]any{"name": "a", "kind": "webhook", "status": "sent", "attempts": 1}), false},
		{"a failure without its error", "run", runDoc(map[string]any{"name": "a", "kind": "webhook", "status": "failed", "attempts": 1}), false},
		{"a run without dispatches", "run", map[string]any{"schemaVersion": 1, "dryRun": true, "plan": plan(nil)}, false},
		{"an update that rolled a workload", "update", updateDoc(nil), true},
		{"an update without workloads", "update", updateDoc(func(u map[string]any) { delete(u, "workloads") }), false},
		{"an update's workload of an unknown status", "update", updateDoc(func(u map[string]any) {
			u["workloads"] = []any{workload(func(w map[string]any) { w["status"] = "moved" })}
		}), false},
		{"a run's manifests (no workloads: the run's are in its plan)", "run", map[string]any{"schemaVersion": 1, "dryRun": false, "plan": plan(nil),
			"dispatches": []any{}, "manifests": pinning()}, true},
		{"history that is not a list", "history", map[string]any{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, err := json.Marshal(tt.doc)
			if err != nil {
				t.Fatal(err)
			}
			inst, err := jsonschema.UnmarshalJSON(strings.NewReader(string(b)))
			if err != nil {
				t.Fatal(err)
			}
			err = reporttest.CompileSchema(t, tt.schema).Validate(inst)
			if (err == nil) != tt.valid {
				t.Errorf("valid = %v, want %v (%v)", err == nil, tt.valid, err)
			}
		})
	}
}
