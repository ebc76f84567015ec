package writeback_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/imagecascade/cascade/internal/githubtest"
	"github.com/imagecascade/cascade/internal/writeback"
)

// TestR10_PullRequestTwiceAtOnce: two write-backs of the same cascade at
// the same moment (latency widens the race window) end with one branch and
// one open pull request holding exactly one cascade commit on main with the
// pinned file. Both calls succeed: the one that loses the branch create
// starts again from the fresh state and finds the branch up to date.
func TestR10_PullRequestTwiceAtOnce(t *testing.T) {
	t.Parallel()
	for _, latency := range []time.Duration{0, 5 * time.Millisecond} {
		t.Run(latency.String(), func(t *testing.T) {
			t.Parallel()
			_, repo, c := ghFixture(t, githubtest.WithLatency(latency))
			mainHead, _ := repo.Branch("main")
			const runs = 2
			res := make([]writeback.PRResult, runs)
			errs := make([]error, runs)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range runs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					res[i], errs[i] = writeback.PullRequest(context.Background(), prOpts(c, "body"))
				}()
			}
			close(start)
			wg.Wait()
			for i := range runs {
				if errs[i] != nil {
					t.Errorf("run %d: %v", i, errs[i])
				}
			}
			prs := repo.PullRequests()
			if len(prs) != 1 || prs[0].Head != branch || prs[0].State != "open" {
				t.Fatalf("pull requests = %+v, want one open on %s", prs, branch)
			}
			head, found := repo.Branch(branch)
			if !found {
				t.Fatalf("branch %s missing", branch)
			}
			cm, _ := repo.Commit(head)
			if len(cm.Parents) != 1 || cm.Parents[0] != mainHead || !writeback.IsCascadeCommit(cm.Message) {
				t.Errorf("branch head %s: parents %v, message %q: want one cascade commit on main %s", head, cm.Parents, cm.Message, mainHead)
			}
			files, _ := repo.Files(branch)
			if files["deploy/app.yaml"] != pinnedYAML {
				t.Errorf("deploy/app.yaml on the branch = %q", files["deploy/app.yaml"])
			}
			created := 0
			for i := range runs {
				if errs[i] == nil && res[i].Created {
					created++
				}
				if errs[i] == nil && res[i].Number != prs[0].Number {
					t.Errorf("run %d reports pull request #%d, the one open is #%d", i, res[i].Number, prs[0].Number)
				}
			}
			if created > 1 {
				t.Errorf("%d runs say they opened the pull request", created)
			}
		})
	}
}
