package writeback_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/imagecascade/cascade/internal/writeback"
)

// TestR35_PushRaceKeepsUncommittedWork: the person's checkout holds an
// uncommitted edit to an unrelated tracked file, a staged edit and an
// untracked file when cascade's push loses a race. The retry happens in a
// private worktree: the remote gets the recomputed commit, and the
// checkout keeps every byte of the person's work, its index, its HEAD
// (cascade's first commit) and no extra worktree.
func TestR35_PushRaceKeepsUncommittedWork(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		duringPush bool // the competitor lands from the server's update hook
	}{
		{name: "competitor pushed first"},
		{name: "competitor lands during our push", duringPush: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			extra := f.clone(t, "extra")
			writeFile(t, filepath.Join(extra, "notes.txt"), "committed notes\n")
			writeFile(t, filepath.Join(extra, "staged.txt"), "committed\n")
			gitT(t, extra, "add", ".")
			gitT(t, extra, "commit", "--quiet", "-m", "notes")
			gitT(t, extra, "push", "--quiet", "origin", "HEAD:refs/heads/main")

			ours := prepare(t, f, "ours", pinOurs)
			ourCommit := gitT(t, ours, "rev-parse", "HEAD")
			// The person's work in progress.
			writeFile(t, filepath.Join(ours, "notes.txt"), "committed notes\nunsaved thought\n")
			writeFile(t, filepath.Join(ours, "staged.txt"), "staged edit\n")
			gitT(t, ours, "add", "staged.txt")
			writeFile(t, filepath.Join(ours, "scratch.txt"), "untracked\n")
			statusBefore := gitT(t, ours, "status", "--porcelain")

			competitor := prepareAs(t, f, "competitor", pinCompetitor, writeback.Author{Name: "rival", Email: "rival@example.com"})
			winner := gitT(t, competitor, "rev-parse", "HEAD")
			if tt.duringPush {
				marker := filepath.Join(f.root, "raced")
				f.hook(t, `if [ ! -e '`+marker+`' ]; then
  touch '`+marker+`'
  unset GIT_DIR GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES
  git -C '`+competitor+`' push --quiet origin HEAD:refs/heads/main >&2 || exit 1
fi
exit 0
`)
			} else {
				gitT(t, competitor, "push", "--quiet", "origin", "HEAD:refs/heads/main")
			}
			tmp := t.TempDir()
			res, err := writeback.Push(context.Background(), writeback.PushOptions{
				Dir: ours, Branch: "main", Attempts: 3, Backoff: time.Millisecond,
				Reapply: pinOurs, Commit: commitOpts(), TempDir: tmp,
			})
			if err != nil {
				t.Fatalf("Push: %v", err)
			}
			remoteHead := gitT(t, f.remote, "rev-parse", "main")
			if !res.Pushed || !res.Diverged || res.Commit != remoteHead || res.Attempts != 2 {
				t.Errorf("res = %+v, remote main = %s; want pushed after a retry, diverged", res, remoteHead)
			}
			if parent := gitT(t, f.remote, "rev-parse", "main^"); parent != winner {
				t.Errorf("remote commit's parent = %s, want the winner %s", parent, winner)
			}
			if got := f.remoteFile(t, "deploy/app.yaml"); !strings.Contains(got, pinned) || !strings.Contains(got, sidecar) {
				t.Errorf("remote file lost a change:\n%s", got)
			}
			// The person's checkout: as it was, plus cascade's first commit.
			if head := gitT(t, ours, "rev-parse", "HEAD"); head != ourCommit {
				t.Errorf("HEAD = %s, want cascade's first commit %s kept", head, ourCommit)
			}
			if diff := cmp.Diff(statusBefore, gitT(t, ours, "status", "--porcelain")); diff != "" {
				t.Errorf("git status changed (-want +got):\n%s", diff)
			}
			for name, want := range map[string]string{
				"notes.txt":       "committed notes\nunsaved thought\n",
				"staged.txt":      "staged edit\n",
				"scratch.txt":     "untracked\n",
				"deploy/app.yaml": strings.Replace(manifest, "registry.example.com/app:1\n", pinned+"\n", 1),
			} {
				if diff := cmp.Diff(want, readFile(t, filepath.Join(ours, name))); diff != "" {
					t.Errorf("%s changed (-want +got):\n%s", name, diff)
				}
			}
			if got := gitT(t, ours, "diff", "--cached", "--name-only"); got != "staged.txt" {
				t.Errorf("index: staged = %q, want staged.txt only", got)
			}
			if wts := gitT(t, ours, "worktree", "list", "--porcelain"); strings.Count(wts, "worktree ") != 1 {
				t.Errorf("private worktree left behind:\n%s", wts)
			}
			if left, _ := os.ReadDir(tmp); len(left) != 0 {
				t.Errorf("temporary folder not removed: %v", left)
			}
		})
	}
}

// TestR35_UncommittedDetectsPersonsEdits: Uncommitted names each of the
// given paths that holds a staged, unstaged or untracked change, so that
// --write commit can refuse before touching anything.
func TestR35_UncommittedDetectsPersonsEdits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		paths []string
		want  []string
	}{
		{name: "clean", setup: func(*testing.T, string) {}, paths: []string{"deploy/app.yaml"}},
		{name: "unstaged edit", setup: func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "deploy/app.yaml"), manifest+"# mine\n")
		}, paths: []string{"deploy/app.yaml"}, want: []string{"deploy/app.yaml"}},
		{name: "staged edit", setup: func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "deploy/app.yaml"), manifest+"# mine\n")
			gitT(t, dir, "add", "deploy/app.yaml")
		}, paths: []string{"deploy/app.yaml"}, want: []string{"deploy/app.yaml"}},
		{name: "untracked file", setup: func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "deploy/new.yaml"), "image: x\n")
		}, paths: []string{"deploy/app.yaml", "deploy/new.yaml"}, want: []string{"deploy/new.yaml"}},
		{name: "edit elsewhere is not ours to judge", setup: func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "other.txt"), "x\n")
		}, paths: []string{"deploy/app.yaml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			dir := f.clone(t, "work")
			tt.setup(t, dir)
			got, err := writeback.Uncommitted(context.Background(), dir, tt.paths)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Uncommitted (-want +got):\n%s", diff)
			}
		})
	}
}

// TestR35_PushRaceFromSubfolder: the workspace is a folder inside the
// repository. The retry recomputes the edit in the same folder of the
// private worktree, with paths relative to it.
func TestR35_PushRaceFromSubfolder(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ours := prepare(t, f, "ours", pinOurs)
	competitor := prepareAs(t, f, "competitor", pinCompetitor, writeback.Author{Name: "rival", Email: "rival@example.com"})
	gitT(t, competitor, "push", "--quiet", "origin", "HEAD:refs/heads/main")
	var seen string
	reapply := func(ctx context.Context, dir string) ([]string, error) {
		seen = dir
		p := filepath.Join(dir, "app.yaml")
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		nb := strings.Replace(string(b), "registry.example.com/app:1\n", pinned+"\n", 1)
		return []string{"app.yaml"}, os.WriteFile(p, []byte(nb), 0o644)
	}
	res, err := writeback.Push(context.Background(), writeback.PushOptions{
		Dir: filepath.Join(ours, "deploy"), Branch: "main", Attempts: 2, Backoff: time.Millisecond,
		Reapply: reapply, Commit: commitOpts(), TempDir: t.TempDir(),
	})
	if err != nil {
		t.Fatalf("Push: %v", err)
	}
	if filepath.Base(seen) != "deploy" || !res.Pushed || !res.Diverged {
		t.Errorf("Reapply ran in %q, res = %+v; want the deploy folder of the private worktree, pushed", seen, res)
	}
	if got := f.remoteFile(t, "deploy/app.yaml"); !strings.Contains(got, pinned) || !strings.Contains(got, sidecar) {
		t.Errorf("remote file lost a change:\n%s", got)
	}
}
