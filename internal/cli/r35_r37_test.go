package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/testenv"
)

// TestR35_WriteCommitRefusesUncommittedEdit: --write commit never sweeps a
// person's uncommitted edit into cascade's commit. When a file cascade must
// change has one, the run exits 2 before writing anything; an uncommitted
// edit elsewhere is left alone and stays out of the commit.
func TestR35_WriteCommitRefusesUncommittedEdit(t *testing.T) {
	t.Parallel()
	testenv.Require(t, "git")
	newRef := "registry.example.com/acme/app-a:latest@sha256:" + hex64
	tests := []struct {
		name     string
		edit     map[string]string // the person's uncommitted files
		stage    bool
		wantCode int
	}{
		{name: "unstaged edit in the file to pin", edit: map[string]string{"deploy/app.yaml": deployment + "# my note\n"}, wantCode: exitcode.Invalid},
		{name: "staged edit in the file to pin", edit: map[string]string{"deploy/app.yaml": deployment + "# my note\n"}, stage: true, wantCode: exitcode.Invalid},
		{name: "untracked manifest to pin", edit: map[string]string{"deploy/new.yaml": deployment}, wantCode: exitcode.Invalid},
		{name: "edit in another file", edit: map[string]string{"deploy/other.yaml": "kind: ConfigMap\ndata: {mine: yes}\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ws := t.TempDir()
			git(t, ws, "init", "-q", "-b", "main")
			writeFile(t, filepath.Join(ws, "deploy", "app.yaml"), deployment)
			writeFile(t, filepath.Join(ws, "deploy", "other.yaml"), "kind: ConfigMap\n")
			git(t, ws, "add", ".")
			git(t, ws, "commit", "-qm", "seed")
			head := git(t, ws, "rev-parse", "HEAD")
			for p, c := range tt.edit {
				writeFile(t, filepath.Join(ws, p), c)
			}
			if tt.stage {
				git(t, ws, "add", ".")
			}
			before := snapshot(t, ws)
			status := git(t, ws, "status", "--porcelain")

			code, out, errs := run(t, "update", "--workspace", ws, "--image", newRef, "--write", "commit")
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.wantCode, out, errs)
			}
			if tt.wantCode != 0 {
				if !strings.Contains(errs, "uncommitted changes") || !strings.Contains(errs, "deploy/") {
					t.Errorf("stderr does not say which file holds uncommitted changes:\n%s", errs)
				}
				if after := snapshot(t, ws); !equalMaps(before, after) {
					t.Error("files changed although the run was refused")
				}
				if got := git(t, ws, "rev-parse", "HEAD"); got != head {
					t.Errorf("HEAD moved to %s", got)
				}
				if got := git(t, ws, "status", "--porcelain"); got != status {
					t.Errorf("git status changed:\n%s\nwant:\n%s", got, status)
				}
				return
			}
			if files := git(t, ws, "show", "--name-only", "--format=", "HEAD"); files != "deploy/app.yaml" {
				t.Errorf("cascade's commit holds %q, want deploy/app.yaml only", files)
			}
			if got := git(t, ws, "show", "HEAD:deploy/other.yaml"); got != "kind: ConfigMap" {
				t.Errorf("the person's edit went into a commit: %q", got)
			}
			for p, c := range tt.edit {
				if got, _ := os.ReadFile(filepath.Join(ws, p)); string(got) != c {
					t.Errorf("%s = %q, want the person's edit kept", p, got)
				}
			}
		})
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

// buildCascade builds the cascade binary once into dir.
func buildCascade(t *testing.T, dir string) string {
	t.Helper()
	testenv.Require(t, "go")
	bin := filepath.Join(dir, "cascade")
	cmd := exec.Command("go", "build", "-o", bin, "../../cmd/cascade")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

type procResult struct {
	code         int
	stdout, errs string
}

func runBinary(ctx context.Context, bin string, args ...string) procResult {
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		code = -1
		errb.WriteString(err.Error())
	}
	return procResult{code: code, stdout: out.String(), errs: errb.String()}
}

const (
	nginxPin = "nginx:1.27@sha256:1111111111111111111111111111111111111111111111111111111111111111"
	redisPin = "redis:7@sha256:2222222222222222222222222222222222222222222222222222222222222222"
)

func podFile(i int) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: pod-%d
spec:
  containers:
    - name: web
      image: nginx:1.27
    - name: cache
      image: redis:7
`, i)
}

// TestR37_ConcurrentUpdates: real cascade processes on one workspace of
// 300 files. Two updates at once (nginx and redis) both end pinned in every
// file: the second waits for the first's write phase and pins on its
// result. A writer appending to the manifests during an update loses none
// of its appends.
func TestR37_ConcurrentUpdates(t *testing.T) {
	t.Parallel()
	bin := buildCascade(t, t.TempDir())
	const files = 300
	newWorkspace := func(t *testing.T) string {
		ws := t.TempDir()
		for i := range files {
			writeFile(t, filepath.Join(ws, "deploy", fmt.Sprintf("d%02d", i%10), fmt.Sprintf("pod-%03d.yaml", i)), podFile(i))
		}
		return ws
	}
	t.Run("two updates at once", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		for round := range 3 {
			ws := newWorkspace(t)
			var wg sync.WaitGroup
			res := make([]procResult, 2)
			for i, ref := range []string{nginxPin, redisPin} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					res[i] = runBinary(ctx, bin, "update", "--workspace", ws, "--image", ref)
				}()
			}
			wg.Wait()
			for i, r := range res {
				if r.code != 0 {
					t.Fatalf("round %d, run %d: exit %d\nstdout: %s\nstderr: %s", round, i, r.code, r.stdout, r.errs)
				}
			}
			for p, content := range snapshot(t, ws) {
				if !strings.Contains(content, "image: "+nginxPin+"\n") || !strings.Contains(content, "image: "+redisPin+"\n") {
					t.Fatalf("round %d: %s lacks a pin:\n%s", round, p, content)
				}
			}
		}
	})

	t.Run("outside writer appends during an update", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		ws := newWorkspace(t)
		var targets []string
		for i := 0; i < files; i += 15 {
			targets = append(targets, filepath.Join(ws, "deploy", fmt.Sprintf("d%02d", i%10), fmt.Sprintf("pod-%03d.yaml", i)))
		}
		var stop atomic.Bool
		var appended atomic.Int64
		errc := make(chan error, 1)
		go func() {
			defer close(errc)
			for n := 0; !stop.Load(); n++ {
				f, err := os.OpenFile(targets[n%len(targets)], os.O_WRONLY|os.O_APPEND, 0)
				if err != nil {
					errc <- err
					return
				}
				_, err = fmt.Fprintf(f, "# append %d\n", n)
				f.Close()
				if err != nil {
					errc <- err
					return
				}
				appended.Add(1)
			}
		}()
		time.Sleep(20 * time.Millisecond)
		r := runBinary(ctx, bin, "update", "--workspace", ws, "--image", nginxPin)
		time.Sleep(20 * time.Millisecond)
		stop.Store(true)
		if err := <-errc; err != nil {
			t.Fatalf("appender: %v", err)
		}
		if r.code != 0 {
			t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.errs)
		}
		all := ""
		for _, p := range targets {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), "image: "+nginxPin+"\n") {
				t.Errorf("%s not pinned", p)
			}
			all += string(b)
		}
		lost := 0
		for n := range appended.Load() {
			if !strings.Contains(all, fmt.Sprintf("# append %d\n", n)) {
				lost++
			}
		}
		if lost > 0 || appended.Load() == 0 {
			t.Fatalf("lost %d of %d appends", lost, appended.Load())
		}
		t.Logf("%d appends, none lost", appended.Load())
	})
}

// TestR35_RunRefusesUncommittedEditBeforeDispatching: `cascade run --write
// commit` whose manifests hold a person's uncommitted edit is refused in
// phase 1 — exit 2, nothing dispatched, nothing written.
func TestR35_RunRefusesUncommittedEditBeforeDispatching(t *testing.T) {
	testenv.Require(t, "git")
	f := newRunFixture(t)
	t.Setenv("GITHUB_TOKEN", f.gh.Token())
	t.Setenv("HOOK_SECRET", "s3cret")
	git(t, f.ws, "init", "-q", "-b", "main")
	git(t, f.ws, "add", ".")
	git(t, f.ws, "commit", "-qm", "seed")
	base := filepath.Join(f.ws, "deploy", "base.yaml")
	data, err := os.ReadFile(base)
	if err != nil {
		t.Fatal(err)
	}
	edited := string(data) + "# my note\n"
	writeFile(t, base, edited)
	code, _, errs := f.run(t, "--write", "commit")
	if code != exitcode.Invalid || !strings.Contains(errs, "uncommitted changes") {
		t.Fatalf("exit %d, want 2 naming the uncommitted changes: %s", code, errs)
	}
	if len(f.gh.Requests()) != 0 || f.hooks.count() != 0 {
		t.Error("dispatched before the refusal")
	}
	if got, _ := os.ReadFile(base); string(got) != edited {
		t.Error("the person's edit was changed")
	}
}
