package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/githubtest"
	"github.com/imagecascade/cascade/internal/testenv"
)

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestUpdateCommitAndPush: `cascade update --write commit --push` against a
// real bare remote; a competing push lands first and the update is
// recomputed on the fresh tree.
func TestUpdateCommitAndPush(t *testing.T) {
	t.Parallel()
	testenv.Require(t, "git")
	root := t.TempDir()
	remote := filepath.Join(root, "deploy.git")
	git(t, root, "init", "-q", "--bare", "-b", "main", remote)
	seed := filepath.Join(root, "seed")
	git(t, root, "clone", "-q", remote, seed)
	writeFile(t, filepath.Join(seed, "deploy", "app.yaml"), deployment)
	writeFile(t, filepath.Join(seed, "deploy", "other.yaml"), "kind: ConfigMap\n")
	git(t, seed, "add", ".")
	git(t, seed, "commit", "-qm", "seed")
	git(t, seed, "push", "-q", "origin", "main")

	ws := filepath.Join(root, "ws")
	git(t, root, "clone", "-q", remote, ws)
	// Someone else pushes first: our push loses the race.
	writeFile(t, filepath.Join(seed, "deploy", "other.yaml"), "kind: ConfigMap\ndata: {a: b}\n")
	git(t, seed, "commit", "-qam", "competitor")
	git(t, seed, "push", "-q", "origin", "main")

	newRef := "registry.example.com/acme/app-a:latest@sha256:" + hex64
	code, out, errs := run(t, "update", "--workspace", ws, "--image", newRef, "--write", "commit", "--push")
	if code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
	if !strings.Contains(out, "pushed to main (attempt 2)") {
		t.Errorf("want a push on the second attempt:\n%s", out)
	}
	check := filepath.Join(root, "check")
	git(t, root, "clone", "-q", remote, check)
	got, _ := os.ReadFile(filepath.Join(check, "deploy", "app.yaml"))
	if !strings.Contains(string(got), newRef) {
		t.Errorf("remote app.yaml not pinned:\n%s", got)
	}
	other, _ := os.ReadFile(filepath.Join(check, "deploy", "other.yaml"))
	if !strings.Contains(string(other), "data: {a: b}") {
		t.Errorf("the competitor's change was lost:\n%s", other)
	}
	msg := git(t, check, "log", "-1", "--format=%B")
	if !strings.Contains(msg, "Cascade-Update: registry.example.com/acme/app-a:latest@sha256:"+hex64) {
		t.Errorf("commit lacks the cascade trailer:\n%s", msg)
	}
	if parent := git(t, check, "log", "-1", "--format=%s", "HEAD~1"); parent != "competitor" {
		t.Errorf("parent = %q, want the competitor's commit", parent)
	}
}

// TestUpdatePullRequest: `cascade update --write pull-request` against the
// offline GitHub API; a re-run writes nothing new.
func TestUpdatePullRequest(t *testing.T) {
	srv := githubtest.New(t)
	repo := srv.Repo("acme/deploy")
	repo.WriteFiles("main", "seed", map[string]string{"deploy/app.yaml": deployment})
	ws := t.TempDir()
	writeFile(t, filepath.Join(ws, "deploy", "app.yaml"), deployment)
	t.Setenv("GITHUB_TOKEN", srv.Token())
	t.Setenv("GITHUB_REPOSITORY", "acme/deploy")

	newRef := "registry.example.com/acme/app-a:latest@sha256:" + hex64
	code, out, errs := run(t, "update", "--workspace", ws, "--image", newRef, "--write", "pull-request", "--github-api-url", srv.URL)
	if code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
	prs := repo.PullRequests()
	if len(prs) != 1 || !strings.HasPrefix(prs[0].Head, "cascade/registry.example.com/acme/app-a-0123456789ab") {
		t.Fatalf("pull requests = %+v", prs)
	}
	files, _ := repo.Files(prs[0].Head)
	if !strings.Contains(files["deploy/app.yaml"], newRef) {
		t.Errorf("branch file not pinned:\n%s", files["deploy/app.yaml"])
	}
	if strings.Contains(out+errs, srv.Token()) {
		t.Error("the token appears in the output")
	}
	// A person commits on the branch: a re-run's pin is not forced over
	// it, and that write-back is a failure that says so (exit 3), not a
	// success.
	repo.AddForeignCommit(prs[0].Head, map[string]string{"deploy/app.yaml": deployment + "# reviewed\n"})
	writeFile(t, filepath.Join(ws, "deploy", "app.yaml"), deployment)
	code, _, errs = run(t, "update", "--workspace", ws, "--image", newRef, "--write", "pull-request", "--github-api-url", srv.URL)
	if code != exitcode.Partial || !strings.Contains(errs, "never force-updates") {
		t.Errorf("foreign branch: exit %d, want 3 saying why: %s", code, errs)
	}
	// Bad combinations are refused before anything is written.
	if code, _, _ := run(t, "update", "--workspace", ws, "--image", newRef, "--write", "pull-request", "--push"); code != exitcode.Invalid {
		t.Errorf("--push with pull-request: exit %d, want 2", code)
	}
	t.Setenv("GITHUB_TOKEN", "")
	if code, _, _ := run(t, "update", "--workspace", ws, "--image", newRef, "--write", "pull-request"); code != exitcode.Invalid {
		t.Errorf("no token: exit %d, want 2", code)
	}
}
