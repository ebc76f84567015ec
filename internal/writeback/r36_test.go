package writeback_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-github/v60/github"

	"github.com/imagecascade/cascade/internal/writeback"
)

// TestR36_PRBranchOwnedOnlyByTree: cascade recognises its pull request
// branch by more than the Cascade-Update trailer. A person's commit that
// kept cascade's message (git commit --amend, a fixup reusing the message,
// a commit with an old-style message) makes the branch theirs: cascade
// never force-updates it. A branch of cascade's own sealed commit is still
// replaced when the base moves.
func TestR36_PRBranchOwnedOnlyByTree(t *testing.T) {
	t.Parallel()
	const humanEdit = "# reviewed by a human\n"
	tests := []struct {
		name string
		// person rewrites the branch through the API, from cascade's
		// commit; nil leaves cascade's commit as it is.
		person    func(t *testing.T, c *github.Client, own *github.Commit) *github.Commit
		wantOwned bool
	}{
		{name: "untouched: cascade's own branch is replaced", wantOwned: true},
		{name: "amended with the message kept", person: func(t *testing.T, c *github.Client, own *github.Commit) *github.Commit {
			return makeCommit(t, c, own.GetMessage(), own.Parents[0].GetSHA(), own.GetTree().GetSHA(), pinnedYAML+humanEdit)
		}},
		{name: "a commit on top reusing cascade's message", person: func(t *testing.T, c *github.Client, own *github.Commit) *github.Commit {
			return makeCommit(t, c, own.GetMessage(), own.GetSHA(), own.GetTree().GetSHA(), pinnedYAML+humanEdit)
		}},
		{name: "amended with an old-style message (trailer only)", person: func(t *testing.T, c *github.Client, own *github.Commit) *github.Commit {
			msg := writeback.Message(image, digest, []string{"deploy/app.yaml"}) + "\n\n" + writeback.Trailer(image, digest) + "\n"
			return makeCommit(t, c, msg, own.Parents[0].GetSHA(), own.GetTree().GetSHA(), pinnedYAML+humanEdit)
		}},
		{name: "amended with a forged Cascade-Tree of the old tree", person: func(t *testing.T, c *github.Client, own *github.Commit) *github.Commit {
			return makeCommit(t, c, own.GetMessage(), own.Parents[0].GetSHA(), own.GetTree().GetSHA(), pinnedYAML+humanEdit+"# second edit\n")
		}},
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
			own, _, err := c.Git.GetCommit(ctx, "acme", "app", first.Commit)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(own.GetMessage(), writeback.TreeKey+": "+own.GetTree().GetSHA()+"\n") {
				t.Fatalf("cascade's commit does not name its tree:\n%s", own.GetMessage())
			}
			head := first.Commit
			if tt.person != nil {
				theirs := tt.person(t, c, own)
				if _, _, err := c.Git.UpdateRef(ctx, "acme", "app", &github.Reference{
					Ref: github.String("refs/heads/" + branch), Object: &github.GitObject{SHA: theirs.SHA},
				}, true); err != nil {
					t.Fatal(err)
				}
				head = theirs.GetSHA()
			}
			repo.WriteFiles("main", "unrelated\n", map[string]string{"README.md": "changed\n"})
			before := len(srv.Requests())

			got, err := writeback.PullRequest(ctx, prOpts(c, "new body"))
			if err != nil {
				t.Fatal(err)
			}
			now, _ := repo.Branch(branch)
			forced := false
			for _, r := range srv.Requests()[before:] {
				if r.Method == "PATCH" && strings.Contains(r.Path, "/git/refs/") {
					forced = true
				}
			}
			if tt.wantOwned {
				if !got.BranchUpdated || got.ForeignCommits || now == head || now != got.Commit {
					t.Errorf("own branch: result %+v, branch %s (was %s); want it replaced on the new base", got, now, head)
				}
				return
			}
			if forced || now != head || !got.ForeignCommits || got.BranchUpdated {
				t.Errorf("person's branch: result %+v, branch %s (want %s kept), ref updated: %v", got, now, head, forced)
			}
			if files, _ := repo.Files(branch); !strings.Contains(files["deploy/app.yaml"], humanEdit) {
				t.Errorf("the person's edit is gone from the branch:\n%s", files["deploy/app.yaml"])
			}
		})
	}
}

// makeCommit writes a commit through the API, as a person's git push
// would: deploy/app.yaml set to content on tree base, with parent.
func makeCommit(t *testing.T, c *github.Client, message, parent, base, content string) *github.Commit {
	t.Helper()
	ctx := context.Background()
	tree, _, err := c.Git.CreateTree(ctx, "acme", "app", base, []*github.TreeEntry{{
		Path: github.String("deploy/app.yaml"), Mode: github.String("100644"), Type: github.String("blob"), Content: github.String(content),
	}})
	if err != nil {
		t.Fatal(err)
	}
	made, _, err := c.Git.CreateCommit(ctx, "acme", "app", &github.Commit{
		Message: github.String(message), Tree: tree, Parents: []*github.Commit{{SHA: github.String(parent)}},
		Author: &github.CommitAuthor{Name: github.String("Pat"), Email: github.String("pat@example.com")},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return made
}
