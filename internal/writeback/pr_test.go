package writeback_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-github/v60/github"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/githubtest"
	"github.com/imagecascade/cascade/internal/writeback"
)

var (
	branch     = writeback.BranchName(image, digest)
	pinnedYAML = strings.Replace(manifest, "registry.example.com/app:1\n", pinned+"\n", 1)
)

// ghFixture is a githubtest server with acme/app seeded with the manifest.
func ghFixture(t *testing.T, opts ...githubtest.Option) (*githubtest.Server, *githubtest.Repo, *github.Client) {
	t.Helper()
	srv := githubtest.New(t, opts...)
	repo := srv.Repo("acme/app")
	repo.WriteFiles("main", "seed\n", map[string]string{"deploy/app.yaml": manifest, "README.md": "hi\n"})
	c := github.NewClient(nil).WithAuthToken(srv.Token())
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	c.BaseURL = u
	return srv, repo, c
}

func prOpts(c *github.Client, body string, files ...writeback.File) writeback.PROptions {
	if files == nil {
		files = []writeback.File{{Path: "deploy/app.yaml", Content: []byte(pinnedYAML)}}
	}
	return writeback.PROptions{
		Client: c, Owner: "acme", Repo: "app", Branch: branch, Files: files,
		Title: writeback.Subject(image, digest), Body: body,
		Message: writeback.Message(image, digest, []string{"deploy/app.yaml"}), Trailer: writeback.Trailer(image, digest),
	}
}

// mutations counts requests that write (anything but GET).
func mutations(srv *githubtest.Server) []string {
	var out []string
	for _, r := range srv.Requests() {
		if r.Method != "GET" {
			out = append(out, r.Method+" "+r.Path)
		}
	}
	return out
}

func TestPullRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		files     []writeback.File
		want      writeback.PRResult // URL, Number, Commit checked separately
		wantFiles map[string]string  // changed files on the branch
		wantMode  string
		wantCode  int
	}{
		{
			name:      "opens a pull request",
			want:      writeback.PRResult{Branch: branch, Created: true, BranchUpdated: true},
			wantFiles: map[string]string{"deploy/app.yaml": pinnedYAML},
		},
		{
			name: "several files, nested and new, one commit",
			files: []writeback.File{
				{Path: "deploy/app.yaml", Content: []byte(pinnedYAML)},
				{Path: "deploy/overlays/prod/kustomization.yaml", Content: []byte("images: []\n")},
			},
			want:      writeback.PRResult{Branch: branch, Created: true, BranchUpdated: true},
			wantFiles: map[string]string{"deploy/app.yaml": pinnedYAML, "deploy/overlays/prod/kustomization.yaml": "images: []\n"},
		},
		{
			name:      "executable bit",
			files:     []writeback.File{{Path: "bin/run.sh", Content: []byte("#!/bin/sh\n"), Mode: 0o755}},
			want:      writeback.PRResult{Branch: branch, Created: true, BranchUpdated: true},
			wantFiles: map[string]string{"bin/run.sh": "#!/bin/sh\n"},
			wantMode:  "100755",
		},
		{
			name:  "files equal to the base: no commit, no pull request",
			files: []writeback.File{{Path: "deploy/app.yaml", Content: []byte(manifest)}},
			want:  writeback.PRResult{Branch: branch, NoOp: true},
		},
		{
			name:     "path leaving the repository",
			files:    []writeback.File{{Path: "../etc/passwd", Content: []byte("x")}},
			want:     writeback.PRResult{Branch: branch},
			wantCode: exitcode.Refused,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, repo, c := ghFixture(t)
			mainHead, _ := repo.Branch("main")
			got, err := writeback.PullRequest(context.Background(), prOpts(c, "body", tt.files...))
			if tt.wantCode != 0 {
				if exitcode.Of(err) != tt.wantCode {
					t.Fatalf("err = %v, want exit code %d", err, tt.wantCode)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			commit, url, number := got.Commit, got.URL, got.Number
			got.Commit, got.URL, got.Number = "", "", 0
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
			if tt.wantFiles == nil {
				if m := mutations(srv); len(m) != 0 {
					t.Errorf("wrote %v, want nothing written", m)
				}
				if _, ok := repo.Branch(branch); ok || len(repo.PullRequests()) != 0 {
					t.Error("branch or pull request created")
				}
				return
			}
			head, _ := repo.Branch(branch)
			c2, _ := repo.Commit(head)
			if head != commit || len(c2.Parents) != 1 || c2.Parents[0] != mainHead {
				t.Errorf("branch head %s (result %s) with parents %v, want one commit on %s", head, commit, c2.Parents, mainHead)
			}
			if !writeback.IsCascadeCommit(c2.Message) || !strings.HasPrefix(c2.Message, "cascade: pin ") {
				t.Errorf("commit message:\n%s", c2.Message)
			}
			files, _ := repo.Files(branch)
			for p, want := range tt.wantFiles {
				if files[p] != want {
					t.Errorf("%s on the branch = %q, want %q", p, files[p], want)
				}
			}
			if files["README.md"] != "hi\n" {
				t.Error("untouched file lost: the tree must build on base_tree")
			}
			prs := repo.PullRequests()
			wantPRs := []githubtest.PullRequest{{Number: 1, Title: writeback.Subject(image, digest), Body: "body", Head: branch, Base: "main", State: "open"}}
			if diff := cmp.Diff(wantPRs, prs); diff != "" {
				t.Errorf("pull requests (-want +got):\n%s", diff)
			}
			if number != 1 || !strings.HasSuffix(url, "/acme/app/pull/1") {
				t.Errorf("URL %q number %d", url, number)
			}
			if tt.wantMode != "" {
				tree, _, err := c.Git.GetTree(context.Background(), "acme", "app", head, true)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range tree.Entries {
					if e.GetPath() == tt.files[0].Path && e.GetMode() != tt.wantMode {
						t.Errorf("mode of %s = %s, want %s", e.GetPath(), e.GetMode(), tt.wantMode)
					}
				}
			}
		})
	}
}

// TestPullRequestRerun: the same write-back twice writes nothing the second
// time; after the base moves, cascade's own branch is replaced by a fresh
// commit on the new base (force-updated) and the pull request text updated.
func TestPullRequestRerun(t *testing.T) {
	t.Parallel()
	srv, repo, c := ghFixture(t)
	ctx := context.Background()
	first, err := writeback.PullRequest(ctx, prOpts(c, "body"))
	if err != nil {
		t.Fatal(err)
	}
	before := len(mutations(srv))

	again, err := writeback.PullRequest(ctx, prOpts(c, "body"))
	if err != nil {
		t.Fatal(err)
	}
	if again.Created || again.Updated || again.BranchUpdated || again.Commit != first.Commit || again.Number != first.Number {
		t.Errorf("re-run = %+v, want nothing changed (first %+v)", again, first)
	}
	for _, m := range mutations(srv)[before:] {
		if strings.Contains(m, "/git/refs") || strings.Contains(m, "/git/commits") || strings.Contains(m, "/pulls") {
			t.Errorf("re-run wrote %s", m)
		}
	}

	newBase := repo.WriteFiles("main", "unrelated\n", map[string]string{"README.md": "changed\n"})
	moved, err := writeback.PullRequest(ctx, prOpts(c, "new body"))
	if err != nil {
		t.Fatal(err)
	}
	if !moved.BranchUpdated || !moved.Updated || moved.Created || moved.ForeignCommits || moved.Number != first.Number {
		t.Errorf("after base moved = %+v", moved)
	}
	log := repo.Log(branch)
	if log[0].SHA != moved.Commit || log[1].SHA != newBase {
		t.Errorf("branch log %v, want our commit on %s", log[:2], newBase)
	}
	files, _ := repo.Files(branch)
	if files["README.md"] != "changed\n" || files["deploy/app.yaml"] != pinnedYAML {
		t.Errorf("branch files = %v", files)
	}
	if prs := repo.PullRequests(); len(prs) != 1 || prs[0].Body != "new body" {
		t.Errorf("pull requests = %+v, want one with the new body", prs)
	}
}

// TestR17_ForeignCommitNotForcePushed: a person added a commit to cascade's
// branch. cascade must not force-push over it: it leaves the branch alone,
// updates the pull request text only, and reports it.
func TestR17_ForeignCommitNotForcePushed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		closePR     bool
		moveBase    bool
		wantUpdated bool
	}{
		{name: "open pull request", wantUpdated: true},
		{name: "open pull request, base moved", moveBase: true, wantUpdated: true},
		{name: "pull request closed: none is reopened", closePR: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, repo, c := ghFixture(t)
			ctx := context.Background()
			first, err := writeback.PullRequest(ctx, prOpts(c, "body"))
			if err != nil {
				t.Fatal(err)
			}
			foreign := repo.AddForeignCommit(branch, map[string]string{"deploy/app.yaml": pinnedYAML + "# reviewed by a human\n"})
			if tt.closePR {
				repo.SetPullRequestState(first.Number, "closed")
			}
			if tt.moveBase {
				repo.WriteFiles("main", "unrelated\n", map[string]string{"README.md": "changed\n"})
			}
			before := len(srv.Requests())

			got, err := writeback.PullRequest(ctx, prOpts(c, "new body"))
			if err != nil {
				t.Fatal(err)
			}
			if !got.ForeignCommits || got.BranchUpdated || got.Created || got.Updated != tt.wantUpdated || got.Commit != foreign {
				t.Errorf("result = %+v, want ForeignCommits, branch untouched at %s, Updated=%v", got, foreign, tt.wantUpdated)
			}
			if head, _ := repo.Branch(branch); head != foreign {
				t.Errorf("branch moved to %s, want the foreign commit %s kept", head, foreign)
			}
			for _, r := range srv.Requests()[before:] {
				if r.Method == "PATCH" && strings.Contains(r.Path, "/git/refs/") || r.Method == "POST" && strings.HasSuffix(r.Path, "/git/refs") {
					t.Errorf("branch written: %s %s %s", r.Method, r.Path, r.Body)
				}
			}
			prs := repo.PullRequests()
			if len(prs) != 1 {
				t.Fatalf("pull requests = %+v, want exactly the first one", prs)
			}
			if tt.wantUpdated && (!strings.HasPrefix(prs[0].Body, "new body") || !strings.Contains(prs[0].Body, "never force-pushes")) {
				t.Errorf("pull request body = %q", prs[0].Body)
			}
		})
	}
}

func TestPullRequestErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		opts     func(*githubtest.Server, *github.Client) writeback.PROptions
		script   func(*githubtest.Server)
		wantCode int
		wantMsg  string
	}{
		{
			name: "token cannot see the repository",
			opts: func(srv *githubtest.Server, c *github.Client) writeback.PROptions {
				o := prOpts(c, "b")
				o.Repo = "hidden"
				return o
			},
			wantCode: exitcode.Partial, wantMsg: "404",
		},
		{
			name: "secondary rate limit before any write",
			opts: func(_ *githubtest.Server, c *github.Client) writeback.PROptions { return prOpts(c, "b") },
			script: func(srv *githubtest.Server) {
				srv.Script("POST", "/repos/acme/app/git/blobs", githubtest.SecondaryRateLimit(60))
			},
			wantCode: exitcode.Transient, wantMsg: "secondary rate limit",
		},
		{
			name:     "server error after the branch was written",
			opts:     func(_ *githubtest.Server, c *github.Client) writeback.PROptions { return prOpts(c, "b") },
			script:   func(srv *githubtest.Server) { srv.Script("POST", "/repos/acme/app/pulls", githubtest.ServerError(502)) },
			wantCode: exitcode.Partial, wantMsg: "opening the pull request",
		},
		{
			name: "missing title and trailer",
			opts: func(_ *githubtest.Server, c *github.Client) writeback.PROptions {
				o := prOpts(c, "b")
				o.Title, o.Trailer = "", ""
				return o
			},
			wantCode: exitcode.Invalid, wantMsg: "Trailer is required",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, _, c := ghFixture(t)
			if tt.script != nil {
				tt.script(srv)
			}
			_, err := writeback.PullRequest(context.Background(), tt.opts(srv, c))
			if exitcode.Of(err) != tt.wantCode || err == nil || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("err = %v (code %d), want code %d containing %q", err, exitcode.Of(err), tt.wantCode, tt.wantMsg)
			}
		})
	}
}
