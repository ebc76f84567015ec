package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/google/go-github/v60/github"
	"github.com/spf13/cobra"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/githubapi"
	"github.com/imagecascade/cascade/internal/imageref"
	"github.com/imagecascade/cascade/internal/manifests"
	"github.com/imagecascade/cascade/internal/redact"
	"github.com/imagecascade/cascade/internal/report"
	"github.com/imagecascade/cascade/internal/writeback"
	"github.com/imagecascade/cascade/internal/wslock"
)

// writeFlags select how changed manifests leave the workspace.
type writeFlags struct {
	write        string
	push         bool
	branch       string
	repository   string
	githubAPIURL string
	baseBranch   string
}

func (w *writeFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&w.write, "write", "none", "write-back: none (changes stay in the workspace), commit (a git commit of cascade's changes only: refused, exit 2, before anything is written when a file to change has uncommitted edits), pull-request (a commit on branch cascade/<image>-<digest12> and a PR, via the GitHub API)")
	fl.BoolVar(&w.push, "push", false, "with --write commit: push the commit; a lost race is retried on the fresh tree")
	fl.StringVar(&w.branch, "branch", "", "with --push: the remote branch (default: the current branch)")
	fl.StringVar(&w.repository, "repository", "", "with --write pull-request: owner/name (default: $GITHUB_REPOSITORY)")
	fl.StringVar(&w.baseBranch, "base", "", "with --write pull-request: the branch to merge into (default: the repository's default branch)")
	fl.StringVar(&w.githubAPIURL, "github-api-url", "", "GitHub API URL for GitHub Enterprise (default: $GITHUB_API_URL, else https://api.github.com/)")
}

func (w *writeFlags) validate() error {
	switch w.write {
	case "none", "commit", "pull-request":
	default:
		return exitcode.AsInvalid(fmt.Errorf("--write %q: want none, commit or pull-request", w.write))
	}
	if w.push && w.write != "commit" {
		return exitcode.AsInvalid(fmt.Errorf("--push goes with --write commit"))
	}
	if w.write == "pull-request" {
		if _, _, err := w.ownerRepo(); err != nil {
			return err
		}
		if githubToken() == "" {
			return exitcode.AsInvalid(fmt.Errorf("--write pull-request needs a token in GITHUB_TOKEN or CASCADE_GITHUB_TOKEN"))
		}
	}
	return nil
}

func (w *writeFlags) ownerRepo() (string, string, error) {
	r := w.repository
	if r == "" {
		r = os.Getenv("GITHUB_REPOSITORY")
	}
	owner, name, ok := strings.Cut(r, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return "", "", exitcode.AsInvalid(fmt.Errorf("--write pull-request: --repository (or GITHUB_REPOSITORY) must be owner/name, got %q", r))
	}
	return owner, name, nil
}

// githubToken reads the token the way docs/contract.md ("Environment") says: CASCADE_GITHUB_TOKEN,
// else GITHUB_TOKEN. It is never a flag, so it never reaches argv.
func githubToken() string {
	if t := os.Getenv("CASCADE_GITHUB_TOKEN"); t != "" {
		return t
	}
	return os.Getenv("GITHUB_TOKEN")
}

// githubClient builds the GitHub client for apiURL (GitHub Enterprise) or
// GitHub itself, the same way the dispatcher does (githubapi: one URL
// validation, the outbound policy, retried reads).
func githubClient(apiURL string) (*github.Client, error) {
	if apiURL == "" {
		apiURL = os.Getenv("GITHUB_API_URL")
	}
	return githubapi.NewClient(githubapi.Options{Token: githubToken(), APIURL: apiURL})
}

// lock returns the write guard of run.WorkspaceManifests for these flags
// (see prepareWrite).
func (w writeFlags) lock(workspace string) func(context.Context, *manifests.Result) (func(), error) {
	return func(ctx context.Context, planned *manifests.Result) (func(), error) {
		return prepareWrite(ctx, w, workspace, func(context.Context) (*manifests.Result, error) { return planned, nil })
	}
}

// writeBack returns the write-back of run.WorkspaceManifests for these
// flags.
func (w writeFlags) writeBack(workspace string) func(context.Context, imageref.Ref, *manifests.Result, func(context.Context, string) ([]string, error)) (*report.WriteBack, error) {
	return func(ctx context.Context, ref imageref.Ref, res *manifests.Result, reapply func(context.Context, string) ([]string, error)) (*report.WriteBack, error) {
		return writeBack(ctx, w, workspace, ref, res, reapply)
	}
}

// prepareWrite starts the write phase of a run that changes the workspace.
// It locks the workspace against other cascade runs (see internal/wslock),
// so that concurrent runs take turns and each pins on the other's result;
// the returned release ends the lock and must be called on every path.
// With --write commit it then refuses (exit 2, nothing written) when a file
// the update would change has uncommitted changes — cascade's commit would
// otherwise carry the person's edit. dryRun computes the update without
// writing; it runs only when the workspace has uncommitted changes.
func prepareWrite(ctx context.Context, w writeFlags, workspace string, dryRun func(context.Context) (*manifests.Result, error)) (release func(), err error) {
	lock, err := wslock.Acquire(ctx, workspace, 0)
	if err != nil {
		return func() {}, err
	}
	release = func() { _ = lock.Release() }
	defer func() {
		if err != nil {
			release()
			release = func() {}
		}
	}()
	if w.write != "commit" {
		return release, nil
	}
	dirty, err := writeback.Uncommitted(ctx, workspace, nil)
	if err != nil || len(dirty) == 0 {
		return release, err
	}
	res, err := dryRun(ctx)
	if err != nil {
		return release, err
	}
	isDirty := map[string]bool{}
	for _, p := range dirty {
		isDirty[p] = true
	}
	var both []string
	for _, p := range res.Changed() {
		if isDirty[p] {
			both = append(both, p)
		}
	}
	if len(both) > 0 {
		return release, exitcode.AsInvalid(fmt.Errorf("--write commit: %s %s uncommitted changes that cascade's commit would carry; nothing was written: commit or stash them, or use --write none or pull-request",
			strings.Join(both, ", "), map[bool]string{true: "has", false: "have"}[len(both) == 1]))
	}
	return release, nil
}

// writeBack takes the files the manifest update changed out of the
// workspace as --write says. reapply recomputes the update on a fresh tree
// after a lost push race.
func writeBack(ctx context.Context, w writeFlags, workspace string, ref imageref.Ref, res *manifests.Result,
	reapply func(ctx context.Context, dir string) ([]string, error)) (*report.WriteBack, error) {
	changed := res.Changed()
	out := &report.WriteBack{Mode: w.write}
	if w.write == "none" || len(changed) == 0 {
		return out, nil
	}
	image := ref.Short()
	digest := string(ref.Digest)
	// Commit messages and pull request text leave the machine: the run's
	// redactor sees them first (the trailer is cascade's own fixed text).
	rd := redact.FromContext(ctx)
	msg := rd.Text(writeback.Message(image, digest, changed))
	trailer := writeback.Trailer(image, digest)
	switch w.write {
	case "commit":
		commit, err := writeback.Commit(ctx, writeback.CommitOptions{Dir: workspace, Paths: changed, Message: msg, Trailer: trailer})
		if err != nil {
			return out, fmt.Errorf("committing: %w", err)
		}
		out.Commit = commit
		if !w.push {
			return out, nil
		}
		branch := w.branch
		if branch == "" {
			b, err := currentBranch(ctx, workspace)
			if err != nil {
				return out, err
			}
			branch = b
		}
		out.Branch = branch
		r, err := writeback.Push(ctx, writeback.PushOptions{
			Dir: workspace, Branch: branch, Reapply: reapply, Token: githubToken(),
			Commit: writeback.CommitOptions{Message: msg, Trailer: trailer},
		})
		out.Attempts = r.Attempts
		if err != nil {
			return out, err
		}
		out.Pushed, out.Commit = r.Pushed, r.Commit
		switch {
		case r.NoOp:
			out.Note = "the remote already had this change"
		case r.Diverged:
			out.Note = "the push lost a race: the change was recomputed on the remote's new tree and pushed from a private worktree; this checkout keeps cascade's first commit (git pull --rebase reconciles it)"
		}
		return out, nil
	default: // pull-request
		owner, repo, err := w.ownerRepo()
		if err != nil {
			return out, err
		}
		client, err := githubClient(w.githubAPIURL)
		if err != nil {
			return out, err
		}
		files, err := readChanged(workspace, changed)
		if err != nil {
			return out, err
		}
		body := fmt.Sprintf("cascade pinned `%s` to `%s` in:\n\n", image, digest)
		for _, p := range changed {
			body += "- `" + p + "`\n"
		}
		body = rd.Text(body) + "\n" + trailer + "\n"
		pr, err := writeback.PullRequest(ctx, writeback.PROptions{
			Client: client, Owner: owner, Repo: repo, Base: w.baseBranch,
			Branch: writeback.BranchName(image, digest), Files: files,
			Title: rd.Text(writeback.Subject(image, digest)), Body: body, Message: msg, Trailer: trailer,
		})
		out.PR, out.Branch, out.Commit = pr.URL, pr.Branch, pr.Commit
		if pr.ForeignCommits {
			out.Note = "the branch has commits cascade did not make: left alone, only the pull request text was updated"
			if err == nil {
				// The pin did not reach the branch: that write-back failed,
				// and says what would let the next run land it.
				err = exitcode.AsPartial(fmt.Errorf("pull request branch %s holds commits cascade did not make (an amend, a fixup, a person's commit): cascade never force-updates it, so this pin was not written there; merge or close that pull request (or delete the branch) and run again", pr.Branch))
			}
		}
		return out, err
	}
}

func readChanged(workspace string, paths []string) ([]writeback.File, error) {
	root, err := os.OpenRoot(workspace)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	var files []writeback.File
	for _, p := range paths {
		f, err := root.Open(filepath.FromSlash(p))
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", p, err)
		}
		data, err := io.ReadAll(f)
		fi, serr := f.Stat()
		f.Close()
		if err != nil || serr != nil {
			return nil, fmt.Errorf("reading %s: %w", p, err)
		}
		files = append(files, writeback.File{Path: p, Content: data, Mode: fi.Mode()})
	}
	return files, nil
}

func currentBranch(ctx context.Context, dir string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", "-C", dir, "symbolic-ref", "--short", "HEAD")
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
	out, err := cmd.Output()
	if err != nil {
		return "", exitcode.AsInvalid(fmt.Errorf("--push: the workspace is not on a branch (detached HEAD?); pass --branch"))
	}
	return strings.TrimSpace(string(out)), nil
}
