// Package writeback writes pinned manifests back to where they came from: a
// git commit in the workspace (optionally pushed, recomputing the edit on
// the fresh remote tree when the push loses a race), or a pull request made
// through GitHub's Git Data API with one commit for all files on a
// deterministic branch.
//
// Every commit cascade makes carries a trailer ("Cascade-Update:
// <image>@<digest>"); that is how a branch's commits are told apart from
// commits a person added, which cascade never force-pushes over.
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
