package writeback_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/writeback"
)

const (
	digest  = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	image   = "registry.example.com/app"
	pinned  = "registry.example.com/app:1@" + digest
	sidecar = "registry.example.com/sidecar:2@sha256:2222222222222222222222222222222222222222222222222222222222222222"
)

func TestCommit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		edit      map[string]string // files written before Commit
		paths     []string
		author    writeback.Author
		wantNoOp  bool
		wantCode  int
		wantFiles []string // files in the new commit
	}{
		{name: "one change", edit: map[string]string{"deploy/app.yaml": strings.Replace(manifest, "app:1", "app:1@"+digest, 1)},
			paths: []string{"deploy/app.yaml"}, wantFiles: []string{"deploy/app.yaml"}},
		{name: "unlisted changes stay out", edit: map[string]string{
			"deploy/app.yaml": strings.Replace(manifest, "app:1", "app:1@"+digest, 1), "notes.txt": "mine"},
			paths: []string{"deploy/app.yaml"}, wantFiles: []string{"deploy/app.yaml"}},
		{name: "new file", edit: map[string]string{"deploy/new.yaml": "image: x\n"},
			paths: []string{"deploy/new.yaml"}, wantFiles: []string{"deploy/new.yaml"}},
		{name: "explicit author", edit: map[string]string{"deploy/app.yaml": "changed\n"},
			paths: []string{"deploy/app.yaml"}, author: writeback.Author{Name: "bot", Email: "bot@example.com"}, wantFiles: []string{"deploy/app.yaml"}},
		{name: "no change is no commit", paths: []string{"deploy/app.yaml"}, wantNoOp: true},
		{name: "no paths is no commit", wantNoOp: true},
		{name: "path leaving the tree", paths: []string{"../x"}, wantCode: exitcode.Refused},
		{name: "absolute path", paths: []string{"/etc/passwd"}, wantCode: exitcode.Refused},
		{name: "path into .git", paths: []string{".git/config"}, wantCode: exitcode.Refused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			dir := f.clone(t, "work")
			before := gitT(t, dir, "rev-parse", "HEAD")
			for p, c := range tt.edit {
				writeFile(t, filepath.Join(dir, p), c)
			}
			msg := writeback.Message(image, digest, tt.paths)
			got, err := writeback.Commit(context.Background(), writeback.CommitOptions{
				Dir: dir, Paths: tt.paths, Message: msg, Trailer: writeback.Trailer(image, digest), Author: tt.author,
			})
			if tt.wantCode != 0 {
				if exitcode.Of(err) != tt.wantCode {
					t.Fatalf("err = %v (code %d), want code %d", err, exitcode.Of(err), tt.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			head := gitT(t, dir, "rev-parse", "HEAD")
			if tt.wantNoOp {
				if got != "" || head != before {
					t.Fatalf("Commit = %q, HEAD moved %s → %s; want no commit", got, before, head)
				}
				return
			}
			if got != head {
				t.Fatalf("Commit = %q, HEAD = %s", got, head)
			}
			files := strings.Split(gitT(t, dir, "show", "--name-only", "--format=", "HEAD"), "\n")
			if diff := cmp.Diff(tt.wantFiles, files); diff != "" {
				t.Errorf("committed files (-want +got):\n%s", diff)
			}
			body := gitT(t, dir, "log", "-1", "--format=%B")
			if !strings.HasPrefix(body, "cascade: pin registry.example.com/app to 111111111111\n\n") ||
				!strings.HasSuffix(body, "\n\nCascade-Update: "+image+"@"+digest) {
				t.Errorf("message:\n%s", body)
			}
			trailer := gitT(t, dir, "log", "-1", "--format=%(trailers:key=Cascade-Update,valueonly)")
			if trailer != image+"@"+digest {
				t.Errorf("git reads trailer %q", trailer)
			}
			if !writeback.IsCascadeCommit(body) {
				t.Error("IsCascadeCommit(own message) = false")
			}
			wantAuthor := "cascade <cascade@users.noreply.github.com>"
			if name, email := configured(dir, "user.name"), configured(dir, "user.email"); name != "" && email != "" {
				wantAuthor = name + " <" + email + ">"
			}
			if tt.author.Name != "" {
				wantAuthor = tt.author.Name + " <" + tt.author.Email + ">"
			}
			if a := gitT(t, dir, "log", "-1", "--format=%an <%ae>"); a != wantAuthor {
				t.Errorf("author = %q, want %q", a, wantAuthor)
			}
		})
	}
}

// configured returns a git config value, "" when unset.
func configured(dir, key string) string {
	out, _ := exec.Command("git", "-C", dir, "config", key).Output()
	return strings.TrimSpace(string(out))
}
