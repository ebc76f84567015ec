// Package writeback writes pinned manifests back to where they came from: a
// git commit in the workspace (optionally pushed, recomputing the edit on
// the fresh remote tree when the push loses a race), or a pull request made
// through GitHub's Git Data API with one commit for all files on a
// deterministic branch.
//
// Every commit cascade makes carries a trailer ("Cascade-Update:
// <image>@<digest>"). A message is easy to keep by accident (git commit
// --amend, cherry-pick, rebase keep it), so on a pull request branch a
// commit is cascade's only if it also carries "Cascade-Tree: <tree id>"
// naming the very tree cascade produced for it, and that is the commit's
// tree, and it has one parent. A person's amend, fixup or rebase changes
// the tree, so the branch is then theirs: cascade never force-updates it
// (see PullRequest). Only a message-only amend (same tree) still counts as
// cascade's; force-updating over it loses no file content.
//
// The working tree is never reset, checked out or cleaned by cascade: a
// push that loses a race is recomputed in a private worktree (see Push),
// and --write commit refuses, before anything is written, to change a file
// that holds uncommitted changes (see Uncommitted), so cascade's commit
// only ever holds cascade's change.
//
// The package is quiet: it returns errors classified with internal/exitcode
// and never logs. Tokens never reach argv, URLs or error messages.
package writeback

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/imagecascade/cascade/internal/imageref"
)

// TrailerKey is the git trailer that marks a commit as cascade's.
const TrailerKey = "Cascade-Update"

// TreeKey is the trailer naming the tree cascade produced for a pull
// request commit; see the package doc.
const TreeKey = "Cascade-Tree"

// sealed returns msg with trailer and the Cascade-Tree line for tree in
// its trailer block.
func sealed(msg, trailer, tree string) string {
	return withTrailer(msg, trailer) + TreeKey + ": " + tree + "\n"
}

// isOwnCommit reports whether a pull request branch commit is cascade's:
// the cascade trailer, a Cascade-Tree line naming tree (the commit's
// actual tree), and a single parent.
func isOwnCommit(message, tree string, parents int) bool {
	if parents != 1 || tree == "" || !IsCascadeCommit(message) {
		return false
	}
	paras := strings.Split(strings.TrimRight(strings.ReplaceAll(message, "\r\n", "\n"), "\n"), "\n\n")
	for _, line := range strings.Split(paras[len(paras)-1], "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(k), TreeKey) {
			return strings.TrimSpace(v) == tree
		}
	}
	return false
}

// Trailer returns the trailer line for an update of image to digest:
// "Cascade-Update: <image>@<digest>".
func Trailer(image, digest string) string {
	return TrailerKey + ": " + image + "@" + digest
}

// Subject returns the commit subject for pinning image to digest:
// "cascade: pin <image> to <digest12>".
func Subject(image, digest string) string {
	return fmt.Sprintf("cascade: pin %s to %s", image, imageref.Digest(digest).Short())
}

// Message returns a commit message (subject and a body listing paths)
// without the trailer; Commit and PullRequest add the trailer.
func Message(image, digest string, paths []string) string {
	var b strings.Builder
	b.WriteString(Subject(image, digest))
	b.WriteString("\n\nPin " + image + " to " + digest + " in:\n\n")
	for _, p := range paths {
		b.WriteString("- " + p + "\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

// withTrailer appends trailer as the last paragraph of msg unless msg
// already ends with it.
func withTrailer(msg, trailer string) string {
	msg = strings.TrimRight(msg, "\n")
	if trailer == "" {
		return msg + "\n"
	}
	paras := strings.Split(msg, "\n\n")
	for _, line := range strings.Split(paras[len(paras)-1], "\n") {
		if strings.TrimSpace(line) == trailer {
			return msg + "\n"
		}
	}
	return msg + "\n\n" + trailer + "\n"
}

// IsCascadeCommit reports whether a commit message carries the cascade
// trailer in its trailer block (its last paragraph).
func IsCascadeCommit(message string) bool {
	paras := strings.Split(strings.TrimRight(strings.ReplaceAll(message, "\r\n", "\n"), "\n"), "\n\n")
	if len(paras) < 2 {
		return false
	}
	for _, line := range strings.Split(paras[len(paras)-1], "\n") {
		if k, _, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(k), TrailerKey) {
			return true
		}
	}
	return false
}

var (
	branchUnsafe = regexp.MustCompile(`[^a-z0-9._/-]+`)
	branchDashes = regexp.MustCompile(`-{2,}`)
)

// BranchName is the deterministic pull request branch for pinning image to
// digest: "cascade/<sanitized image path>-<digest12>". The image is
// normalized first, so every spelling of one repository ("nginx",
// "docker.io/library/nginx") gives the same branch; tag and digest in image
// are ignored. It is the pull request's dedup key (docs/reliability.md, promise 3).
func BranchName(image, digest string) string {
	name := image
	if ref, err := imageref.Parse(image); err == nil {
		name = ref.Name()
	} else {
		name, _, _ = strings.Cut(name, "@")
		if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
			name = name[:i]
		}
	}
	name = strings.ToLower(name)
	name = strings.ReplaceAll(name, ":", "-")
	name = branchUnsafe.ReplaceAllString(name, "-")
	var parts []string
	for _, part := range strings.Split(name, "/") {
		part = strings.Trim(branchDashes.ReplaceAllString(part, "-"), ".-")
		for strings.Contains(part, "..") {
			part = strings.ReplaceAll(part, "..", ".")
		}
		part = strings.TrimSuffix(part, ".lock")
		if part != "" {
			parts = append(parts, part)
		}
	}
	short := branchUnsafe.ReplaceAllString(strings.ToLower(imageref.Digest(digest).Short()), "")
	if len(parts) == 0 {
		return "cascade/" + short
	}
	return "cascade/" + strings.Join(parts, "/") + "-" + short
}
