package b7

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/imagecascade/cascade/bench/measure"
)

// docs/benchmarks.md's bounds.
const (
	MinSpeedupOverKubectl = 10
	MinRatioToRaw         = 0.8
	MaxRSSMiB             = 256
)

func find(results []Result, name string) (Result, bool) {
	for _, r := range results {
		if r.Tool == name && len(r.Runs) > 0 {
			return r, true
		}
	}
	return Result{}, false
}

// exact reports whether every run changed exactly its objects.
func (r Result) exact() bool {
	for _, s := range r.Runs {
		if !s.Check.Exact(s.Moved) {
			return false
		}
	}
	return len(r.Runs) > 0
}

// worst is a run that did not change exactly its objects, else the first.
func (r Result) worst() RunStats {
	for _, s := range r.Runs {
		if !s.Check.Exact(s.Moved) {
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
	if k, ok := find(results, Kubectl); ok && c.Median() > 0 {
		x := k.Median().Seconds() / c.Median().Seconds()
		how := ""
		if n := k.Runs[0].Moved; n != s.Targets() {
			how = fmt.Sprintf("; kubectl timed on %d, scaled", n)
		}
		v = append(v, measure.Verdict{Bench: "B7", Target: "B7 ≥ 10× faster than a kubectl set image loop",
			Figure: fmt.Sprintf("%.1f× (%.3fs vs %.3fs for %d objects%s)", x, c.Median().Seconds(), k.Median().Seconds(), s.Targets(), how),
			Pass:   x >= MinSpeedupOverKubectl})
	}
	if r, ok := find(results, RawPeer); ok && c.Median() > 0 {
		x := r.Median().Seconds() / c.Median().Seconds()
		v = append(v, measure.Verdict{Bench: "B7", Target: "B7 ≥ 0.8× raw client-go patch throughput",
			Figure: fmt.Sprintf("%.3f× (%.3fs vs %.3fs at QPS %g, burst %d)", x, c.Median().Seconds(), r.Median().Seconds(), s.Raw.QPS, s.Raw.Burst),
			Pass:   x >= MinRatioToRaw})
	}
	exact, w := true, c.worst()
	for _, r := range results {
		if !r.exact() {
			exact, w = false, r.worst()
		}
	}
	v = append(v, measure.Verdict{Bench: "B7", Target: fmt.Sprintf("B7 exactly the %d opted-in objects changed", s.Targets()),
		Figure: fmt.Sprintf("moved %d, missed %d, stray %d among %d (worst run)", w.Check.Moved, w.Check.Missed, w.Check.Stray, s.Total()), Pass: exact})
	if k := measure.PeakRSSKiB(c.Samples()); k > 0 {
		v = append(v, measure.Verdict{Bench: "B7", Target: "B7 cascade ≤ 256 MB peak RSS",
			Figure: fmt.Sprintf("%.1f MB", float64(k)/1024), Pass: float64(k)/1024 <= MaxRSSMiB})
	}
	return v
}

// Table writes one row per tool, then the targets.
func Table(w io.Writer, s Spec, runs int, results []Result) error {
	fmt.Fprintf(w, "B7: %d opted-in Deployments in %d namespaces among %d (%d others; one in five of them names the image without opting in), a real kube-apiserver without controllers; client-side limiter QPS %g, burst %d, %d requests in flight for cascade and raw; %d run(s) per tool, alternating\n\n",
		s.Targets(), s.Namespaces, s.Total(), s.Total()-s.Targets(), s.Raw.QPS, s.Raw.Burst, s.Raw.Concurrency, runs)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "tool\tmedian wall\tmin–max\tpeak RSS\tobjects/s\t÷ cascade time\tmoved\tmissed\tstray\t")
	c, hasC := find(results, Cascade)
	for _, r := range results {
		if len(r.Runs) == 0 {
			continue
		}
		var lo, hi float64
		for i, st := range r.Runs {
			x := st.Scaled.Seconds()
			if i == 0 || x < lo {
				lo = x
			}
			if x > hi {
				hi = x
			}
		}
		rss := "–"
		if k := measure.PeakRSSKiB(r.Samples()); k > 0 && r.Tool != Kubectl {
			rss = fmt.Sprintf("%.1f MB", float64(k)/1024)
		}
		ratio := "–"
		if hasC && c.Median() > 0 {
			ratio = fmt.Sprintf("%.2f", r.Median().Seconds()/c.Median().Seconds())
		}
		name := r.Tool
		if r.Runs[0].Moved != s.Targets() {
			name = fmt.Sprintf("%s (%d timed, ×%d)", r.Tool, r.Runs[0].Moved, s.Targets()/max(r.Runs[0].Moved, 1))
		}
		st := r.worst()
		fmt.Fprintf(tw, "%s\t%.3fs\t%.3f–%.3fs\t%s\t%.1f\t%s\t%d/%d\t%d\t%d\t\n",
			name, r.Median().Seconds(), lo, hi, rss, float64(s.Targets())/r.Median().Seconds(), ratio, st.Check.Moved, st.Moved, st.Check.Missed, st.Check.Stray)
	}
	if floor := float64(max(s.Targets()-s.Raw.Burst, 0)) / float64(s.Raw.QPS); s.Raw.QPS > 0 && floor > 0 {
		fmt.Fprintf(tw, "limiter floor, one request per object\t%.3fs\t\t\t\t\t\t\t\t\n", floor)
		fmt.Fprintf(tw, "limiter floor, two (dry run + apply)\t%.3fs\t\t\t\t\t\t\t\t\n", float64(max(2*s.Targets()-s.Raw.Burst, 0))/float64(s.Raw.QPS))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	measure.PrintVerdicts(w, Verdicts(s, results))
	return nil
}
