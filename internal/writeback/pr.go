package writeback

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"

	"github.com/google/go-github/v60/github"

	"github.com/imagecascade/cascade/internal/exitcode"
)

// File is one changed file to write back.
type File struct {
	// Path is slash-separated and relative to the repository root.
	Path    string
	Content []byte
	// Mode: an executable bit makes the file 100755; otherwise 100644. Zero
	// keeps the mode the file has on the base branch.
	Mode os.FileMode
}

// PROptions describes a pull request write-back.
type PROptions struct {
	Client      *github.Client
	Owner, Repo string
	// Base is the branch to merge into; default: the repository's default branch.
	Base string
	// Branch is the pull request branch; use BranchName. Required.
	Branch string
	Files  []File
	// Title and Body are the pull request text. Title is required.
	Title, Body string
	// Message is the commit message (see Message); default: Title.
	Message string
	// Trailer marks the commit as cascade's (see Trailer). Required. With
	// the Cascade-Tree line PullRequest adds, it is how cascade later knows
	// the branch holds only its own commits (see the package doc).
	Trailer string
	// Author signs the commit; zero lets GitHub use the token's identity.
	Author Author
}

// PRResult is the outcome of PullRequest.
type PRResult struct {
	URL    string
	Number int
	Branch string
	// Commit is the branch head cascade wrote or found up to date.
	Commit string
	// Created: a pull request was opened. Updated: the open pull request's
	// title or body changed.
	Created, Updated bool
	// BranchUpdated: the branch was created or moved to a new commit.
	BranchUpdated bool
	// ForeignCommits: the branch holds commits cascade did not make; it was
	// left alone and only the pull request text was updated.
	ForeignCommits bool
	// NoOp: the base branch already has these files; nothing was written.
	NoOp bool
}

// foreignNote is appended to the pull request body when the branch holds
// commits cascade did not make.
const foreignNote = "\n\n---\ncascade did not update this branch: it has commits cascade did not make, and cascade never force-pushes over them. Rebase or recreate the branch to get the new pin."

// PullRequest writes opts.Files as one commit on top of the base branch
// head, through the Git Data API (blobs → tree on base_tree → commit →
// ref), on the deterministic branch opts.Branch, and opens the pull request
// or updates the open one's title and body.
//
// If the branch exists and every commit on it beyond the base is cascade's
// (the trailer, and a Cascade-Tree line equal to the commit's own tree: see
// the package doc), it is replaced by a fresh commit on the current base (the
// only case where it is force-updated); if it is already exactly that, it
// is left as is. If it holds a commit by anyone else, cascade never
// force-pushes: the branch is left alone, only the open pull request's text
// is updated (no pull request is opened for such a branch), and
// ForeignCommits reports it. When the base already has the files, nothing
// is written (NoOp).
//
// Errors: invalid options are AsInvalid; unsafe paths AsRefused; GitHub
// rate limits, 5xx and connection failures before anything was written are
// AsTransient; any other failure, or any failure after the branch was
// written, is AsPartial.
func PullRequest(ctx context.Context, opts PROptions) (PRResult, error) {
	res, err := pullRequest(ctx, opts)
	if errors.Is(err, errBranchRace) {
		// Another run of the same cascade created the branch between our
		// read and our create (R10): start again from the fresh state,
		// where the branch exists.
		return pullRequest(ctx, opts)
	}
	return res, err
}

// errBranchRace marks a branch create refused because the branch appeared
// after it was read.
var errBranchRace = errors.New("the branch was created meanwhile")

func pullRequest(ctx context.Context, opts PROptions) (PRResult, error) {
	res := PRResult{Branch: opts.Branch}
	if err := opts.validate(); err != nil {
		return res, err
	}
	api := prAPI{ctx: ctx, c: opts.Client, owner: opts.Owner, repo: opts.Repo}
	if opts.Base == "" {
		repo, _, err := api.c.Repositories.Get(ctx, api.owner, api.repo)
		if err != nil {
			return res, api.fail("reading the repository", err, false)
		}
		opts.Base = repo.GetDefaultBranch()
	}
	baseHead, baseTree, err := api.head(opts.Base)
	if err != nil {
		return res, err
	}
	changed, err := api.changedFiles(baseTree, opts.Files)
	if err != nil {
		return res, err
	}
	if len(changed) == 0 {
		res.NoOp = true
		return res, nil
	}

	branchHead, exists, err := api.ref(opts.Branch)
	if err != nil {
		return res, err
	}
	if exists {
		foreign, upToDate, err := api.inspect(opts.Base, opts.Branch, baseHead)
		if err != nil {
			return res, err
		}
		res.ForeignCommits = foreign
		if upToDate != "" {
			// Only the tree tells whether it holds these files.
			tree, err := api.tree(baseTree, changed)
			if err != nil {
				return res, err
			}
			if upToDate == tree {
				res.Commit = branchHead
			}
		}
	}
	if !res.ForeignCommits && res.Commit == "" {
		res.Commit, err = api.writeBranch(opts, baseHead, baseTree, changed, exists, branchHead)
		if err != nil {
			return res, err
		}
		res.BranchUpdated = true
	}
	if res.ForeignCommits {
		res.Commit = branchHead
		opts.Body += foreignNote
	}
	return api.openOrUpdate(opts, res)
}

func (o *PROptions) validate() error {
	var errs []error
	if o.Client == nil {
		errs = append(errs, errors.New("Client is required"))
	}
	if o.Owner == "" || o.Repo == "" {
		errs = append(errs, errors.New("Owner and Repo are required"))
	}
	if o.Branch == "" || o.Branch == o.Base {
		errs = append(errs, fmt.Errorf("branch %q: want a branch other than the base", o.Branch))
	}
	if o.Title == "" {
		errs = append(errs, errors.New("Title is required"))
	}
	if o.Trailer == "" {
		errs = append(errs, errors.New("Trailer is required"))
	}
	if o.Message == "" {
		o.Message = o.Title
	}
	if (o.Author.Name == "") != (o.Author.Email == "") {
		errs = append(errs, errors.New("Author needs both name and email"))
	}
	if err := errors.Join(errs...); err != nil {
		return exitcode.AsInvalid(fmt.Errorf("pull request: %w", err))
	}
	seen := map[string]bool{}
	for _, f := range o.Files {
		if err := checkPath(f.Path); err != nil {
			return fmt.Errorf("pull request: %w", err)
		}
		if f.Mode&os.ModeType != 0 {
			return exitcode.AsRefused(fmt.Errorf("pull request: path %q: only regular files are written", f.Path))
		}
		if seen[f.Path] {
			return exitcode.AsInvalid(fmt.Errorf("pull request: path %q given twice", f.Path))
		}
		seen[f.Path] = true
	}
	return nil
}

// prAPI holds one pull request write-back's GitHub calls.
type prAPI struct {
	ctx         context.Context
	c           *github.Client
	owner, repo string
	wrote       bool // the branch was written: later failures are partial
}

// fail wraps a GitHub error with what was being done and its class.
func (a *prAPI) fail(doing string, err error, wrote bool) error {
	err = fmt.Errorf("pull request on %s/%s: %s: %w", a.owner, a.repo, doing, err)
	if wrote || a.wrote {
		return exitcode.AsPartial(err)
	}
	var rl *github.RateLimitError
	var ab *github.AbuseRateLimitError
	var er *github.ErrorResponse
	switch {
	case errors.As(err, &rl), errors.As(err, &ab):
		return exitcode.AsTransient(err)
	case errors.As(err, &er):
		if c := er.Response.StatusCode; c == http.StatusTooManyRequests || c == http.StatusRequestTimeout || c >= 500 {
			return exitcode.AsTransient(err)
		}
		return exitcode.AsPartial(err)
	}
	return exitcode.AsTransient(err) // connection errors
}

func notFound(err error) bool {
	var er *github.ErrorResponse
	return errors.As(err, &er) && er.Response.StatusCode == http.StatusNotFound
}

// head returns a branch's head commit and its tree.
func (a *prAPI) head(branch string) (string, string, error) {
	ref, _, err := a.c.Git.GetRef(a.ctx, a.owner, a.repo, "heads/"+branch)
	if err != nil {
		return "", "", a.fail(fmt.Sprintf("reading branch %q", branch), err, false)
	}
	sha := ref.GetObject().GetSHA()
	commit, _, err := a.c.Git.GetCommit(a.ctx, a.owner, a.repo, sha)
	if err != nil {
		return "", "", a.fail(fmt.Sprintf("reading commit %s", sha), err, false)
	}
	return sha, commit.GetTree().GetSHA(), nil
}

// ref returns a branch's head, or false when the branch does not exist.
func (a *prAPI) ref(branch string) (string, bool, error) {
	ref, _, err := a.c.Git.GetRef(a.ctx, a.owner, a.repo, "heads/"+branch)
	if notFound(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, a.fail(fmt.Sprintf("reading branch %q", branch), err, false)
	}
	return ref.GetObject().GetSHA(), true, nil
}

// change is a file that differs from the base.
type change struct {
	File
	mode string
	sha  string // git blob id of Content
}

// blobID is git's object id of a blob, so unchanged files are found
// without writing anything.
func blobID(content []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(content))
	h.Write(content)
	return hex.EncodeToString(h.Sum(nil))
}

// changedFiles compares files with the base tree.
func (a *prAPI) changedFiles(baseTree string, files []File) ([]change, error) {
	tree, _, err := a.c.Git.GetTree(a.ctx, a.owner, a.repo, baseTree, true)
	if err != nil {
		return nil, a.fail("reading the base tree", err, false)
	}
	type entry struct{ sha, mode string }
	base := map[string]entry{}
	for _, e := range tree.Entries {
		base[e.GetPath()] = entry{e.GetSHA(), e.GetMode()}
	}
	var out []change
	for _, f := range files {
		c := change{File: f, sha: blobID(f.Content), mode: "100644"}
		old, ok := base[f.Path]
		switch {
		case f.Mode&0o111 != 0:
			c.mode = "100755"
		case f.Mode == 0 && ok && old.mode == "100755":
			c.mode = "100755"
		}
		if ok && old.sha == c.sha && old.mode == c.mode && !tree.GetTruncated() {
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

// inspect looks at the commits on branch beyond base. foreign reports a
// commit that is not cascade's by isOwnCommit — the trailer alone is not
// enough, a person's amend keeps it — or commits it could not see. When
// the branch is exactly one cascade commit on the current base head,
// upToDate is that commit's tree.
func (a *prAPI) inspect(base, branch, baseHead string) (foreign bool, upToDate string, err error) {
	cmp, _, err := a.c.Repositories.CompareCommits(a.ctx, a.owner, a.repo, base, branch, &github.ListOptions{PerPage: 100})
	if err != nil {
		return false, "", a.fail(fmt.Sprintf("comparing %q with %q", branch, base), err, false)
	}
	if cmp.GetTotalCommits() > len(cmp.Commits) {
		return true, "", nil // commits we cannot see are not known to be ours
	}
	for _, c := range cmp.Commits {
		if !isOwnCommit(c.GetCommit().GetMessage(), c.GetCommit().GetTree().GetSHA(), len(c.Parents)) {
			return true, "", nil
		}
	}
	if len(cmp.Commits) == 1 && cmp.GetBehindBy() == 0 {
		c := cmp.Commits[0]
		if len(c.Parents) == 1 && c.Parents[0].GetSHA() == baseHead {
			return false, c.GetCommit().GetTree().GetSHA(), nil
		}
	}
	return false, "", nil
}

// tree writes blobs for the changes and a tree on baseTree.
func (a *prAPI) tree(baseTree string, changed []change) (string, error) {
	var entries []*github.TreeEntry
	for _, c := range changed {
		blob, _, err := a.c.Git.CreateBlob(a.ctx, a.owner, a.repo, &github.Blob{
			Content:  github.String(base64.StdEncoding.EncodeToString(c.Content)),
			Encoding: github.String("base64"),
		})
		if err != nil {
			return "", a.fail(fmt.Sprintf("writing %s", c.Path), err, false)
		}
		entries = append(entries, &github.TreeEntry{
			Path: github.String(c.Path), Mode: github.String(c.mode), Type: github.String("blob"), SHA: blob.SHA,
		})
	}
	tree, _, err := a.c.Git.CreateTree(a.ctx, a.owner, a.repo, baseTree, entries)
	if err != nil {
		return "", a.fail("writing the tree", err, false)
	}
	return tree.GetSHA(), nil
}

// writeBranch makes the commit on the base head and points the branch at it.
func (a *prAPI) writeBranch(opts PROptions, baseHead, baseTree string, changed []change, exists bool, oldHead string) (string, error) {
	tree, err := a.tree(baseTree, changed)
	if err != nil {
		return "", err
	}
	commit := &github.Commit{
		Message: github.String(sealed(opts.Message, opts.Trailer, tree)),
		Tree:    &github.Tree{SHA: github.String(tree)},
		Parents: []*github.Commit{{SHA: github.String(baseHead)}},
	}
	if opts.Author != (Author{}) {
		commit.Author = &github.CommitAuthor{Name: github.String(opts.Author.Name), Email: github.String(opts.Author.Email)}
	}
	made, _, err := a.c.Git.CreateCommit(a.ctx, a.owner, a.repo, commit, nil)
	if err != nil {
		return "", a.fail("writing the commit", err, false)
	}
	sha := made.GetSHA()
	ref := "refs/heads/" + opts.Branch
	if !exists {
		_, _, err = a.c.Git.CreateRef(a.ctx, a.owner, a.repo, &github.Reference{Ref: github.String(ref), Object: &github.GitObject{SHA: github.String(sha)}})
		if err != nil {
			failed := a.fail(fmt.Sprintf("creating branch %q", opts.Branch), err, false)
			if refExists(err) {
				return "", fmt.Errorf("%w: %w", errBranchRace, failed)
			}
			return "", failed
		}
		a.wrote = true
		return sha, nil
	}
	// The branch was inspected and holds only cascade's commits. The API
	// has no compare-and-swap, so re-read it right before the forced
	// update: if it moved since, someone else may have pushed to it.
	now, _, err := a.ref(opts.Branch)
	if err != nil {
		return "", err
	}
	if now != oldHead {
		return "", exitcode.AsTransient(fmt.Errorf("pull request on %s/%s: branch %q moved while cascade was updating it; not force-updating", a.owner, a.repo, opts.Branch))
	}
	_, _, err = a.c.Git.UpdateRef(a.ctx, a.owner, a.repo, &github.Reference{Ref: github.String(ref), Object: &github.GitObject{SHA: github.String(sha)}}, true)
	if err != nil {
		return "", a.fail(fmt.Sprintf("updating branch %q", opts.Branch), err, false)
	}
	a.wrote = true
	return sha, nil
}

// openOrUpdate opens the pull request, or updates the open one's text.
func (a *prAPI) openOrUpdate(opts PROptions, res PRResult) (PRResult, error) {
	for try := 0; try < 2; try++ {
		open, _, err := a.c.PullRequests.List(a.ctx, a.owner, a.repo, &github.PullRequestListOptions{
			State: "open", Head: a.owner + ":" + opts.Branch, Base: opts.Base,
		})
		if err != nil {
			return res, a.fail("listing pull requests", err, false)
		}
		if len(open) > 0 {
			pr := open[0]
			res.URL, res.Number = pr.GetHTMLURL(), pr.GetNumber()
			if pr.GetTitle() == opts.Title && pr.GetBody() == opts.Body {
				return res, nil
			}
			_, _, err := a.c.PullRequests.Edit(a.ctx, a.owner, a.repo, pr.GetNumber(), &github.PullRequest{
				Title: github.String(opts.Title), Body: github.String(opts.Body),
			})
			if err != nil {
				return res, a.fail(fmt.Sprintf("updating pull request #%d", pr.GetNumber()), err, false)
			}
			res.Updated = true
			return res, nil
		}
		if res.ForeignCommits {
			return res, nil // never open a pull request for a branch cascade does not own
		}
		pr, _, err := a.c.PullRequests.Create(a.ctx, a.owner, a.repo, &github.NewPullRequest{
			Title: github.String(opts.Title), Head: github.String(opts.Branch), Base: github.String(opts.Base),
			Body: github.String(opts.Body), MaintainerCanModify: github.Bool(true),
		})
		if err == nil {
			res.URL, res.Number, res.Created = pr.GetHTMLURL(), pr.GetNumber(), true
			return res, nil
		}
		if !alreadyExists(err) {
			return res, a.fail("opening the pull request", err, false)
		}
		// Another run opened it in between: update that one.
	}
	return res, exitcode.AsPartial(fmt.Errorf("pull request on %s/%s: branch %q: a pull request exists but is not listed", a.owner, a.repo, opts.Branch))
}

func alreadyExists(err error) bool {
	var er *github.ErrorResponse
	if !errors.As(err, &er) || er.Response.StatusCode != http.StatusUnprocessableEntity {
		return false
	}
	return slices.ContainsFunc(er.Errors, func(e github.Error) bool {
		return len(e.Message) > 0 && strings.Contains(strings.ToLower(e.Message), "already exists")
	})
}

// refExists reports GitHub's answer to creating a ref that exists.
func refExists(err error) bool {
	var er *github.ErrorResponse
	return errors.As(err, &er) && er.Response.StatusCode == http.StatusUnprocessableEntity &&
		strings.Contains(strings.ToLower(er.Message), "reference already exists")
}
