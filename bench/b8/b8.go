// Package b8 is benchmark B8 of docs/benchmarks.md: `cascade plan` whose
// dependents declare themselves — 500 repositories of one owner behind the
// GitHub API emulator (50 ms per request, GitHub's secondary limits
// enforced), 100 of them carrying the topic with a .github/cascade.yaml and
// a Dockerfile on the base. It counts the API requests, times the plan
// against the round-trip limit at the client's concurrency, and counts
// secondary-limit responses.
package b8

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/imagecascade/cascade/bench/b4"
	"github.com/imagecascade/cascade/bench/measure"
	"github.com/imagecascade/cascade/internal/discover"
	"github.com/imagecascade/cascade/internal/githubapi"
	"github.com/imagecascade/cascade/internal/githubtest"
)

// Topic is the topic the declaring repositories carry.
const Topic = "cascade-dependent"

// MaxRatioToLimit is docs/benchmarks.md's bound on the wall time.
const MaxRatioToLimit = 1.5

// Spec is one workload.
type Spec struct {
	Repos, Declaring int
	Latency          time.Duration
	// Concurrency is the client's: repositories read at once.
	Concurrency int
}

// B8 is the benchmark's workload.
func B8() Spec {
	return Spec{Repos: 500, Declaring: 100, Latency: 50 * time.Millisecond, Concurrency: discover.DefaultGitHubConcurrency}
}

// Smoke is a tiny workload that keeps the harness working.
func Smoke() Spec {
	return Spec{Repos: 120, Declaring: 10, Latency: 5 * time.Millisecond, Concurrency: discover.DefaultGitHubConcurrency}
}

// MaxRequests is the request budget: ⌈repositories/100⌉ listing pages
// and two per declaring repository (its .github/cascade.yaml, its
// Dockerfile).
func (s Spec) MaxRequests() int { return (s.Repos+99)/100 + 2*s.Declaring }

// Limit is the round-trip limit: the listing pages one after the other,
// then each declaring repository's two reads one after the other,
// Concurrency repositories at a time.
func (s Spec) Limit() time.Duration {
	pages := (s.Repos + 99) / 100
	waves := (s.Declaring + s.Concurrency - 1) / s.Concurrency
	return time.Duration(pages+2*waves) * s.Latency
}

// RunStats is one timed `cascade plan`.
type RunStats struct {
	Wall time.Duration
	// Discovery is discovery alone, in-process (discover.GitHub against a
	// fresh emulator), without the process start and the registry.
	Discovery time.Duration
	RSSKiB    int64
	Requests  int
	Secondary int
	// Declared is how many dependents the plan shows declared by a
	// repository; Stale how many of them are stale.
	Declared, Stale int
}

// Options run the benchmark.
type Options struct {
	Spec    Spec
	Cascade string
	Runs    int
	Work    string
	Time    string
	Log     io.Writer
}

// Run sets up the registry (b4's fixture: the base and Declaring images
// built on its previous digest) and the emulator, then times Runs plans,
// each against a fresh emulator.
func Run(ctx context.Context, o Options) ([]RunStats, error) {
	s := o.Spec
	f, err := b4.NewFixture(ctx, o.Work, s.Declaring, "{rebase: {}}", func(int, string) string { return "{rebase: {}}" })
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// The base's config lists no dependent: they declare themselves.
	cfg := "version: 1\ndiscover:\n  github: {owner: acme, topic: " + Topic + "}\nlimits: {maxDispatches: " + fmt.Sprint(max(s.Declaring, 1)) + "}\n"
	if err := os.WriteFile(filepath.Join(f.Workspace, "cascade.yaml"), []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	var out []RunStats
	for r := range o.Runs {
		gh := seed(s, f)
		var stdout bytes.Buffer
		sample, err := measure.Run(ctx, measure.Cmd{
			Args: []string{o.Cascade, "plan", "--image", f.Base, "--workspace", f.Workspace, "-o", "json"},
			Env:  []string{"GITHUB_TOKEN=" + gh.Token(), "GITHUB_API_URL=" + gh.URL, "CASCADE_GITHUB_TOKEN="},
			Time: o.Time, Stdout: &stdout,
		})
		reqs, hits := len(gh.Requests()), len(gh.SecondaryLimitHits())
		gh.Close()
		if err != nil {
			return nil, fmt.Errorf("run %d: %w", r+1, err)
		}
		st := RunStats{Wall: sample.Wall, RSSKiB: sample.RSSKiB, Requests: reqs, Secondary: hits}
		if st.Discovery, err = discoverAlone(ctx, s, f); err != nil {
			return nil, fmt.Errorf("run %d: %w", r+1, err)
		}
		var p struct {
			Dependents []struct{ Status, DeclaredBy string }
		}
		if err := json.Unmarshal(stdout.Bytes(), &p); err != nil {
			return nil, fmt.Errorf("run %d: reading the plan: %w", r+1, err)
		}
		for _, d := range p.Dependents {
			if len(d.DeclaredBy) > 7 && d.DeclaredBy[:7] == "github:" {
				st.Declared++
				if d.Status == "stale" {
					st.Stale++
				}
			}
		}
		if o.Log != nil {
			fmt.Fprintf(o.Log, "run %d: %v, %d requests, %d declared\n", r+1, st.Wall.Round(time.Millisecond), st.Requests, st.Declared)
		}
		out = append(out, st)
	}
	return out, nil
}

// discoverAlone times discover.GitHub in-process against a fresh emulator.
func discoverAlone(ctx context.Context, s Spec, f *b4.Fixture) (time.Duration, error) {
	gh := seed(s, f)
	defer gh.Close()
	b, err := githubapi.New(githubapi.Options{Token: gh.Token(), APIURL: gh.URL})
	if err != nil {
		return 0, err
	}
	start := time.Now()
	found, err := (&discover.GitHub{Client: b.Client(), Owner: "acme", Topic: Topic, Concurrency: s.Concurrency}).Discover(ctx)
	d := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("discovering in-process: %w", err)
	}
	if len(found.Images) != s.Declaring {
		return 0, fmt.Errorf("discovering in-process: %d images, want %d", len(found.Images), s.Declaring)
	}
	return d, nil
}

// seed starts an emulator holding the owner's repositories: every fifth
// (Declaring of them, spread through the listing) carries the topic and
// declares image i in .github/cascade.yaml with a Dockerfile on the base.
func seed(s Spec, f *b4.Fixture) *githubtest.Server {
	gh := githubtest.Start(githubtest.WithLatency(s.Latency), githubtest.WithSecondaryLimits(githubtest.GitHubSecondaryLimits()))
	step := max(1, s.Repos/max(1, s.Declaring))
	declared := 0
	for i := range s.Repos {
		r := gh.Repo(fmt.Sprintf("acme/repo-%03d", i))
		if i%step != 0 || declared == s.Declaring {
			continue
		}
		name := b4.DependentName(declared)
		declared++
		r.SetTopics("go", Topic)
		r.WriteFiles("main", "declare", map[string]string{
			".github/cascade.yaml": fmt.Sprintf("version: 1\nimages:\n  - {name: %s, image: %s/acme/%s:latest, dockerfile: Dockerfile}\n", name, f.Registry, name),
			"Dockerfile":           "FROM " + f.Registry + "/acme/base:latest\nRUN make\n",
		})
	}
	return gh
}

// Correct reports whether every run found every declared dependent, stale.
func Correct(s Spec, runs []RunStats) bool {
	for _, r := range runs {
		if r.Declared != s.Declaring || r.Stale != s.Declaring {
			return false
		}
	}
	return len(runs) > 0
}

// Table prints the runs and the verdicts.
func Table(w io.Writer, s Spec, runs []RunStats) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "B8\t%d repositories, %d declaring, %v per request, concurrency %d\n", s.Repos, s.Declaring, s.Latency, s.Concurrency)
	fmt.Fprintln(tw, "run\tplan wall\tlimit\tratio\tdiscovery alone\tratio\trequests\tbudget\tsecondary\tdeclared\tstale\tpeak RSS")
	for i, r := range runs {
		fmt.Fprintf(tw, "%d\t%v\t%v\t%.2f×\t%v\t%.2f×\t%d\t%d\t%d\t%d\t%d\t%d MiB\n", i+1, r.Wall.Round(time.Millisecond), s.Limit(),
			float64(r.Wall)/float64(s.Limit()), r.Discovery.Round(time.Millisecond), float64(r.Discovery)/float64(s.Limit()),
			r.Requests, s.MaxRequests(), r.Secondary, r.Declared, r.Stale, r.RSSKiB/1024)
	}
	_ = tw.Flush()
}

// Verdicts are B8's targets, on the median wall time and the worst run's
// counts.
func Verdicts(s Spec, runs []RunStats) []measure.Verdict {
	var walls []time.Duration
	maxReq, hits := 0, 0
	for _, r := range runs {
		walls = append(walls, r.Wall)
		maxReq = max(maxReq, r.Requests)
		hits += r.Secondary
	}
	med := measure.MedianOf(walls)
	ratio := float64(med) / float64(s.Limit())
	return []measure.Verdict{
		{Bench: "B8", Target: fmt.Sprintf("API requests ≤ ⌈%d/100⌉ + 2 × %d = %d", s.Repos, s.Declaring, s.MaxRequests()), Figure: fmt.Sprintf("%d (most of %d runs)", maxReq, len(runs)), Pass: maxReq <= s.MaxRequests()},
		{Bench: "B8", Target: fmt.Sprintf("wall ≤ %.1f× the round-trip limit (%v)", MaxRatioToLimit, s.Limit()), Figure: fmt.Sprintf("median %v = %.2f×", med.Round(time.Millisecond), ratio), Pass: ratio <= MaxRatioToLimit},
		{Bench: "B8", Target: "zero secondary-limit responses", Figure: fmt.Sprint(hits), Pass: hits == 0},
		{Bench: "B8", Target: "every declared dependent found and stale", Figure: fmt.Sprint(Correct(s, runs)), Pass: Correct(s, runs)},
	}
}
