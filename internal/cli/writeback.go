package cli

import (
	"os"

	"github.com/spf13/cobra"
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

// githubToken reads the token the way docs/contract.md ("Environment") says: CASCADE_GITHUB_TOKEN,
// else GITHUB_TOKEN. It is never a flag, so it never reaches argv.
func githubToken() string {
	if t := os.Getenv("CASCADE_GITHUB_TOKEN"); t != "" {
		return t
	}
	return os.Getenv("GITHUB_TOKEN")
}
