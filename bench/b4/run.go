package b4

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/imagecascade/cascade/bench/measure"
	"github.com/imagecascade/cascade/internal/githubtest"
	"github.com/imagecascade/cascade/internal/retry"
)

// Spec is the workload.
type Spec struct {
	// N is the number of GitHub dependents.
	N int
	// Latency is added to every answer of the emulator.
	Latency time.Duration
	// Spacing is the mutation spacing GitHub asks for, which the emulator
	// enforces and the target multiplies: cascade's default,
	// retry.DefaultGap (1 s).
	Spacing time.Duration
	// GapTolerance is the emulator's allowance for the jitter between a
	// client's send and the server's arrival time (see
	// githubtest.SecondaryLimits).
	GapTolerance time.Duration
}

// B4 is docs/benchmarks.md's workload: 200 dependents, 50 ms per request.
func B4() Spec {
	return Spec{N: 200, Latency: 50 * time.Millisecond, Spacing: retry.DefaultGap, GapTolerance: DefaultGapTolerance}
}

// Smoke is the small version: 5 dependents (about 4 s).
func Smoke() Spec {
	s := B4()
	s.N = 5
	return s
}

// DefaultGapTolerance is how early a mutation may arrive before its turn
// at the emulator: the send-to-arrival jitter of loopback on a loaded
// machine (up to 73 ms seen between a cascade spacing its sends exactly 1 s
// apart and the emulator; see bench/README.md). The long-run rate is held
// to one per Spacing whatever the tolerance (githubtest.SecondaryLimits).
const DefaultGapTolerance = 100 * time.Millisecond

// Limits are the secondary limits the emulator enforces for s: GitHub's
// documented ones (100 requests in flight, 80 mutations a minute, 500 an
// hour) and mutations at least s.Spacing apart, with retry-after: 60 as
// GitHub sends.
func (s Spec) Limits() githubtest.SecondaryLimits {
	l := githubtest.GitHubSecondaryLimits()
	l.MutationGap, l.GapTolerance = s.Spacing, s.GapTolerance
	return l
}

// Limit is the target's bound: N × spacing.
func (s Spec) Limit() time.Duration { return time.Duration(s.N) * s.Spacing }

// Env is one run's world: a fresh registry and workspace (the Fixture) and
// a fresh GitHub emulator holding every dependent's repository.
type Env struct {
	Spec    Spec
	Fixture *Fixture
	GitHub  *githubtest.Server
}

// Repository is dependent name's GitHub repository.
func Repository(name string) string { return "acme/" + name }

// CascadeArgs are the arguments of the timed command.
func (e *Env) CascadeArgs() []string {
	return []string{"run", "--image", e.Fixture.Base, "--workspace", e.Fixture.Workspace,
		"--github-api-url", e.GitHub.URL, "--max-dispatches", strconv.Itoa(e.Spec.N), "-o", "json"}
}

// newEnv builds a run's world under dir (not timed).
func newEnv(ctx context.Context, dir string, s Spec) (*Env, error) {
	f, err := NewFixture(ctx, dir, s.N, "{github: {repository: acme/base}}", func(_ int, name string) string {
		return fmt.Sprintf("{github: {repository: %s, event: base-image-updated}}", Repository(name))
	})
	if err != nil {
		return nil, err
	}
	gh := githubtest.Start(githubtest.WithLatency(s.Latency), githubtest.WithSecondaryLimits(s.Limits()))
	gh.Repo("acme/base")
	for _, n := range f.Names {
		gh.Repo(Repository(n))
	}
	return &Env{Spec: s, Fixture: f, GitHub: gh}, nil
}

func (e *Env) close() {
	e.GitHub.Close()
	e.Fixture.Close()
}

// Tool is one contender: the cascade binary run with Env.CascadeArgs and
// GITHUB_TOKEN set, or, in tests, a function run in-process.
type Tool struct {
	Name   string
	Binary string
	// Func, when set, runs instead of Binary; what it writes to stdout is
	// read as cascade's JSON report (nothing: no report).
	Func func(ctx context.Context, e *Env, stdout io.Writer) error
}

// Options configures Run.
type Options struct {
	Spec  Spec
	Tools []Tool
	// Runs per tool (default 3).
	Runs int
	// Work holds each run's workspace.
	Work string
	// Time is GNU time, for peak RSS (see measure.Cmd).
	Time string
	// Log receives one progress line per run; nil means none.
	Log io.Writer
}

// RunStats is what one run did, read off the emulator and the report.
type RunStats struct {
	measure.Sample
	// Accepted counts the repository dispatches the emulator accepted;
	// Repos the distinct repositories among them, Stray the accepted
	// dispatches to repositories that are not dependents.
	Accepted, Repos, Stray int
	// SecondaryHits are the secondary-limit refusals provoked.
	SecondaryHits []githubtest.SecondaryLimitHit
	// Mutations counts the mutating requests; MinGap is the least time
	// between two of their arrivals (0 with fewer than two).
	Mutations int
	MinGap    time.Duration
	// Short counts the gaps between mutation arrivals under the spacing
	// (refused or tolerated); Early is how far ahead of its turn the
	// earliest accepted mutation came (the tolerance used).
	Short int
	Early time.Duration
	// MaxInFlight is the most requests the emulator served at once.
	MaxInFlight int
	// Dispatched counts the outcomes cascade reported as dispatched
	// (-1 when the tool gives no report).
	Dispatched int
	// Exit is the binary's exit status (0 for a tool run in-process that
	// returned no error).
	Exit int
}

// Result is one tool's runs.
type Result struct {
	Tool string
	Runs []RunStats
}

// Samples are the timings of the runs.
func (r Result) Samples() []measure.Sample {
	out := make([]measure.Sample, len(r.Runs))
	for i, s := range r.Runs {
		out[i] = s.Sample
	}
	return out
}

// Median is the median wall time.
func (r Result) Median() time.Duration { return measure.Median(r.Samples()) }

// Hits counts the secondary-limit responses over all runs.
func (r Result) Hits() int {
	n := 0
	for _, s := range r.Runs {
		n += len(s.SecondaryHits)
	}
	return n
}

// Run times every tool Runs times, alternating (round k starts at tool k),
// each run against a fresh Env built before the clock starts.
func Run(ctx context.Context, o Options) ([]Result, error) {
	if o.Runs <= 0 {
		o.Runs = 3
	}
	if o.Spec.N <= 0 {
		return nil, errors.New("b4: no dependents")
	}
	results := make([]Result, len(o.Tools))
	for i, t := range o.Tools {
		results[i].Tool = t.Name
	}
	err := measure.Alternate(o.Runs, len(o.Tools), func(i int) string { return o.Tools[i].Name }, func(round, i int) error {
		st, err := runOnce(ctx, o, o.Tools[i], filepath.Join(o.Work, fmt.Sprintf("run-%d-%s", round+1, o.Tools[i].Name)))
		if err != nil {
			return err
		}
		results[i].Runs = append(results[i].Runs, st)
		if o.Log != nil {
			fmt.Fprintf(o.Log, "run %d/%d %-8s %8.3fs  %d/%d dispatched, %d secondary-limit responses, min gap %.4fs, tolerance used %v, max in flight %d\n",
				round+1, o.Runs, o.Tools[i].Name, st.Wall.Seconds(), st.Repos, o.Spec.N, len(st.SecondaryHits), st.MinGap.Seconds(), st.Early.Round(time.Microsecond), st.MaxInFlight)
			for _, h := range st.SecondaryHits {
				fmt.Fprintf(o.Log, "  refused %s %s: %s\n", h.Method, h.Path, h.Reason)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

// runTimeout bounds one run: three times the spacing of every mutation,
// plus two minutes.
func runTimeout(s Spec) time.Duration { return 3*s.Limit() + 2*time.Minute }

func runOnce(ctx context.Context, o Options, t Tool, dir string) (RunStats, error) {
	if err := os.RemoveAll(dir); err != nil {
		return RunStats{}, fmt.Errorf("clearing %s: %w", dir, err)
	}
	defer os.RemoveAll(dir)
	e, err := newEnv(ctx, dir, o.Spec)
	if err != nil {
		return RunStats{}, err
	}
	defer e.close()
	ctx, cancel := context.WithTimeout(ctx, runTimeout(o.Spec))
	defer cancel()
	var st RunStats
	var stdout bytes.Buffer
	if t.Func != nil {
		start := time.Now()
		err = t.Func(ctx, e, &stdout)
		st.Wall = time.Since(start)
	} else {
		start := time.Now()
		st.Sample, err = measure.Run(ctx, measure.Cmd{
			Args: append([]string{t.Binary}, e.CascadeArgs()...), Time: o.Time, Stdout: &stdout,
			Env: []string{"GITHUB_TOKEN=" + e.GitHub.Token(), "CASCADE_GITHUB_TOKEN="},
		})
		// Failed dispatches (exit 3 partial, 4 transient: refused by the
		// emulator, retries spent) are a result to report; any other
		// status is a broken run.
		var ee *exec.ExitError
		if errors.As(err, &ee) && (ee.ExitCode() == 3 || ee.ExitCode() == 4) && ctx.Err() == nil {
			st.Wall, st.Exit, err = time.Since(start), ee.ExitCode(), nil
			if o.Log != nil {
				fmt.Fprintf(o.Log, "%s exited %d\n", t.Name, st.Exit)
			}
		}
	}
	if err != nil {
		return st, err
	}
	st.Dispatched = -1
	if stdout.Len() > 0 {
		var rep struct {
			Dispatches []struct {
				Status string `json:"status"`
			} `json:"dispatches"`
		}
		if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
			return st, fmt.Errorf("reading cascade's report: %w", err)
		}
		st.Dispatched = 0
		for _, d := range rep.Dispatches {
			if d.Status == "dispatched" {
				st.Dispatched++
			}
		}
	}
	e.stats(&st)
	return st, nil
}

// stats reads the emulator's records into st.
func (e *Env) stats(st *RunStats) {
	want := map[string]bool{}
	for _, n := range e.Fixture.Names {
		want[Repository(n)] = true
	}
	seen := map[string]bool{}
	for _, d := range e.GitHub.RepositoryDispatches() {
		st.Accepted++
		if !want[d.Repo] {
			st.Stray++
		}
		seen[d.Repo] = true
	}
	st.Repos = len(seen)
	st.SecondaryHits = e.GitHub.SecondaryLimitHits()
	arr := e.GitHub.MutationArrivals()
	st.Mutations = len(arr)
	for i := 1; i < len(arr); i++ {
		g := arr[i].Sub(arr[i-1])
		if i == 1 || g < st.MinGap {
			st.MinGap = g
		}
		if g < e.Spec.Spacing {
			st.Short++
		}
	}
	st.Early = e.GitHub.GapToleranceUsed()
	st.MaxInFlight = e.GitHub.MaxInFlight()
}
