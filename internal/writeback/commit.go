package writeback

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/imagecascade/cascade/internal/exitcode"
)

// Author is a commit identity.
type Author struct {
	Name  string
	Email string
}

// DefaultAuthor signs commits when neither CommitOptions.Author nor the
// repository's git configuration gives an identity.
var DefaultAuthor = Author{Name: "cascade", Email: "cascade@users.noreply.github.com"}

// CommitOptions describes one commit of changed files.
type CommitOptions struct {
	// Dir is the git working tree.
	Dir string
	// Paths are the changed files, slash-separated and relative to Dir.
	// Only they are staged and committed, whatever else the tree holds.
	Paths []string
	// Message is the subject and body (see Message); required.
	Message string
	// Trailer identifies cascade (see Trailer); it is appended as the last
	// paragraph unless Message already ends with it.
	Trailer string
	// Author signs the commit as author and committer. Zero means the
	// repository's configured user, else DefaultAuthor.
	Author Author
}

// Commit stages opts.Paths and commits them with the real git CLI. It
// returns the new commit id, or "" when the paths hold no change (a no-op
// is a success: no commit is made).
func Commit(ctx context.Context, opts CommitOptions) (string, error) {
	if opts.Dir == "" || strings.TrimSpace(opts.Message) == "" {
		return "", exitcode.AsInvalid(errors.New("committing: Dir and Message are required"))
	}
	if len(opts.Paths) == 0 {
		return "", nil
	}
	for _, p := range opts.Paths {
		if err := checkPath(p); err != nil {
			return "", fmt.Errorf("committing: %w", err)
		}
	}
	g := newGit(opts.Dir)
	if err := g.identity(ctx, opts.Author); err != nil {
		return "", err
	}
	add := append([]string{"add", "--all", "--"}, opts.Paths...)
	if _, err := g.run(ctx, nil, add...); err != nil {
		return "", fmt.Errorf("committing: staging: %w", err)
	}
	diff := append([]string{"diff", "--cached", "--quiet", "--"}, opts.Paths...)
	if _, err := g.run(ctx, nil, diff...); err == nil {
		return "", nil
	} else if exitCode(err) != 1 {
		return "", fmt.Errorf("committing: %w", err)
	}
	msg := withTrailer(opts.Message, opts.Trailer)
	commit := append([]string{"commit", "--quiet", "--no-gpg-sign", "--cleanup=whitespace", "-F", "-", "--"}, opts.Paths...)
	if _, err := g.run(ctx, []byte(msg), commit...); err != nil {
		return "", fmt.Errorf("committing: %w", err)
	}
	head, err := g.run(ctx, nil, "rev-parse", "HEAD")
	if err != nil {
		return "", fmt.Errorf("committing: %w", err)
	}
	return strings.TrimSpace(head), nil
}

// identity sets author and committer through the environment: a, else
// the configured user, else DefaultAuthor.
func (g *git) identity(ctx context.Context, a Author) error {
	if a == (Author{}) {
		name, _ := g.run(ctx, nil, "config", "user.name")
		email, _ := g.run(ctx, nil, "config", "user.email")
		if strings.TrimSpace(name) != "" && strings.TrimSpace(email) != "" {
			return nil
		}
		a = DefaultAuthor
	}
	if a.Name == "" || a.Email == "" {
		return exitcode.AsInvalid(fmt.Errorf("committing: author needs a name and an email, got %q <%s>", a.Name, a.Email))
	}
	g.env = append(g.env,
		"GIT_AUTHOR_NAME="+a.Name, "GIT_AUTHOR_EMAIL="+a.Email,
		"GIT_COMMITTER_NAME="+a.Name, "GIT_COMMITTER_EMAIL="+a.Email)
	return nil
}

// checkPath refuses paths that are not clean, relative and inside the tree.
func checkPath(p string) error {
	clean := path.Clean(p)
	switch {
	case p == "" || clean != p || clean == "." || strings.HasPrefix(p, "/") || strings.Contains(p, "\\"):
		return exitcode.AsRefused(fmt.Errorf("path %q: want a clean relative slash path", p))
	case clean == ".." || strings.HasPrefix(clean, "../"):
		return exitcode.AsRefused(fmt.Errorf("path %q leaves the workspace", p))
	}
	for _, part := range strings.Split(clean, "/") {
		if strings.EqualFold(part, ".git") {
			return exitcode.AsRefused(fmt.Errorf("path %q is inside .git", p))
		}
	}
	return nil
}

// Uncommitted returns those of paths (slash-separated, relative to dir)
// that have changes git does not hold in HEAD: staged or unstaged edits,
// or untracked files; nil paths means every file under dir. --write commit
// refuses to change such a file, so that a person's uncommitted edit is
// never swept into cascade's commit.
func Uncommitted(ctx context.Context, dir string, paths []string) ([]string, error) {
	if paths == nil {
		paths = []string{"."}
	} else if len(paths) == 0 {
		return nil, nil
	}
	for _, p := range paths {
		if p == "." {
			continue
		}
		if err := checkPath(p); err != nil {
			return nil, fmt.Errorf("checking for uncommitted changes: %w", err)
		}
	}
	g := newGit(dir)
	var lists []string
	run := func(args ...string) error {
		out, err := g.run(ctx, nil, append(args, append([]string{"--"}, paths...)...)...)
		lists = append(lists, out)
		return err
	}
	var err error
	if _, herr := g.run(ctx, nil, "rev-parse", "--verify", "--quiet", "HEAD^{commit}"); herr == nil {
		err = run("diff", "--name-only", "--relative", "--no-renames", "-z", "HEAD")
	} else {
		err = errors.Join(run("diff", "--cached", "--name-only", "--relative", "--no-renames", "-z"),
			run("diff", "--name-only", "--relative", "--no-renames", "-z"))
	}
	if err == nil {
		err = run("ls-files", "--others", "--exclude-standard", "-z")
	}
	if err != nil {
		return nil, fmt.Errorf("checking for uncommitted changes: %w", err)
	}
	seen := map[string]bool{}
	var out []string
	for _, l := range lists {
		for _, p := range strings.Split(l, "\x00") {
			if p != "" && !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	slices.Sort(out)
	return out, nil
}
