package b1

import (
	"fmt"
	"github.com/imagecascade/cascade/bench/measure"
	"io"
	"text/tabwriter"
)

// Targets of docs/benchmarks.md for B1 (and B5's memory bound on the B1 tree).
const (
	MaxRatioToSed   = 2.0
	MinSpeedupOverY = 10.0
	MaxRSSKiB       = 256 << 10
)

// Verdict is one target's outcome.
type Verdict = measure.Verdict

// Verdicts checks the targets against the results of the tools named
// cascade, sed and yq; a target whose peer did not run is left out.
func Verdicts(results []Result) []Verdict {
	c, ok := find(results, "cascade")
	if !ok {
		return nil
	}
	var v []Verdict
	if s, ok := find(results, "sed"); ok && s.Median() > 0 {
		r := c.Median().Seconds() / s.Median().Seconds()
		fig := fmt.Sprintf("%.2f× sed", r)
		if f, ok := find(results, "floor"); ok {
			fig += fmt.Sprintf(" (the parse-and-write floor: %.2f×)", f.Median().Seconds()/s.Median().Seconds())
		}
		v = append(v, Verdict{Bench: "B1", Target: "B1 wall ≤ 2× sed -i", Figure: fig, Pass: r <= MaxRatioToSed})
	}
	if y, ok := find(results, "yq"); ok && c.Median() > 0 {
		r := y.Median().Seconds() / c.Median().Seconds()
		v = append(v, Verdict{Bench: "B1", Target: "B1 ≥ 10× faster than the yq -i loop", Figure: fmt.Sprintf("%.1f× faster", r), Pass: r >= MinSpeedupOverY})
	}
	cc := c.Correct
	v = append(v, Verdict{Bench: "B1", Target: "B1 diff = only the changed values",
		Figure: fmt.Sprintf("%d files, %d bytes changed; %d missed, %d wrong, %d extra", cc.FilesChanged, cc.BytesChanged, cc.Missed, cc.Wrong, cc.Extra),
		Pass:   cc.OnlyValues()})
	if rss := c.PeakRSSKiB(); rss > 0 {
		v = append(v, Verdict{Bench: "B5", Target: "B5 update on the B1 tree ≤ 256 MB peak RSS", Figure: fmt.Sprintf("%.1f MB", float64(rss)/1024), Pass: rss <= MaxRSSKiB})
	}
	return v
}

func find(results []Result, name string) (Result, bool) {
	for _, r := range results {
		if r.Tool == name {
			return r, true
		}
	}
	return Result{}, false
}

// Table writes the results: one row per tool, then the targets.
func Table(w io.Writer, wl *Workload, runs int, results []Result) error {
	fmt.Fprintf(w, "B1: %d YAML files, %.1f MB, %d referencing %s (%d kustomizations in all); %d runs per tool, alternating; minimal change %d bytes\n\n",
		wl.Files, float64(wl.Bytes)/1e6, wl.Targets, Repository, wl.Kustomizations, runs, wl.MinimalBytes)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "tool\tmedian wall\tmin–max\tpeak RSS\t÷ sed\t÷ yq loop\tfiles changed\tbytes changed\tmissed\twrong\tbytes off\t")
	sed, hasSed := find(results, "sed")
	yq, hasYq := find(results, "yq")
	for _, r := range results {
		lo, hi := measure.Range(r.Samples)
		rss := "–"
		if k := r.PeakRSSKiB(); k > 0 {
			rss = fmt.Sprintf("%.1f MB", float64(k)/1024)
		}
		ratio := func(ok bool, peer Result) string {
			if !ok || peer.Median() == 0 {
				return "–"
			}
			return fmt.Sprintf("%.2f", r.Median().Seconds()/peer.Median().Seconds())
		}
		c := r.Correct
		fmt.Fprintf(tw, "%s\t%.3fs\t%.3f–%.3fs\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t\n",
			r.Tool, r.Median().Seconds(), lo.Seconds(), hi.Seconds(), rss, ratio(hasSed, sed), ratio(hasYq, yq),
			c.FilesChanged, c.BytesChanged, c.Missed, c.Wrong, c.BytesOff)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	measure.PrintVerdicts(w, Verdicts(results))
	return nil
}
