package writeback

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/imagecascade/cascade/internal/exitcode"
)

// PushOptions describes a push of the current HEAD.
type PushOptions struct {
	// Dir is the git working tree whose HEAD is pushed.
	Dir string
	// Remote is a remote name or URL; default "origin". Userinfo in a URL
	// is taken out of the URL and sent as an Authorization header instead.
	Remote string
	// Branch is the remote branch to update; required.
	Branch string
	// Attempts bounds the pushes; default 5.
	Attempts int
	// Reapply recomputes the edit on a fresh tree after a lost race
	// ("recompute, don't replay") and returns the changed paths. Without
	// it a lost race cannot be retried.
	Reapply func(ctx context.Context, dir string) ([]string, error)
	// Commit gives message, trailer and author of the commit made after
	// Reapply; Dir and Paths are filled in.
	Commit CommitOptions
	// Token, when set, authenticates HTTPS pushes as
	// "Authorization: Basic base64(x-access-token:<Token>)", passed to git
	// through GIT_CONFIG_* environment variables and scoped to the
	// remote's host. It never appears in argv, URLs or errors.
	Token string
	// TempDir is where the private worktree of a retry is made; default
	// os.TempDir().
	TempDir string
	// Backoff is the first wait before a retry, doubled per attempt with
	// jitter and capped at 5s; default 250ms.
	Backoff time.Duration
}

// Result is the outcome of Push.
type Result struct {
	// Commit is the commit the remote branch holds when Push returns
	// without error: ours when Pushed, the remote's when NoOp.
	Commit string
	// Pushed is true only when the remote accepted a new commit.
	Pushed bool
	// Attempts is the number of pushes tried.
	Attempts int
	// NoOp is true when there was nothing to push: the remote already had
	// HEAD, or after a lost race Reapply found the change already made.
	NoOp bool
	// Diverged is true when the push was retried after a lost race: the
	// remote holds Commit, recomputed on the remote's tree in a private
	// worktree, while the person's checkout and branch keep cascade's first
	// commit (their working tree is never reset or checked out). "git pull
	// --rebase" reconciles them.
	Diverged bool
}

// PushError is a push that did not land. Its message holds the server's
// answer with secrets redacted.
type PushError struct {
	Branch   string
	Attempts int
	// LostRace is true when every attempt lost a race to another push.
	LostRace bool
	// Server is the remote's redacted answer.
	Server string
}

func (e *PushError) Error() string {
	what := "rejected"
	if e.LostRace {
		what = fmt.Sprintf("lost the race to another push %d times", e.Attempts)
	}
	return fmt.Sprintf("pushing to branch %q: %s: %s", e.Branch, what, e.Server)
}

// Push pushes HEAD to opts.Branch. When the push loses a race (the remote
// moved: non-fast-forward, "fetch first", or a server hook saying so) it
// fetches the branch into a private worktree in a temporary folder (git
// worktree add --detach, removed on every exit path), calls Reapply there
// to recompute the edit, commits there and pushes that commit, up to
// opts.Attempts pushes with jittered backoff. If Reapply finds nothing to
// change, the remote already has the edit: success with NoOp and no commit.
//
// The person's checkout is never reset, checked out or cleaned: its working
// tree, index and branch stay as they were plus cascade's first commit. The
// branch is not moved to the recomputed commit, because that commit does
// not descend from it (it cannot be fast-forwarded) and moving it would
// make the working tree disagree with HEAD; Result.Diverged says so.
//
// Error classes (exitcode): nothing is ever written to the remote when Push
// fails, so a lost race with attempts exhausted, or a connection failure,
// is AsTransient (exit 4: safe to re-run); a rejection for any other reason
// (hook policy, protected branch, authentication) is AsPartial (exit 3:
// the local commit exists, the remote refused it, and a re-run will not fix
// that by itself). Result.Pushed is never true unless git reported the
// remote ref updated.
func Push(ctx context.Context, opts PushOptions) (Result, error) {
	if opts.Dir == "" || opts.Branch == "" {
		return Result{}, exitcode.AsInvalid(errors.New("pushing: Dir and Branch are required"))
	}
	if opts.Remote == "" {
		opts.Remote = "origin"
	}
	if opts.Attempts <= 0 {
		opts.Attempts = 5
	}
	if opts.Backoff <= 0 {
		opts.Backoff = 250 * time.Millisecond
	}
	g := newGit(opts.Dir)
	remote, err := g.remote(ctx, opts.Remote, opts.Token)
	if err != nil {
		return Result{}, err
	}
	dst := "refs/heads/" + opts.Branch
	var res Result
	// pusher is the tree whose HEAD is pushed: the person's checkout first,
	// then, after a lost race, cascade's private worktree.
	pusher := g
	var priv *privateTree
	defer func() {
		if priv != nil {
			priv.remove()
		}
	}()
	for attempt := 1; ; attempt++ {
		res.Attempts = attempt
		head, err := pusher.run(ctx, nil, "rev-parse", "HEAD")
		if err != nil {
			return res, fmt.Errorf("pushing: %w", err)
		}
		head = strings.TrimSpace(head)
		out, errOut, err := pusher.exec(ctx, nil, "push", "--porcelain", remote, head+":"+dst)
		if ctx.Err() != nil {
			return res, exitcode.AsTransient(fmt.Errorf("pushing to branch %q: %w", opts.Branch, ctx.Err()))
		}
		flag := porcelainFlag(out, dst)
		if err == nil && flag != '!' {
			res.Commit = head
			if flag == '=' {
				res.NoOp = true
			} else {
				res.Pushed = true
			}
			res.Diverged = pusher != g
			return res, nil
		}
		answer := g.redact(serverMessage(out, errOut))
		switch classify(out + "\n" + errOut) {
		case rejected:
			return res, exitcode.AsPartial(&PushError{Branch: opts.Branch, Attempts: attempt, Server: answer})
		case unreachable:
			return res, exitcode.AsTransient(&PushError{Branch: opts.Branch, Attempts: attempt, Server: answer})
		}
		if attempt >= opts.Attempts {
			return res, exitcode.AsTransient(&PushError{Branch: opts.Branch, Attempts: attempt, LostRace: true, Server: answer})
		}
		if opts.Reapply == nil {
			return res, exitcode.AsTransient(fmt.Errorf("%w (no Reapply to recompute the edit on the new remote tree)",
				&PushError{Branch: opts.Branch, Attempts: attempt, LostRace: true, Server: answer}))
		}
		if err := sleep(ctx, jitter(opts.Backoff, attempt)); err != nil {
			return res, exitcode.AsTransient(fmt.Errorf("pushing to branch %q: %w", opts.Branch, err))
		}
		if priv != nil {
			priv.remove()
		}
		var remoteHead string
		var paths []string
		priv, remoteHead, paths, err = refresh(ctx, g, remote, dst, opts.TempDir, opts.Reapply)
		if err != nil {
			return res, err
		}
		pusher = priv.g
		co := opts.Commit
		co.Dir, co.Paths = priv.work, paths
		if strings.TrimSpace(co.Message) == "" {
			co.Message = "cascade: re-apply update"
		}
		commit, err := Commit(ctx, co)
		if err != nil {
			return res, fmt.Errorf("pushing: re-applying after a lost race: %w", err)
		}
		if commit == "" {
			res.Commit, res.NoOp, res.Diverged = remoteHead, true, true
			return res, nil
		}
	}
}

// privateTree is a detached worktree of the person's repository in a
// temporary folder, where cascade recomputes its edit after a lost race.
// The person's working tree, index and branches are never touched by it.
type privateTree struct {
	owner *git   // the person's repository, to unregister the worktree
	dir   string // the worktree's root
	work  string // the folder matching the person's Dir in it
	tmp   string
	g     *git
}

// remove deletes the worktree and its registration, on every path. It uses
// a fresh context: cleaning up must not depend on the run's cancelation.
func (p *privateTree) remove() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, _ = p.owner.run(ctx, nil, "worktree", "remove", "--force", p.dir)
	_ = os.RemoveAll(p.tmp)
	_, _ = p.owner.run(ctx, nil, "worktree", "prune")
}

// refresh fetches the remote branch, checks it out in a new private
// worktree (never in the person's checkout) and recomputes the edit there.
// It returns the worktree, the remote head and the changed paths; on error
// the worktree is already removed.
func refresh(ctx context.Context, g *git, remote, dst, tempDir string, reapply func(context.Context, string) ([]string, error)) (*privateTree, string, []string, error) {
	if _, err := g.run(ctx, nil, "fetch", "--quiet", "--no-tags", remote, dst); err != nil {
		return nil, "", nil, exitcode.AsTransient(fmt.Errorf("pushing: fetching after a lost race: %w", err))
	}
	head, err := g.run(ctx, nil, "rev-parse", "--verify", "FETCH_HEAD^{commit}")
	if err != nil {
		return nil, "", nil, fmt.Errorf("pushing: %w", err)
	}
	head = strings.TrimSpace(head)
	tmp, err := os.MkdirTemp(tempDir, "cascade-push-")
	if err != nil {
		return nil, "", nil, fmt.Errorf("pushing: making a private worktree: %w", err)
	}
	p := &privateTree{owner: g, tmp: tmp, dir: filepath.Join(tmp, "tree")}
	// No hooks: a post-checkout hook is the person's, for their checkout.
	if _, err := g.run(ctx, nil, "-c", "core.hooksPath="+os.DevNull, "worktree", "add", "--quiet", "--detach", p.dir, head); err != nil {
		p.remove()
		return nil, "", nil, fmt.Errorf("pushing: making a private worktree at the remote branch: %w", err)
	}
	// The person's Dir may be a folder inside the repository: recompute in
	// the same folder of the private worktree.
	prefix, err := g.run(ctx, nil, "rev-parse", "--show-prefix")
	if err != nil {
		p.remove()
		return nil, "", nil, fmt.Errorf("pushing: %w", err)
	}
	p.work = filepath.Join(p.dir, filepath.FromSlash(strings.TrimSpace(prefix)))
	p.g = g.at(p.work)
	paths, err := reapply(ctx, p.work)
	if err != nil {
		p.remove()
		return nil, "", nil, fmt.Errorf("pushing: re-applying the edit on the fresh tree: %w", err)
	}
	return p, head, paths, nil
}

// remote resolves the remote to push to. Userinfo in a URL remote is taken
// out of the URL (argv never carries it) and sent as an Authorization
// header scoped to the remote's host, as is a token; both are redacted from
// every message.
func (g *git) remote(ctx context.Context, remote, token string) (string, error) {
	g.addSecret(token)
	raw := remote
	if !strings.Contains(remote, "://") {
		if u, err := g.run(ctx, nil, "remote", "get-url", "--push", remote); err == nil {
			raw = strings.TrimSpace(u)
		}
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return remote, nil // a path or scp-like ssh remote: git's own configuration applies
	}
	user, password := "x-access-token", token
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		userinfo := rest[:at]
		name, pass, hasPass := strings.Cut(userinfo, ":")
		name, pass = unescape(name), unescape(pass)
		rest = rest[at+1:]
		switch {
		case hasPass:
			g.addSecret(pass)
			g.addSecret(userinfo)
			if password == "" {
				user, password = name, pass
			}
		case strings.EqualFold(scheme, "http") || strings.EqualFold(scheme, "https"):
			// A bare token as the user name ("https://TOKEN@host/...").
			g.addSecret(name)
			if password == "" {
				password = name
			}
		}
	}
	host, _, _ := strings.Cut(rest, "/")
	clean := scheme + "://" + rest
	if !strings.EqualFold(scheme, "http") && !strings.EqualFold(scheme, "https") {
		if remote == raw {
			return clean, nil
		}
		return remote, nil
	}
	g.withAuth(strings.ToLower(scheme)+"://"+host+"/", user, password)
	if remote == raw {
		return clean, nil
	}
	return remote, nil
}

func unescape(s string) string {
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}

// porcelainFlag is the status flag git push --porcelain printed for dst:
// ' ' fast-forward, '+' forced, '*' new, '=' up to date, '!' rejected; 0
// when absent.
func porcelainFlag(out, dst string) byte {
	for _, line := range strings.Split(out, "\n") {
		fields := strings.Split(line, "\t")
		if len(fields) >= 2 && len(fields[0]) == 1 && strings.HasSuffix(fields[1], ":"+dst) {
			return fields[0][0]
		}
	}
	return 0
}

type pushFailure int

const (
	lostRace pushFailure = iota
	rejected
	unreachable
)

var (
	raceMarkers = []string{
		"fetch first", "non-fast-forward", "not a fast forward", "failed to update ref",
		"cannot lock ref", "stale info", "incorrect old value",
	}
	unreachableMarkers = []string{
		"could not resolve host", "connection refused", "failed to connect", "timed out",
		"connection reset", "the remote end hung up", "early eof", "could not read from remote repository",
		"http 5", "the requested url returned error: 5", "unable to access",
	}
	authMarkers = []string{
		"authentication failed", "could not read username", "could not read password",
		"terminal prompts disabled", "permission denied", "returned error: 401", "returned error: 403",
	}
)

// classify decides whether a failed push lost a race, was refused, or never
// reached the server.
func classify(output string) pushFailure {
	lower := strings.ToLower(output)
	has := func(markers []string) bool {
		for _, m := range markers {
			if strings.Contains(lower, m) {
				return true
			}
		}
		return false
	}
	switch {
	case has(authMarkers):
		return rejected
	case has(raceMarkers):
		return lostRace
	case has(unreachableMarkers):
		return unreachable
	}
	return rejected
}

// serverMessage keeps what the remote said (rejection lines, remote:
// output, errors) and drops git's hints and progress.
func serverMessage(stdout, stderr string) string {
	var keep []string
	for _, line := range strings.Split(stdout+"\n"+stderr, "\n") {
		line = strings.TrimRight(line, " \r")
		switch {
		case line == "", line == "Done", strings.HasPrefix(line, "hint:"), strings.HasPrefix(line, "To "):
			continue
		case strings.HasPrefix(line, "!\t"):
			f := strings.Split(line, "\t")
			line = strings.Join(f[1:], " ")
		}
		keep = append(keep, strings.TrimSpace(line))
	}
	return strings.Join(keep, "; ")
}

func jitter(base time.Duration, attempt int) time.Duration {
	d := base << (attempt - 1)
	if d > 5*time.Second || d <= 0 {
		d = 5 * time.Second
	}
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
