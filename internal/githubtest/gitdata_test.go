package githubtest_test

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-github/v60/github"

	"github.com/imagecascade/cascade/internal/githubtest"
)

func TestObjectIDsAreGits(t *testing.T) {
	t.Parallel()
	srv := githubtest.New(t)
	srv.Repo("acme/app")
	c := client(t, srv, srv.Token())
	ctx := context.Background()
	for _, tt := range []struct{ content, encoding, want string }{
		// git hash-object of "hello\n"
		{"hello\n", "utf-8", "ce013625030ba8dba906f756967f9e9ca394464a"},
		{base64.StdEncoding.EncodeToString([]byte("hello\n")), "base64", "ce013625030ba8dba906f756967f9e9ca394464a"},
	} {
		b, _, err := c.Git.CreateBlob(ctx, "acme", "app", &github.Blob{Content: github.String(tt.content), Encoding: github.String(tt.encoding)})
		if err != nil {
			t.Fatal(err)
		}
		if b.GetSHA() != tt.want {
			t.Errorf("blob id = %s, want %s", b.GetSHA(), tt.want)
		}
	}
	// git's empty tree
	head, _ := srv.Repo("acme/app").Branch("main")
	commit, _, err := c.Git.GetCommit(ctx, "acme", "app", head)
	if err != nil {
		t.Fatal(err)
	}
	if got := commit.GetTree().GetSHA(); got != "4b825dc642cb6eb9a060e54bf8d69288fbee4904" {
		t.Errorf("empty tree id = %s", got)
	}
}

func TestTreesCommitsContents(t *testing.T) {
	t.Parallel()
	srv := githubtest.New(t)
	repo := srv.Repo("acme/app")
	base := repo.WriteFiles("main", "seed\n", map[string]string{"a/b/c.yaml": "c\n", "a/keep.txt": "k\n", "gone.txt": "g\n"})
	c := client(t, srv, srv.Token())
	ctx := context.Background()
	baseCommit, _, err := c.Git.GetCommit(ctx, "acme", "app", base)
	if err != nil {
		t.Fatal(err)
	}
	tree, _, err := c.Git.CreateTree(ctx, "acme", "app", baseCommit.GetTree().GetSHA(), []*github.TreeEntry{
		{Path: github.String("a/b/c.yaml"), Mode: github.String("100644"), Type: github.String("blob"), Content: github.String("c2\n")},
		{Path: github.String("x/y/new.sh"), Mode: github.String("100755"), Type: github.String("blob"), Content: github.String("#!/bin/sh\n")},
		{Path: github.String("gone.txt"), Mode: github.String("100644"), Type: github.String("blob")}, // sha: null deletes
	})
	if err != nil {
		t.Fatal(err)
	}
	full, _, err := c.Git.GetTree(ctx, "acme", "app", tree.GetSHA(), true)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, e := range full.Entries {
		paths = append(paths, e.GetType()+" "+e.GetMode()+" "+e.GetPath())
	}
	want := []string{
		"tree 040000 a", "tree 040000 a/b", "blob 100644 a/b/c.yaml", "blob 100644 a/keep.txt",
		"tree 040000 x", "tree 040000 x/y", "blob 100755 x/y/new.sh",
	}
	if diff := cmp.Diff(want, paths); diff != "" {
		t.Errorf("recursive tree (-want +got):\n%s", diff)
	}
	commit, _, err := c.Git.CreateCommit(ctx, "acme", "app", &github.Commit{
		Message: github.String("change\n"), Tree: &github.Tree{SHA: tree.SHA}, Parents: []*github.Commit{{SHA: github.String(base)}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Git.CreateRef(ctx, "acme", "app", &github.Reference{Ref: github.String("refs/heads/topic"), Object: &github.GitObject{SHA: commit.SHA}}); err != nil {
		t.Fatal(err)
	}
	fc, _, _, err := c.Repositories.GetContents(ctx, "acme", "app", "a/b/c.yaml", &github.RepositoryContentGetOptions{Ref: "topic"})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := fc.GetContent(); got != "c2\n" {
		t.Errorf("contents = %q", got)
	}
	files, _ := repo.Files("topic")
	wantFiles := map[string]string{"a/b/c.yaml": "c2\n", "a/keep.txt": "k\n", "x/y/new.sh": "#!/bin/sh\n"}
	if diff := cmp.Diff(wantFiles, files); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	_, _, err = c.Git.CreateCommit(ctx, "acme", "app", &github.Commit{
		Message: github.String("x"), Tree: &github.Tree{SHA: github.String(strings.Repeat("0", 40))},
	}, nil)
	if statusOf(err) != 422 {
		t.Errorf("commit with a missing tree: err = %v, want 422", err)
	}
}

func TestRefsFastForward(t *testing.T) {
	t.Parallel()
	srv := githubtest.New(t)
	repo := srv.Repo("acme/app")
	root, _ := repo.Branch("main")
	ahead := repo.WriteFiles("main", "ahead\n", map[string]string{"f": "1"})
	side := repo.WriteFiles("side", "side\n", map[string]string{"g": "1"}) // side branches off ahead
	c := client(t, srv, srv.Token())
	ctx := context.Background()
	upd := func(ref, sha string, force bool) error {
		_, _, err := c.Git.UpdateRef(ctx, "acme", "app", &github.Reference{Ref: github.String(ref), Object: &github.GitObject{SHA: github.String(sha)}}, force)
		return err
	}
	create := func(ref, sha string) error {
		_, _, err := c.Git.CreateRef(ctx, "acme", "app", &github.Reference{Ref: github.String(ref), Object: &github.GitObject{SHA: github.String(sha)}})
		return err
	}
	steps := []struct {
		name     string
		do       func() error
		wantCode int
		wantMsg  string
		wantHead string // main afterwards
	}{
		{"create exists", func() error { return create("refs/heads/main", root) }, 422, "Reference already exists", ahead},
		{"create bad name", func() error { return create("main", root) }, 422, "Reference name is invalid", ahead},
		{"create unknown object", func() error { return create("refs/heads/x", strings.Repeat("a", 40)) }, 422, "Object does not exist", ahead},
		{"rewind without force", func() error { return upd("heads/main", root, false) }, 422, "Update is not a fast forward", ahead},
		{"rewind with force", func() error { return upd("heads/main", root, true) }, 0, "", root},
		{"fast-forward", func() error { return upd("heads/main", side, false) }, 0, "", side},
		{"update missing ref", func() error { return upd("heads/nope", side, false) }, 422, "Reference does not exist", side},
	}
	for _, st := range steps {
		err := st.do()
		if st.wantCode == 0 && err != nil || st.wantCode != 0 && (statusOf(err) != st.wantCode || !strings.Contains(err.Error(), st.wantMsg)) {
			t.Errorf("%s: err = %v, want %d %q", st.name, err, st.wantCode, st.wantMsg)
		}
		if head, _ := repo.Branch("main"); head != st.wantHead {
			t.Errorf("%s: main = %s, want %s", st.name, head, st.wantHead)
		}
	}
	if _, _, err := c.Git.GetRef(ctx, "acme", "app", "heads/nope"); statusOf(err) != 404 {
		t.Errorf("GetRef missing: %v, want 404", err)
	}
}

func TestPulls(t *testing.T) {
	t.Parallel()
	srv := githubtest.New(t)
	repo := srv.Repo("acme/app")
	c := client(t, srv, srv.Token())
	ctx := context.Background()
	newPR := func(head string) (*github.PullRequest, error) {
		pr, _, err := c.PullRequests.Create(ctx, "acme", "app", &github.NewPullRequest{
			Title: github.String("t"), Head: github.String(head), Base: github.String("main"), Body: github.String("b"),
		})
		return pr, err
	}
	repo.WriteFiles("empty", "x\n", nil) // a branch with a commit that changes nothing is still a commit
	repo.SetDefaultBranch("main")
	if _, err := newPR("nope"); statusOf(err) != 422 {
		t.Errorf("PR from a missing branch: %v, want 422", err)
	}
	mainHead, _ := repo.Branch("main")
	if _, _, err := c.Git.CreateRef(ctx, "acme", "app", &github.Reference{Ref: github.String("refs/heads/same"), Object: &github.GitObject{SHA: github.String(mainHead)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := newPR("same"); statusOf(err) != 422 || !strings.Contains(err.Error(), "No commits between main and same") {
		t.Errorf("PR without commits: %v", err)
	}
	first := repo.WriteFiles("topic", "one\n", map[string]string{"f": "1"})
	pr, err := newPR("acme:topic")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newPR("topic"); statusOf(err) != 422 || !strings.Contains(err.Error(), "A pull request already exists for acme:topic.") {
		t.Errorf("second PR for a head: %v", err)
	}
	second := repo.AddForeignCommit("topic", map[string]string{"f": "2"})
	list, _, err := c.PullRequests.List(ctx, "acme", "app", &github.PullRequestListOptions{Head: "acme:topic", State: "open"})
	if err != nil || len(list) != 1 || list[0].GetNumber() != pr.GetNumber() || list[0].GetHead().GetSHA() != second {
		t.Fatalf("List = %v, %v", list, err)
	}
	if other, _, _ := c.PullRequests.List(ctx, "acme", "app", &github.PullRequestListOptions{Head: "someone:topic"}); len(other) != 0 {
		t.Errorf("head of another owner matched: %v", other)
	}
	commits, _, err := c.PullRequests.ListCommits(ctx, "acme", "app", pr.GetNumber(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, cm := range commits {
		got = append(got, cm.GetSHA()+" "+strings.TrimSpace(cm.GetCommit().GetMessage()))
	}
	if diff := cmp.Diff([]string{first + " one", second + " Manual fix"}, got); diff != "" {
		t.Errorf("PR commits (-want +got):\n%s", diff)
	}
	cmpr, _, err := c.Repositories.CompareCommits(ctx, "acme", "app", "main", "topic", nil)
	if err != nil || cmpr.GetStatus() != "ahead" || cmpr.GetAheadBy() != 2 {
		t.Errorf("compare = %v %v", cmpr, err)
	}
	edited, _, err := c.PullRequests.Edit(ctx, "acme", "app", pr.GetNumber(), &github.PullRequest{Title: github.String("t2"), State: github.String("closed")})
	if err != nil || edited.GetTitle() != "t2" || edited.GetBody() != "b" || edited.GetState() != "closed" {
		t.Errorf("Edit = %v, %v", edited, err)
	}
	if list, _, _ := c.PullRequests.List(ctx, "acme", "app", &github.PullRequestListOptions{Head: "acme:topic"}); len(list) != 0 {
		t.Errorf("closed PR listed as open: %v", list)
	}
	if _, _, err := c.PullRequests.Get(ctx, "acme", "app", 99); statusOf(err) != 404 {
		t.Errorf("Get missing PR: %v", err)
	}
}
