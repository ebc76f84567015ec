package b2

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/imagecascade/cascade/bench/measure"
	"github.com/imagecascade/cascade/internal/plan"
	"github.com/imagecascade/cascade/internal/registry"
)

// Targets of docs/benchmarks.md for B2 and B5's plan.
const (
	MaxRatioToLimit = 1.5
	MaxRSSKiB       = 256 << 10
	// Concurrency is cascade's default registry fan-out, the limit's
	// divisor.
	Concurrency = registry.DefaultConcurrency
)

// Report is what the table and the verdicts are made of.
type Report struct {
	// Bench is "B2" or "B5"; Backend names the registry.
	Bench   string
	Backend string
	Env     *Env
	Results []Result
	Runs    int
	Latency time.Duration
	// Correct is cascade's plan against the stream (first run).
	Correct Correctness
	// RSS: the samples' peak RSS comes from GNU time. Without it, the
	// rusage of a child forked from this (large) process is not
	// cascade's, and the column is left empty.
	RSS bool
	// Where qualifies the targets of a pass other than docker-registry's
	// (default: " (in-memory registry)" for that one).
	Where string
}

// memory reports whether the registry is the in-memory one.
func (r Report) memory() bool { return r.Env.memoryHandler != nil }

// Limit is ⌈requests ÷ concurrency⌉ × latency for a number of requests.
func (r Report) Limit(requests int) time.Duration {
	return time.Duration((requests+Concurrency-1)/Concurrency) * r.Latency
}

func (r Report) find(name string) (Result, bool) {
	for _, res := range r.Results {
		if res.Tool == name {
			return res, true
		}
	}
	return Result{}, false
}

// Verdicts checks the targets against cascade's results.
func (r Report) Verdicts() []measure.Verdict {
	c, ok := r.find("cascade")
	if !ok {
		return nil
	}
	s := r.Env.Stream
	t := s.Truth()
	var v []measure.Verdict
	where := r.Where
	if where == "" && r.memory() {
		where = " (in-memory registry)"
	}
	add := func(target, figure string, pass bool) {
		v = append(v, measure.Verdict{Bench: r.Bench, Target: r.Bench + " " + target + where, Figure: figure, Pass: pass})
	}
	cc := r.Correct
	figure := fmt.Sprintf("%d stale / %d current of %d, as generated", cc.Stale, cc.Current, cc.Dependents)
	if !cc.OK() {
		figure = fmt.Sprintf("%d wrong, %d missing: %s", cc.Wrong, cc.Missing, strings.Join(cc.Examples, "; "))
	}
	add("plan = the generator's truth", figure, cc.OK())

	if r.Bench == "B5" {
		if rss := measure.PeakRSSKiB(c.Samples); rss > 0 && r.RSS {
			add(fmt.Sprintf("plan on %d images ≤ 256 MB peak RSS", len(s.Dependents())), fmt.Sprintf("%.1f MB", float64(rss)/1024), rss <= MaxRSSKiB)
		}
		return v
	}

	n := c.Counts.Total()
	if lim := r.Limit(n); lim > 0 {
		ratio := c.Median().Seconds() / lim.Seconds()
		fig := fmt.Sprintf("%.2f× (%.3fs; limit %.3fs for %d requests)", ratio, c.Median().Seconds(), lim.Seconds(), n)
		if f, ok := r.find(FloorName); ok && f.Median() > 0 {
			fig += fmt.Sprintf("; the ideal client for the same requests: %.2f× the limit, cascade %.2f× it", f.Median().Seconds()/lim.Seconds(), c.Median().Seconds()/f.Median().Seconds())
		}
		add("wall ≤ 1.5× ⌈requests ÷ 16⌉ × latency", fig, ratio <= MaxRatioToLimit)
	}
	if r.memory() {
		return v // the requests are the same as against docker-registry
	}
	deps := len(s.Dependents())
	allow := s.Allowance()
	add("≤ 1 request per dependent (+1 per platform)",
		fmt.Sprintf("%d for %d dependents, %d allowed (%.2f each; %.2f with ping, tokens and base)",
			c.Counts.Dependents, deps, allow, float64(c.Counts.Dependents)/float64(deps), float64(n)/float64(deps)),
		c.Counts.Dependents <= allow)

	// HEAD where a digest suffices: the base's digest, and dependents
	// whose base is rebuilt first (their manifest decides nothing).
	base := c.Counts.PerRepo[s.Base().Repo]
	carried, heads, gets := 0, 0, 0
	for _, d := range s.Dependents() {
		if d.Want.Action != plan.ActionCascade {
			continue
		}
		carried++
		rc := c.Counts.PerRepo[d.Repo]
		heads += rc.Head
		gets += rc.Get
	}
	add("HEAD where a digest suffices",
		fmt.Sprintf("base: %d HEAD (+%d GET for its platforms); %d dependents rebuilt through their base: %d HEAD, %d GET", base.Head, base.Get, carried, heads, gets),
		base.Head == 1 && gets == 0 && heads <= carried && t.Cascade == carried)
	return v
}

// Table writes the workload line, one row per tool and the limit, and the
// verdicts.
func (r Report) Table(w io.Writer) error {
	s := r.Env.Stream
	t := s.Truth()
	sizes := make([]string, len(s.TierSizes))
	for i, n := range s.TierSizes {
		sizes[i] = fmt.Sprint(n)
	}
	fmt.Fprintf(w, "%s: %d dependents in %d tiers (%s), %d of them 2-platform indexes; the base a 2-platform index.\n",
		r.Bench, len(s.Dependents()), len(s.TierSizes), strings.Join(sizes, "/"), t.MultiArch)
	latency := "adding " + r.Latency.String() + " per request"
	if r.Latency == 0 {
		latency = "adding no latency"
	}
	fmt.Fprintf(w, "Truth: %d stale (%d to dispatch, %d carried by a rebuilt base), %d current.\nRegistry: %s with token auth, behind a proxy %s; %d runs, alternating.\n\n",
		t.Stale, t.Dispatch, t.Cascade, t.Current, r.Backend, latency, r.Runs)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "tool\truns\tmedian wall\tmin–max\tpeak RSS\trequests\tping\ttoken\tHEAD manifest\tGET manifest\tblob\tper dependent\t÷ limit\t÷ ideal client\t÷ crane loop\t")
	crane, hasCrane := r.find("crane loop")
	floor, hasFloor := r.find(FloorName)
	cascadeN := 0
	if c, ok := r.find("cascade"); ok {
		cascadeN = c.Counts.Total()
	}
	deps := float64(len(s.Dependents()))
	for _, res := range r.Results {
		lo, hi := measure.Range(res.Samples)
		rss := "–"
		if k := measure.PeakRSSKiB(res.Samples); k > 0 && r.RSS && res.Tool != FloorName {
			rss = fmt.Sprintf("%.1f MB", float64(k)/1024)
		}
		c := res.Counts
		n := c.Total()
		lim, vsFloor, vsCrane := "–", "–", "–"
		if l := r.Limit(cascadeN); l > 0 && res.Tool != "crane loop" {
			lim = fmt.Sprintf("%.2f", res.Median().Seconds()/l.Seconds())
		}
		if hasFloor && floor.Median() > 0 && res.Tool != "crane loop" {
			vsFloor = fmt.Sprintf("%.2f", res.Median().Seconds()/floor.Median().Seconds())
		}
		if hasCrane && crane.Median() > 0 {
			vsCrane = fmt.Sprintf("%.3f", res.Median().Seconds()/crane.Median().Seconds())
		}
		stable := ""
		for _, tot := range res.Totals {
			if tot != n {
				stable = fmt.Sprintf(" (varied: %v)", res.Totals)
				break
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%.3fs\t%.3f–%.3fs\t%s\t%d%s\t%d\t%d\t%d\t%d\t%d\t%.2f\t%s\t%s\t%s\t\n",
			res.Tool, len(res.Samples), res.Median().Seconds(), lo.Seconds(), hi.Seconds(), rss, n, stable,
			c.Ping, c.Token, c.HeadManifest, c.GetManifest, c.Blob, float64(n)/deps, lim, vsFloor, vsCrane)
	}
	if c, ok := r.find("cascade"); ok && r.Latency > 0 {
		n := c.Counts.Total()
		l := r.Limit(n)
		vsCrane := "–"
		if hasCrane && crane.Median() > 0 {
			vsCrane = fmt.Sprintf("%.3f", l.Seconds()/crane.Median().Seconds())
		}
		vsFloor := "–"
		if hasFloor && floor.Median() > 0 {
			vsFloor = fmt.Sprintf("%.2f", l.Seconds()/floor.Median().Seconds())
		}
		fmt.Fprintf(tw, "limit ⌈%d ÷ %d⌉ × %s\t\t%.3fs\t\t\t%d\t\t\t\t\t\t%.2f\t1.00\t%s\t%s\t\n",
			n, Concurrency, r.Latency, l.Seconds(), n, float64(n)/deps, vsFloor, vsCrane)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nallowance: %d dependents + %d platform manifests = %d requests\n\n", len(s.Dependents()), t.Platforms, s.Allowance())
	measure.PrintVerdicts(w, r.Verdicts())
	return nil
}
