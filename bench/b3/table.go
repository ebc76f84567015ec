package b3

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/imagecascade/cascade/bench/measure"
)

// MinRatioToRaw is docs/benchmarks.md's bound: cascade ≥ 0.8 × raw throughput.
const MinRatioToRaw = 0.8

func find(results []Result, name string) (Result, bool) {
	for _, r := range results {
		if r.Tool == name && len(r.Runs) > 0 {
			return r, true
		}
	}
	return Result{}, false
}

// exact reports whether every run created exactly n PipelineRuns, one per
// dependent.
func (r Result) exact(n int) bool {
	for _, s := range r.Runs {
		if s.Created != n || s.Dependents != n {
			return false
		}
	}
	return len(r.Runs) > 0
}

// worst is a run that did not create exactly n, else the first.
func (r Result) worst(n int) RunStats {
	for _, s := range r.Runs {
		if s.Created != n || s.Dependents != n {
			return s
		}
	}
	return r.Runs[0]
}

// Verdicts checks the targets.
func Verdicts(s Spec, results []Result) []measure.Verdict {
	c, ok := find(results, Cascade)
	if !ok {
		return nil
	}
	var v []measure.Verdict
	if r, ok := find(results, RawPeer); ok && r.Median() > 0 {
		ratio := c.Throughput(s.N) / r.Throughput(s.N)
		v = append(v, measure.Verdict{Bench: "B3", Target: "B3 ≥ 0.8× raw client-go throughput",
			Figure: fmt.Sprintf("%.3f× (%.2f vs %.2f PipelineRuns/s at QPS %g, burst %d)", ratio, c.Throughput(s.N), r.Throughput(s.N), s.Raw.QPS, s.Raw.Burst),
			Pass:   ratio >= MinRatioToRaw})
	}
	w := c.worst(s.N)
	v = append(v, measure.Verdict{Bench: "B3", Target: fmt.Sprintf("B3 exactly %d objects", s.N),
		Figure: fmt.Sprintf("%d PipelineRuns for %d dependents (worst of %d runs)", w.Created, w.Dependents, len(c.Runs)), Pass: c.exact(s.N)})
	return v
}

// Table writes one row per tool, then the targets.
func Table(w io.Writer, s Spec, runs int, results []Result) error {
	fmt.Fprintf(w, "B3: %d Tekton dependents → %d PipelineRuns on a real kube-apiserver (Tekton's CRDs, no controller); client-side limiter QPS %g, burst %d, %d creates in flight for both; %d runs per tool, alternating\n\n",
		s.N, s.N, s.Raw.QPS, s.Raw.Burst, s.Raw.Concurrency, runs)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "tool\tmedian wall\tmin–max\tpeak RSS\tPipelineRuns/s\t÷ raw throughput\tcreated\tdependents\t")
	raw, hasRaw := find(results, RawPeer)
	for _, r := range results {
		if len(r.Runs) == 0 {
			continue
		}
		lo, hi := measure.Range(r.Samples())
		rss := "–"
		if k := measure.PeakRSSKiB(r.Samples()); k > 0 {
			rss = fmt.Sprintf("%.1f MB", float64(k)/1024)
		}
		ratio := "–"
		if hasRaw && raw.Throughput(s.N) > 0 {
			ratio = fmt.Sprintf("%.3f", r.Throughput(s.N)/raw.Throughput(s.N))
		}
		st := r.worst(s.N)
		fmt.Fprintf(tw, "%s\t%.3fs\t%.3f–%.3fs\t%s\t%.2f\t%s\t%d/%d\t%d\t\n",
			r.Tool, r.Median().Seconds(), lo.Seconds(), hi.Seconds(), rss, r.Throughput(s.N), ratio, st.Created, s.N, st.Dependents)
	}
	if floor := float64(max(s.N-s.Raw.Burst, 0)) / float64(s.Raw.QPS); s.Raw.QPS > 0 && floor > 0 {
		fmt.Fprintf(tw, "limiter floor: (N − burst) ÷ QPS\t%.3fs\t\t\t%.2f\t\t\t\t\n", floor, float64(s.N)/floor)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	measure.PrintVerdicts(w, Verdicts(s, results))
	return nil
}
