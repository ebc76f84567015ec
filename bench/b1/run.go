package b1

import (
	"context"
	"fmt"
	"github.com/imagecascade/cascade/bench/measure"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// Tool is one contender: a bash script run with the tree as $1 (and as its
// working directory), or, in tests, a function run in-process.
type Tool struct {
	Name   string
	Script string
	Func   func(ctx context.Context, tree string) error
}

// Options configures Run.
type Options struct {
	Workload *Workload
	Tools    []Tool
	// Runs per tool (default 5).
	Runs int
	// Work holds the per-run copies of the tree.
	Work string
	// Time is the path of GNU time; when set, peak RSS is its %M (KiB),
	// otherwise the rusage of the finished process.
	Time string
	// Env is added to the environment of every script.
	Env []string
	// Log receives one progress line per run; nil means none.
	Log io.Writer
}

// Sample is one timed run.
type Sample = measure.Sample

// Result is one tool's runs and the correctness of its first output.
type Result struct {
	Tool    string
	Samples []Sample
	Correct Correctness
}

// Median is the median wall time.
func (r Result) Median() time.Duration { return measure.Median(r.Samples) }

// PeakRSSKiB is the largest peak RSS over the runs (0 when unknown).
func (r Result) PeakRSSKiB() int64 { return measure.PeakRSSKiB(r.Samples) }

// Run times every tool Runs times, alternating: round k runs the tools in
// order starting at tool k, so no tool always runs first or last. Each run
// gets a fresh copy of the pristine tree, made before the clock starts;
// the first run's output is compared with the expected tree.
func Run(ctx context.Context, o Options) ([]Result, error) {
	if o.Runs <= 0 {
		o.Runs = 5
	}
	results := make([]Result, len(o.Tools))
	for i, t := range o.Tools {
		results[i].Tool = t.Name
	}
	err := measure.Alternate(o.Runs, len(o.Tools), func(i int) string { return o.Tools[i].Name }, func(round, i int) error {
		t := o.Tools[i]
		tree := filepath.Join(o.Work, "run-"+t.Name)
		if err := os.RemoveAll(tree); err != nil {
			return fmt.Errorf("clearing %s: %w", tree, err)
		}
		if err := CopyTree(o.Workload.Original, tree); err != nil {
			return err
		}
		// The copy's 77 MB are dirty in the page cache: flushed now,
		// untimed, or the first fsync of the timed command (cascade's,
		// never sed's) pays for writing back the harness's own setup.
		syscall.Sync()
		s, err := runOnce(ctx, o, t, tree)
		if err != nil {
			return err
		}
		results[i].Samples = append(results[i].Samples, s)
		if o.Log != nil {
			fmt.Fprintf(o.Log, "run %d/%d %-10s %8.3fs %7.1f MB\n", round+1, o.Runs, t.Name, s.Wall.Seconds(), float64(s.RSSKiB)/1024)
		}
		if round == 0 {
			c, err := Compare(o.Workload.Original, o.Workload.Expected, tree)
			if err != nil {
				return err
			}
			results[i].Correct = c
		}
		if err := os.RemoveAll(tree); err != nil {
			return fmt.Errorf("clearing %s: %w", tree, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

func runOnce(ctx context.Context, o Options, t Tool, tree string) (Sample, error) {
	if t.Func != nil {
		start := time.Now()
		err := t.Func(ctx, tree)
		return Sample{Wall: time.Since(start)}, err
	}
	return measure.Run(ctx, measure.Cmd{
		Args: []string{"bash", "-c", t.Script, "b1-" + t.Name, tree},
		Dir:  tree, Env: o.Env, Time: o.Time,
	})
}

// CopyTree copies the regular files and folders of src to dst.
func CopyTree(src, dst string) error {
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	if err != nil {
		return fmt.Errorf("copying %s to %s: %w", src, dst, err)
	}
	return nil
}
