package b4_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/imagecascade/cascade/bench/b4"
	"github.com/imagecascade/cascade/internal/cli"
)

// inProcess runs the real CLI in-process with the arguments of the timed
// command.
func inProcess(ctx context.Context, e *b4.Env, stdout io.Writer) error {
	var errs bytes.Buffer
	args := e.CascadeArgs()
	if code := cli.Run(ctx, args, cli.Streams{Out: stdout, Err: &errs}); code != 0 {
		return fmt.Errorf("cascade %s: exit %d: %s", strings.Join(args, " "), code, errs.String())
	}
	return nil
}

// unspaced dispatches to every dependent back to back, as a naive script
// would: the emulator must refuse it.
func unspaced(ctx context.Context, e *b4.Env, _ io.Writer) error {
	for _, n := range e.Fixture.Names {
		// A new client each time: go-github stops sending by itself after
		// a secondary-limit answer.
		c, err := github.NewClient(nil).WithAuthToken(e.GitHub.Token()).WithEnterpriseURLs(e.GitHub.URL, e.GitHub.URL)
		if err != nil {
			return err
		}
		owner, repo, _ := strings.Cut(b4.Repository(n), "/")
		_, _, _ = c.Repositories.Dispatch(ctx, owner, repo, github.DispatchRequestOptions{EventType: "base-image-updated"})
	}
	return nil
}

// TestHarness runs B4 end to end with 3 dependents: cascade (in-process,
// default 1 s spacing) dispatches each once and provokes no secondary
// limit; a client that does not space its mutations is refused and fails
// the targets. It sets GITHUB_TOKEN, so it does not run in parallel.
func TestHarness(t *testing.T) {
	spec := b4.Smoke()
	// The harness, not the machine's jitter, is under test: a generous
	// tolerance (the unspaced client is 50 ms apart, far under it).
	spec.N, spec.GapTolerance = 3, 500*time.Millisecond
	t.Setenv("GITHUB_TOKEN", "ghs_githubtest_default_token")
	t.Setenv("CASCADE_GITHUB_TOKEN", "")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := b4.Run(ctx, b4.Options{Spec: spec, Runs: 1, Work: t.TempDir(), Tools: []b4.Tool{
		{Name: "cascade", Func: inProcess},
		{Name: "unspaced", Func: unspaced},
	}})
	if err != nil {
		t.Fatal(err)
	}
	c, u := res[0].Runs[0], res[1].Runs[0]
	if !res[0].Correct(spec.N) || len(c.SecondaryHits) != 0 || c.Dispatched != spec.N || c.Mutations != spec.N {
		t.Errorf("cascade: %+v; want %d dispatches, each accepted once, no secondary-limit response", c, spec.N)
	}
	if c.MinGap < spec.Spacing-spec.GapTolerance {
		t.Errorf("cascade's mutations arrived %v apart, spacing %v", c.MinGap, spec.Spacing)
	}
	if floor := time.Duration(spec.N-1) * spec.Spacing; c.Wall < floor {
		t.Errorf("cascade took %v, less than the spacing allows (%v)", c.Wall, floor)
	}
	if len(u.SecondaryHits) != spec.N-1 || u.Accepted != 1 || u.Dispatched != -1 {
		t.Errorf("unspaced client: %+v; want %d refusals and 1 accepted dispatch", u, spec.N-1)
	}

	var table bytes.Buffer
	if err := b4.Table(&table, spec, 1, res); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"PASS  B4 zero secondary-limit responses provoked", "PASS  B4 each dependent dispatched exactly once", "limit: N × spacing"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	// The verdicts judge the tool named cascade; the same runs under that
	// name for the unspaced client fail.
	res[1].Tool, res[0].Tool = "cascade", "other"
	for _, v := range b4.Verdicts(spec, res[1:]) {
		if strings.Contains(v.Target, "secondary") || strings.Contains(v.Target, "exactly once") {
			if v.Pass {
				t.Errorf("the unspaced client passed %q: %s", v.Target, v.Figure)
			}
		}
	}
}
