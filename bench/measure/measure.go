// Package measure is what every benchmark of bench/ shares: timing a
// command (wall time and peak RSS), medians over runs, and the verdicts on
// docs/benchmarks.md's targets that bench/run collects into one summary.
//
// A benchmark program appends its verdicts to the file named by
// $CASCADE_BENCH_SUMMARY (JSON lines, see AppendVerdicts) and bench/run
// prints them all at the end (cmd/summary).
package measure

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Sample is one timed run.
type Sample struct {
	Wall   time.Duration
	RSSKiB int64
}

// Median is the median wall time of samples (0 for none).
func Median(samples []Sample) time.Duration {
	w := make([]time.Duration, len(samples))
	for i, s := range samples {
		w[i] = s.Wall
	}
	return MedianOf(w)
}

// MedianOf is the median of d (0 for none).
func MedianOf(d []time.Duration) time.Duration {
	w := slices.Clone(d)
	slices.Sort(w)
	switch {
	case len(w) == 0:
		return 0
	case len(w)%2 == 1:
		return w[len(w)/2]
	default:
		return (w[len(w)/2-1] + w[len(w)/2]) / 2
	}
}

// Range is the smallest and largest wall time of samples.
func Range(samples []Sample) (lo, hi time.Duration) {
	w := make([]time.Duration, len(samples))
	for i, s := range samples {
		w[i] = s.Wall
	}
	return RangeOf(w)
}

// RangeOf is the smallest and largest of d (0, 0 for none).
func RangeOf(d []time.Duration) (lo, hi time.Duration) {
	if len(d) == 0 {
		return 0, 0
	}
	return slices.Min(d), slices.Max(d)
}

// PeakRSSKiB is the largest peak RSS of samples (0 when unknown).
func PeakRSSKiB(samples []Sample) int64 {
	var m int64
	for _, s := range samples {
		m = max(m, s.RSSKiB)
	}
	return m
}

// Cmd is one command to time.
type Cmd struct {
	Args []string
	Dir  string
	// Env is added to this process's environment.
	Env []string
	// Time is the path of GNU time; when set, peak RSS is its %M (KiB) of
	// the largest process, otherwise the rusage of the finished process.
	Time string
	// Stdout receives the command's standard output (default: discarded).
	Stdout io.Writer
}

// Run runs c once and measures it. The error carries the first 4 KB of
// the command's standard error.
func Run(ctx context.Context, c Cmd) (Sample, error) {
	if len(c.Args) == 0 {
		return Sample{}, errors.New("measure: no command")
	}
	args := c.Args
	var rssFile string
	if c.Time != "" {
		f, err := os.CreateTemp("", "cascade-bench-rss-")
		if err != nil {
			return Sample{}, err
		}
		rssFile = f.Name()
		f.Close()
		defer os.Remove(rssFile)
		args = append([]string{c.Time, "-f", "%M", "-o", rssFile}, args...)
	}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Dir = c.Dir
	cmd.Env = append(os.Environ(), c.Env...)
	var stderr bytes.Buffer
	cmd.Stdout = io.Discard
	if c.Stdout != nil {
		cmd.Stdout = c.Stdout
	}
	cmd.Stderr = &limited{w: &stderr, n: 4096}
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return Sample{}, fmt.Errorf("%s: %w: %s", c.Args[0], err, strings.TrimSpace(stderr.String()))
	}
	s := Sample{Wall: wall}
	if rssFile != "" {
		b, err := os.ReadFile(rssFile)
		if err != nil {
			return s, fmt.Errorf("reading peak RSS: %w", err)
		}
		if fields := strings.Fields(string(b)); len(fields) > 0 {
			s.RSSKiB, _ = strconv.ParseInt(fields[len(fields)-1], 10, 64)
		}
	} else if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		s.RSSKiB = ru.Maxrss
	}
	return s, nil
}

// limited keeps the first n bytes written to it.
type limited struct {
	w io.Writer
	n int
}

func (l *limited) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		_, _ = l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}

// Verdict is one target's outcome.
type Verdict struct {
	Bench  string `json:"bench"`
	Target string `json:"target"`
	Figure string `json:"figure"`
	Pass   bool   `json:"pass"`
}

// SummaryEnv names the file bench/run collects verdicts in.
const SummaryEnv = "CASCADE_BENCH_SUMMARY"

// PrintVerdicts writes one line per verdict: PASS or FAIL, target, figure.
func PrintVerdicts(w io.Writer, vs []Verdict) {
	for _, v := range vs {
		mark := "PASS"
		if !v.Pass {
			mark = "FAIL"
		}
		fmt.Fprintf(w, "%s  %-48s %s\n", mark, v.Target, v.Figure)
	}
}

// AppendVerdicts appends vs as JSON lines to the file named by
// $CASCADE_BENCH_SUMMARY; without it, it does nothing.
func AppendVerdicts(vs []Verdict) error {
	path := os.Getenv(SummaryEnv)
	if path == "" || len(vs) == 0 {
		return nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("opening the bench summary: %w", err)
	}
	enc := json.NewEncoder(f)
	for _, v := range vs {
		if err := enc.Encode(v); err != nil {
			f.Close()
			return fmt.Errorf("writing the bench summary: %w", err)
		}
	}
	return f.Close()
}

// ReadVerdicts reads a summary file written by AppendVerdicts.
func ReadVerdicts(r io.Reader) ([]Verdict, error) {
	var vs []Verdict
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var v Verdict
		if err := json.Unmarshal(line, &v); err != nil {
			return nil, fmt.Errorf("reading the bench summary: %w", err)
		}
		vs = append(vs, v)
	}
	return vs, sc.Err()
}

// Alternate calls run for rounds rounds of n tools, in turn: round k
// starts at tool k mod n, so on a shared, noisy machine no tool always runs
// first or last. It stops at the first error, saying which round and tool
// (named by name(i)) failed.
func Alternate(rounds, n int, name func(i int) string, run func(round, i int) error) error {
	for round := range rounds {
		for k := range n {
			i := (round + k) % n
			if err := run(round, i); err != nil {
				return fmt.Errorf("run %d of %s: %w", round+1, name(i), err)
			}
		}
	}
	return nil
}

// Main runs a benchmark program's run with its arguments and a context
// cancelled on an interrupt, and returns the exit status for main: 0, or 1
// with the error on stderr, prefixed by the program's name.
func Main(name string, run func(ctx context.Context, args []string) error) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 1
	}
	return 0
}
