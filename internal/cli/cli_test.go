package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/report"
)

func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Run(context.Background(), args, Streams{Out: &out, Err: &errb})
	return code, out.String(), errb.String()
}

const hex64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// TestR05_BadInputExitsTwoWithoutNetwork: a bad reference or digest is
// refused at parse time. The config names a registry on a port nothing
// listens on and an allowlist that excludes it, so any network attempt would
// surface as a different error.
func TestR05_BadInputExitsTwoWithoutNetwork(t *testing.T) {
	t.Parallel()
	ws := t.TempDir()
	cfg := "version: 1\nimages:\n  - {name: a, image: 127.0.0.1:1/a:latest, rebuild: {rebase: {}}}\n"
	if err := os.WriteFile(filepath.Join(ws, "cascade.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := [][]string{
		{"--image", "127.0.0.1:1/a@sha256:::" + hex64[:61]},
		{"--image", "127.0.0.1:1/a@sha256:" + hex64[:63]},
		{"--image", "127.0.0.1:1/a@sha256:" + strings.ToUpper(hex64)},
		{"--image", "127.0.0.1:1/a@md5:d41d8cd98f00b204e9800998ecf8427e"},
		{"--image", "127.0.0.1:1/a:sha256:" + hex64},
		{"--image", "127.0.0.1:1/a:latest", "--digest", "sha256:" + hex64[:10]},
		{"--image", "127.0.0.1:1/a:latest@sha256:" + hex64, "--digest", "sha256:" + strings.Repeat("f", 64)},
		{"--image", ""},
		{"--image", "127.0.0.1:1/a", "-o", "yaml"},
	}
	for _, args := range tests {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			code, out, errs := run(t, append([]string{"plan", "--workspace", ws}, args...)...)
			if code != exitcode.Invalid {
				t.Errorf("exit %d, want 2\nstderr: %s", code, errs)
			}
			if out != "" {
				t.Errorf("stdout should be empty, got %q", out)
			}
			if strings.Contains(errs, "connect") || strings.Contains(errs, "dial") {
				t.Errorf("a network call was attempted: %s", errs)
			}
		})
	}
}

func TestConfigErrorsExitTwo(t *testing.T) {
	t.Parallel()
	ws := t.TempDir()
	cfg := "version: 1\nimages:\n  - {name: a, image: 'r.io/a:latest', rebuild: {tekton: {namespace: ci}}}\n  - {name: a, image: 'r.io/b@sha256:" + hex64 + "'}\n"
	if err := os.WriteFile(filepath.Join(ws, "cascade.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errs := run(t, "plan", "--workspace", ws, "--image", "r.io/a:latest")
	if code != exitcode.Invalid {
		t.Fatalf("exit %d, want 2: %s", code, errs)
	}
	for _, want := range []string{"images[0].rebuild.tekton", "images[1].name", "images[1].image", "images[1].rebuild"} {
		if !strings.Contains(errs, want) {
			t.Errorf("error lacks %q:\n%s", want, errs)
		}
	}
	code, _, errs = run(t, "plan", "--workspace", t.TempDir(), "--image", "r.io/a:latest")
	if code != exitcode.Invalid || !strings.Contains(errs, "cascade.yaml") {
		t.Errorf("missing config: exit %d, %s; want 2 naming cascade.yaml", code, errs)
	}
}

func TestEnvFallback(t *testing.T) {
	// Not parallel: it sets the environment.
	t.Setenv("CASCADE_IMAGE", "bad@md5:x")
	code, _, errs := run(t, "plan", "--workspace", t.TempDir())
	if code != exitcode.Invalid || !strings.Contains(errs, "--image") {
		t.Errorf("CASCADE_IMAGE not used: exit %d, %s", code, errs)
	}
	t.Setenv("CASCADE_OUTPUT", "xml")
	t.Setenv("CASCADE_IMAGE", "r.io/a:latest")
	code, _, errs = run(t, "plan", "--workspace", t.TempDir())
	if code != exitcode.Invalid || !strings.Contains(errs, "--output xml (from CASCADE_OUTPUT): want one of text, json, markdown") {
		t.Errorf("CASCADE_OUTPUT not used: exit %d, %s", code, errs)
	}
	// A flag beats its environment variable.
	code, _, errs = run(t, "plan", "--workspace", t.TempDir(), "-o", "json", "--image", "bad@md5:x")
	if code != exitcode.Invalid || !strings.Contains(errs, "--image") {
		t.Errorf("flag should win: exit %d, %s", code, errs)
	}
}

func TestPlanHelpTeaches(t *testing.T) {
	t.Parallel()
	code, out, _ := run(t, "plan", "--help")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"GitHub Actions", "Tekton", "--digest", "IMAGE_DIGEST", "-o json", "Exit codes"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan --help lacks %q", want)
		}
	}
}

func TestUsageErrorsExitTwo(t *testing.T) {
	t.Parallel()
	if code, _, _ := run(t, "plan", "--no-such-flag"); code != exitcode.Invalid {
		t.Errorf("unknown flag: exit %d, want 2", code)
	}
	if code, _, _ := run(t, "frobnicate"); code != exitcode.Invalid {
		t.Errorf("unknown command: exit %d, want 2", code)
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	code, out, _ := run(t, "version")
	if code != 0 || !strings.HasPrefix(out, "cascade ") {
		t.Errorf("version: exit %d, %q", code, out)
	}
}

func TestGraphFormats(t *testing.T) {
	t.Parallel()
	ws := t.TempDir()
	cfg := `version: 1
images:
  - {name: httpd-base, image: r.io/acme/httpd-base:latest, dockerfile: base/Dockerfile, rebuild: {rebase: {}}}
  - {name: app-a, image: r.io/acme/app-a:latest, from: [r.io/acme/httpd-base], rebuild: {rebase: {}}}
`
	os.MkdirAll(filepath.Join(ws, "base"), 0o755)
	os.WriteFile(filepath.Join(ws, "base", "Dockerfile"), []byte("FROM quay.io/centos/centos:7 AS build\nFROM build\n"), 0o644)
	os.WriteFile(filepath.Join(ws, "cascade.yaml"), []byte(cfg), 0o644)

	code, out, errs := run(t, "graph", "--workspace", ws, "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var g report.GraphJSON
	if err := json.Unmarshal([]byte(out), &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Nodes) != 3 || len(g.Edges) != 2 {
		t.Errorf("graph = %+v, want 3 nodes (one external) and 2 edges", g)
	}
	if g.Edges[0].Source != "base/Dockerfile:1" {
		t.Errorf("edge source = %q, want base/Dockerfile:1", g.Edges[0].Source)
	}
	code, out, _ = run(t, "graph", "--workspace", ws)
	if code != 0 || !strings.HasPrefix(out, "flowchart LR") || !strings.Contains(out, ":::external") {
		t.Errorf("mermaid: exit %d\n%s", code, out)
	}
	code, out, _ = run(t, "graph", "--workspace", ws, "-o", "dot")
	if code != 0 || !strings.HasPrefix(out, "digraph cascade {") || !strings.Contains(out, `"httpd-base" -> "app-a";`) {
		t.Errorf("dot: exit %d\n%s", code, out)
	}
}

func TestR08_GraphCycleExitsFive(t *testing.T) {
	t.Parallel()
	ws := t.TempDir()
	cfg := `version: 1
images:
  - {name: a, image: r.io/a:latest, from: [r.io/b], rebuild: {rebase: {}}}
  - {name: b, image: r.io/b:latest, from: [r.io/a:latest], rebuild: {rebase: {}}}
`
	os.WriteFile(filepath.Join(ws, "cascade.yaml"), []byte(cfg), 0o644)
	code, _, errs := run(t, "graph", "--workspace", ws)
	if code != exitcode.Refused || !strings.Contains(errs, "a -> b -> a") {
		t.Errorf("exit %d, %s; want 5 naming the cycle", code, errs)
	}
	code, _, errs = run(t, "plan", "--workspace", ws, "--image", "r.io/a:latest")
	if code != exitcode.Refused {
		t.Errorf("plan on a cycle: exit %d, %s; want 5", code, errs)
	}
}

func TestDemo(t *testing.T) {
	t.Parallel()
	code, out, errs := run(t, "demo")
	if code != 0 {
		t.Fatalf("demo exit %d: %s", code, errs)
	}
	for _, want := range []string{"Everything is up to date.", "app-a", "stale", "annotation", "layers", "2 stale, 0 current", "dispatched", "+          image: demo.cascade.local/acme/app-a:latest@sha256:"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
}

func TestRegistryRetryBudgetFlag(t *testing.T) {
	t.Parallel()
	ws := t.TempDir()
	os.WriteFile(filepath.Join(ws, "cascade.yaml"), []byte("version: 1\nimages:\n  - {name: a, image: r.io/a:latest, rebuild: {rebase: {}}}\n"), 0o644)
	code, _, errs := run(t, "plan", "--workspace", ws, "--image", "r.io/a:latest", "--registry-retry-budget", "-1s")
	if code != exitcode.Invalid || !strings.Contains(errs, "budget") {
		t.Errorf("negative budget: exit %d, %s; want 2", code, errs)
	}
}

// TestLogLevelValidated: an unknown --log-level (or CASCADE_LOG_LEVEL) is
// invalid input, not silently "warn".
func TestLogLevelValidated(t *testing.T) {
	t.Parallel()
	code, _, errs := run(t, "version", "--log-level", "verbose")
	if code != 2 || !strings.Contains(errs, "--log-level verbose: want one of debug, info, warn, error") {
		t.Errorf("exit %d: %s", code, errs)
	}
	if code, _, errs := run(t, "version", "--log-level", "INFO"); code != 0 {
		t.Errorf("INFO: exit %d: %s", code, errs)
	}
}

// TestHistoryLimitValidated: --limit below 1 (or absurdly large) is
// invalid input, not silently the default.
func TestHistoryLimitValidated(t *testing.T) {
	t.Parallel()
	for _, l := range []string{"-1", "0", "1000000"} {
		code, _, errs := run(t, "history", "--image", "127.0.0.1:1/a:latest", "--limit", l)
		if code != 2 || !strings.Contains(errs, "--limit") {
			t.Errorf("--limit %s: exit %d: %s", l, code, errs)
		}
	}
}

// TestNegativeDurationsRefused: every duration flag, and its CASCADE_
// variable, refuses a negative value the same way.
func TestNegativeDurationsRefused(t *testing.T) {
	for _, args := range [][]string{
		{"version", "--registry-retry-budget", "-5s"},
		{"version", "--timeout", "-1m"},
		{"run", "--image", "127.0.0.1:1/a:latest", "--claim-settle", "-2s"},
	} {
		code, _, errs := run(t, args...)
		if code != 2 || !strings.Contains(errs, "must not be negative") {
			t.Errorf("%v: exit %d: %s", args, code, errs)
		}
	}
	t.Setenv("CASCADE_REGISTRY_RETRY_BUDGET", "-1s")
	if code, _, errs := run(t, "version"); code != 2 || !strings.Contains(errs, "--registry-retry-budget -1s (from CASCADE_REGISTRY_RETRY_BUDGET): must not be negative") {
		t.Errorf("variable: exit %d: %s", code, errs)
	}
}
