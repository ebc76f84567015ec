package writeback_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// gitEnv makes test git commands independent of the machine's configuration.
var gitEnv = []string{
	"GIT_AUTHOR_NAME=tester", "GIT_AUTHOR_EMAIL=tester@example.com",
	"GIT_COMMITTER_NAME=tester", "GIT_COMMITTER_EMAIL=tester@example.com",
	"GIT_CONFIG_NOSYSTEM=1", "LC_ALL=C",
}

// gitT runs git in dir and returns trimmed stdout; it fails the test on error.
func gitT(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
	cmd.Env = append(os.Environ(), gitEnv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("git %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(stdout.String())
}

func requireGit(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("git is required in CI: %v", err)
		}
		t.Skipf("git not installed: %v", err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fixture is a bare remote with one commit on main and helpers to clone it.
type fixture struct {
	root   string
	remote string
}

const manifest = `apiVersion: apps/v1
kind: Deployment
spec:
  template:
    spec:
      containers:
        - name: app
          image: registry.example.com/app:1
        - name: sidecar
          image: registry.example.com/sidecar:2
`

// newFixture makes a bare repository whose main holds deploy/app.yaml.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	requireGit(t)
	root := t.TempDir()
	f := &fixture{root: root, remote: filepath.Join(root, "remote.git")}
	gitT(t, root, "init", "--quiet", "--bare", "--initial-branch=main", f.remote)
	seed := f.clone(t, "seed")
	writeFile(t, filepath.Join(seed, "deploy/app.yaml"), manifest)
	gitT(t, seed, "add", ".")
	gitT(t, seed, "commit", "--quiet", "-m", "seed")
	gitT(t, seed, "push", "--quiet", "origin", "HEAD:refs/heads/main")
	return f
}

func (f *fixture) clone(t *testing.T, name string) string {
	t.Helper()
	dir := filepath.Join(f.root, name)
	gitT(t, f.root, "clone", "--quiet", f.remote, dir)
	return dir
}

// hook installs a server-side update hook.
func (f *fixture) hook(t *testing.T, script string) {
	t.Helper()
	p := filepath.Join(f.remote, "hooks", "update")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
}

// remoteFile returns path's content on the remote's main.
func (f *fixture) remoteFile(t *testing.T, path string) string {
	t.Helper()
	return gitT(t, f.remote, "show", "main:"+path)
}
