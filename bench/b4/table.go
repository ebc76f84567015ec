package b4

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/imagecascade/cascade/bench/measure"
)

// MaxRatioToLimit is docs/benchmarks.md's bound: total ≤ 1.05 × N × spacing.
const MaxRatioToLimit = 1.05

// Correct reports whether every run dispatched each dependent exactly once
// (and nothing else), and cascade reported each as dispatched.
func (r Result) Correct(n int) bool {
	for _, s := range r.Runs {
		if s.Accepted != n || s.Repos != n || s.Stray != 0 || (s.Dispatched >= 0 && s.Dispatched != n) || s.Exit != 0 {
			return false
		}
	}
	return len(r.Runs) > 0
}

func (r Result) worst(n int) RunStats {
	for _, s := range r.Runs {
		if s.Accepted != n || s.Repos != n || s.Stray != 0 || s.Exit != 0 {
			return s
		}
	}
	return r.Runs[0]
}

func (r Result) minGap() time.Duration {
	var g time.Duration
	for i, s := range r.Runs {
		if i == 0 || s.MinGap < g {
			g = s.MinGap
		}
	}
	return g
}

func (r Result) short() int {
	n := 0
	for _, s := range r.Runs {
		n += s.Short
	}
	return n
}

func (r Result) early() time.Duration {
	var e time.Duration
	for _, s := range r.Runs {
		e = max(e, s.Early)
	}
	return e
}

func (r Result) maxInFlight() int {
	m := 0
	for _, s := range r.Runs {
		m = max(m, s.MaxInFlight)
	}
	return m
}

// Verdicts checks the targets against the result of the tool named cascade.
func Verdicts(s Spec, results []Result) []measure.Verdict {
	var c Result
	found := false
	for _, r := range results {
		if r.Tool == "cascade" {
			c, found = r, true
		}
	}
	if !found || len(c.Runs) == 0 {
		return nil
	}
	ratio := c.Median().Seconds() / s.Limit().Seconds()
	w := c.worst(s.N)
	return []measure.Verdict{
		{Bench: "B4", Target: "B4 total ≤ 1.05 × N × spacing",
			Figure: fmt.Sprintf("%.1fs = %.3f × %d × %v", c.Median().Seconds(), ratio, s.N, s.Spacing), Pass: ratio <= MaxRatioToLimit},
		{Bench: "B4", Target: "B4 zero secondary-limit responses provoked",
			Figure: fmt.Sprintf("%d in %d runs; min mutation gap %.4fs, %v of the %v tolerance used, max %d in flight",
				c.Hits(), len(c.Runs), c.minGap().Seconds(), c.early().Round(time.Millisecond), s.GapTolerance, c.maxInFlight()), Pass: c.Hits() == 0},
		{Bench: "B4", Target: "B4 each dependent dispatched exactly once",
			Figure: fmt.Sprintf("%d/%d repositories, %d dispatches accepted, %d stray, exit %d", w.Repos, s.N, w.Accepted, w.Stray, w.Exit), Pass: c.Correct(s.N)},
	}
}

// Table writes the results, one row per tool and one for the limit, then
// the targets.
func Table(w io.Writer, s Spec, runs int, results []Result) error {
	fmt.Fprintf(w, "B4: %d GitHub dependents (repository_dispatch), emulator adding %v per request and refusing what GitHub's secondary limits punish: "+
		"mutations faster than one per %v (a mutation may arrive %v before its turn), > %d requests in flight, > %d mutations a minute, > %d an hour; %d runs\n\n",
		s.N, s.Latency, s.Spacing, s.GapTolerance, s.Limits().MaxConcurrent, s.Limits().MutationsPerMinute, s.Limits().MutationsPerHour, runs)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "tool\tmedian wall\tmin–max\tpeak RSS\t÷ limit\tdispatched\taccepted\texit\tsecondary-limit responses\tmin mutation gap\tgaps < spacing\ttolerance used\tmax in flight\t")
	for _, r := range results {
		lo, hi := measure.Range(r.Samples())
		rss := "–"
		if k := measure.PeakRSSKiB(r.Samples()); k > 0 {
			rss = fmt.Sprintf("%.1f MB", float64(k)/1024)
		}
		st := r.worst(s.N)
		fmt.Fprintf(tw, "%s\t%.3fs\t%.3f–%.3fs\t%s\t%.3f\t%d/%d\t%d\t%d\t%d\t%.4fs\t%d\t%v\t%d\t\n",
			r.Tool, r.Median().Seconds(), lo.Seconds(), hi.Seconds(), rss, r.Median().Seconds()/s.Limit().Seconds(),
			st.Repos, s.N, st.Accepted, st.Exit, r.Hits(), r.minGap().Seconds(), r.short(), r.early().Round(time.Millisecond), r.maxInFlight())
	}
	floor := time.Duration(s.N-1)*s.Spacing + s.Latency
	fmt.Fprintf(tw, "floor: (N−1) × spacing + latency\t%.3fs\t\t\t%.3f\t\t\t\t\t\t\t\t\t\n", floor.Seconds(), floor.Seconds()/s.Limit().Seconds())
	fmt.Fprintf(tw, "limit: N × spacing\t%.3fs\t\t\t1.000\t\t\t\t\t\t\t\t\t\n", s.Limit().Seconds())
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	measure.PrintVerdicts(w, Verdicts(s, results))
	return nil
}
