package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/imagecascade/cascade/internal/registry"
	"github.com/imagecascade/cascade/internal/testenv"
)

// clock logs each step of a scenario with the time since the test started
// and what the previous step took: the suite's timing report.
type clock struct {
	t           testing.TB
	start, last time.Time
	n           int
	label       string
	title       string
}

func newClock(t testing.TB) *clock {
	now := time.Now()
	return &clock{t: t, start: now, last: now}
}

// step closes the previous step (logging its duration) and opens the next,
// labelled as the scenario numbers it ("1", "5a", ...).
func (c *clock) step(label, format string, args ...any) {
	c.t.Helper()
	c.close()
	c.n++
	c.label, c.title = label, fmt.Sprintf(format, args...)
	c.t.Logf("── step %s at +%.1fs: %s", c.label, time.Since(c.start).Seconds(), c.title)
}

// close logs the open step's duration.
func (c *clock) close() {
	c.t.Helper()
	now := time.Now()
	if c.n > 0 {
		c.t.Logf("   step %s took %.1fs", c.label, now.Sub(c.last).Seconds())
	}
	c.last = now
}

// done closes the last step and logs the total.
func (c *clock) done() {
	c.t.Helper()
	c.close()
	c.t.Logf("── %s: %d steps in %.1fs", c.t.Name(), c.n, time.Since(c.start).Seconds())
}

// timed logs what starting one component cost.
func timed[T any](t testing.TB, what string, start func() T) T {
	t.Helper()
	begin := time.Now()
	v := start()
	t.Logf("   component %s started in %.2fs", what, time.Since(begin).Seconds())
	return v
}

// cascadeEnv is the environment of a cascade process: the host's, minus
// anything that would steer cascade (GITHUB_*, CASCADE_*, KUBECONFIG), plus
// the marker that makes this test binary act as cascade, plus extra.
func cascadeEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "GITHUB_") || strings.HasPrefix(kv, "CASCADE_") ||
			strings.HasPrefix(kv, "KUBECONFIG=") || strings.HasPrefix(kv, execAsCascade+"=") {
			continue
		}
		env = append(env, kv)
	}
	return append(append(env, execAsCascade+"=cascade"), extra...)
}

// cascadeBinary is the path that runs cascade: this test binary, with
// [execAsCascade] set in its environment.
func cascadeBinary(t testing.TB) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("locating the test binary: %v", err)
	}
	return exe
}

// cascade runs `cascade args...` as its own process with env (see
// cascadeEnv) and returns its exit code, stdout and stderr.
func cascade(t testing.TB, ctx context.Context, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, cascadeBinary(t), args...)
	cmd.Env = cascadeEnv(env...)
	cmd.WaitDelay = 5 * time.Second
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("running cascade %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return code, out.String(), errb.String()
}

// cascadeJSON runs cascade with -o json, requires exit 0 and decodes stdout
// into v.
func cascadeJSON(t testing.TB, ctx context.Context, env []string, v any, args ...string) {
	t.Helper()
	code, out, errs := cascade(t, ctx, env, append(args, "-o", "json")...)
	if code != 0 {
		t.Fatalf("cascade %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errs)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("cascade %s: decoding JSON: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// git runs git in dir with a fixed identity and returns its trimmed output.
func git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=e2e", "GIT_AUTHOR_EMAIL=e2e@example.com",
		"GIT_COMMITTER_NAME=e2e", "GIT_COMMITTER_EMAIL=e2e@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// writeFiles writes files (path relative to dir → content) under dir.
func writeFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for rel, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// readTree reads every file under dir except .git, by slash path.
func readTree(t testing.TB, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == ".git" {
				return filepath.SkipDir
			}
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		files[filepath.ToSlash(rel)] = string(data)
		return nil
	})
	if err != nil {
		t.Fatalf("reading %s: %v", dir, err)
	}
	return files
}

// buildPush builds contextDir as tag with b, pushes it and returns the
// pushed digest.
func buildPush(t testing.TB, ctx context.Context, b *testenv.Buildah, contextDir, tag string, opts testenv.BuildOptions) string {
	t.Helper()
	if err := b.Build(ctx, contextDir, tag, opts); err != nil {
		t.Fatal(err)
	}
	d, err := b.Push(ctx, tag, "")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// manifest reads the manifest (or index) of ref from the test registry,
// over plain HTTP.
func manifest(t testing.TB, ctx context.Context, ref string) (digest string, m *v1.Manifest, idx *v1.IndexManifest) {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(r, remote.WithContext(ctx))
	if err != nil {
		t.Fatalf("reading %s: %v", ref, err)
	}
	if desc.MediaType.IsIndex() {
		idx, err = v1.ParseIndexManifest(bytes.NewReader(desc.Manifest))
	} else {
		m, err = v1.ParseManifest(bytes.NewReader(desc.Manifest))
	}
	if err != nil {
		t.Fatalf("parsing the manifest of %s: %v", ref, err)
	}
	return desc.Digest.String(), m, idx
}

// requireAct finds the act binary the way .ci/build-gh-tools installs it:
// $CASCADE_ACT, else the tools cache. Missing, it fails the test in CI and
// skips it elsewhere.
func requireAct(t testing.TB) string {
	t.Helper()
	path := os.Getenv("CASCADE_ACT")
	if path == "" {
		cache, err := testenv.ToolsCache()
		if err != nil {
			t.Fatal(err)
		}
		path = filepath.Join(cache, "act-"+actVersion, "act")
	}
	if fi, err := os.Stat(path); err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		msg := fmt.Sprintf("act %s not found at %s: run .ci/build-gh-tools, or set $CASCADE_ACT", actVersion, path)
		if testenv.InCI() {
			t.Fatalf("real component missing in CI: %s", msg)
		}
		t.Skip(msg)
	}
	return path
}

// actVersion is the nektos/act version .ci/build-gh-tools builds.
const actVersion = "v0.2.82"

// annotation is m's base digest annotation, "" when m is nil.
func annotation(m *v1.Manifest) string {
	if m == nil {
		return ""
	}
	return m.Annotations[registry.BaseDigestKey]
}
