package wire

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/githubapi"
	"github.com/imagecascade/cascade/internal/imageref"
	"github.com/imagecascade/cascade/internal/manifests"
	"github.com/imagecascade/cascade/internal/redact"
	"github.com/imagecascade/cascade/internal/report"
	"github.com/imagecascade/cascade/internal/writeback"
	"github.com/imagecascade/cascade/internal/wslock"
)

// Write selects how changed manifests leave the workspace.
type Write struct {
	// Mode is none (also when empty), commit or pull-request.
	Mode string
	// Push pushes the commit (Mode commit); a lost race is retried.
	Push bool
	// Branch is the remote branch to push (default: the current one).
	Branch string
	// Repository is owner/name, for a pull request.
	Repository string
	// Base is the branch a pull request merges into (default: the
	// repository's default branch).
	Base string
	// token authenticates pushes and pull requests (Options.GitHubToken).
	token string
	// apiURL is Options.GitHubAPIURL.
	apiURL string
}

func (w Write) mode() string {
	if w.Mode == "" {
		return "none"
	}
	return w.Mode
}

func (w Write) validate(token string) error {
	switch w.mode() {
	case "none", "commit", "pull-request":
	default:
		return exitcode.AsInvalid(fmt.Errorf("--write %q: want none, commit or pull-request", w.Mode))
	}
	if w.Push && w.mode() != "commit" {
		return exitcode.AsInvalid(fmt.Errorf("--push goes with --write commit"))
	}
	if w.mode() == "pull-request" {
		if _, _, err := w.ownerRepo(); err != nil {
			return err
		}
		if token == "" {
			return exitcode.AsInvalid(fmt.Errorf("--write pull-request needs a token in GITHUB_TOKEN or CASCADE_GITHUB_TOKEN"))
		}
	}
	return nil
}

func (w Write) ownerRepo() (string, string, error) {
	owner, name, ok := strings.Cut(w.Repository, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return "", "", exitcode.AsInvalid(fmt.Errorf("--write pull-request: --repository (or GITHUB_REPOSITORY) must be owner/name, got %q", w.Repository))
	}
	return owner, name, nil
}

// lock returns the write guard of run.WorkspaceManifests (see prepareWrite).
func (w Write) lock(workspace string) func(context.Context, func(context.Context) (*manifests.Result, error)) (func(), error) {
	return func(ctx context.Context, planned func(context.Context) (*manifests.Result, error)) (func(), error) {
		return prepareWrite(ctx, w, workspace, planned)
	}
}

// writeBack returns the write-back of run.WorkspaceManifests.
func (o Options) writeBack(workspace string) func(context.Context, imageref.Ref, *manifests.Result, func(context.Context, string) ([]string, error)) (*report.WriteBack, error) {
	w := o.Write
	w.token, w.apiURL = o.GitHubToken, o.GitHubAPIURL
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
// otherwise carry the person's edit. planned computes the update without
// writing; it runs only when the workspace has uncommitted changes.
func prepareWrite(ctx context.Context, w Write, workspace string, planned func(context.Context) (*manifests.Result, error)) (release func(), err error) {
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
	if w.mode() != "commit" {
		return release, nil
	}
	dirty, err := writeback.Uncommitted(ctx, workspace, nil)
	if err != nil || len(dirty) == 0 {
		return release, err
	}
	res, err := planned(ctx)
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
// workspace as w says. reapply recomputes the update on a fresh tree after
// a lost push race.
func writeBack(ctx context.Context, w Write, workspace string, ref imageref.Ref, res *manifests.Result,
	reapply func(ctx context.Context, dir string) ([]string, error)) (*report.WriteBack, error) {
	changed := res.Changed()
	out := &report.WriteBack{Mode: w.mode()}
	if w.mode() == "none" || len(changed) == 0 {
		return out, nil
	}
	image := ref.Short()
	digest := string(ref.Digest)
	// Commit messages and pull request text leave the machine: the run's
	// redactor sees them first (the trailer is cascade's own fixed text).
	rd := redact.FromContext(ctx)
	msg := rd.Text(writeback.Message(image, digest, changed))
	trailer := writeback.Trailer(image, digest)
	switch w.mode() {
	case "commit":
		commit, err := writeback.Commit(ctx, writeback.CommitOptions{Dir: workspace, Paths: changed, Message: msg, Trailer: trailer})
		if err != nil {
			return out, fmt.Errorf("committing: %w", err)
		}
		out.Commit = commit
		if !w.Push {
			return out, nil
		}
		branch := w.Branch
		if branch == "" {
			b, err := currentBranch(ctx, workspace)
			if err != nil {
				return out, err
			}
			branch = b
		}
		out.Branch = branch
		r, err := writeback.Push(ctx, writeback.PushOptions{
			Dir: workspace, Branch: branch, Reapply: reapply, Token: w.token,
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
		// One URL validation, the outbound policy and retried reads, as
		// the dispatcher's client.
		client, err := githubapi.NewClient(githubapi.Options{Token: w.token, APIURL: w.apiURL})
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
			Client: client, Owner: owner, Repo: repo, Base: w.Base,
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
