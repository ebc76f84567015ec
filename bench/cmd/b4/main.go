// Command b4 runs benchmark B4 of docs/benchmarks.md: `cascade run` with N
// GitHub dependents against the GitHub API emulator, and prints the table.
// bench/run-b4 builds the binaries and calls it; see bench/README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/imagecascade/cascade/bench/b4"
	"github.com/imagecascade/cascade/bench/measure"
)

func main() { os.Exit(measure.Main("b4", run)) }

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("b4", flag.ContinueOnError)
	var (
		cascade   = fs.String("cascade", "", "cascade binary")
		smoke     = fs.Bool("smoke", false, "5 dependents, one run")
		runs      = fs.Int("runs", 3, "runs")
		n         = fs.Int("n", 0, "override the number of dependents")
		latency   = fs.Duration("latency", 0, "override the emulator's latency per request")
		tolerance = fs.Duration("gap-tolerance", b4.DefaultGapTolerance, "the emulator's allowance for send-to-arrival jitter when checking the mutation gap")
		work      = fs.String("work", "", "scratch folder (default: a new temporary folder, removed afterwards)")
		timeBin   = fs.String("time", "", "GNU time, for peak RSS (default: the process's rusage)")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cascade == "" {
		return errors.New("--cascade is required")
	}
	spec := b4.B4()
	if *smoke {
		spec, *runs = b4.Smoke(), 1
	}
	if *n > 0 {
		spec.N = *n
	}
	if *latency > 0 {
		spec.Latency = *latency
	}
	spec.GapTolerance = *tolerance
	dir := *work
	if dir == "" {
		d, err := os.MkdirTemp("", "cascade-b4-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	fmt.Fprintf(os.Stderr, "B4: %d dependents, %d runs of about %v each\n", spec.N, *runs, spec.Limit())
	results, err := b4.Run(ctx, b4.Options{Spec: spec, Tools: []b4.Tool{{Name: "cascade", Binary: *cascade}}, Runs: *runs, Work: dir, Time: *timeBin, Log: os.Stderr})
	if err != nil {
		return err
	}
	if err := b4.Table(os.Stdout, spec, *runs, results); err != nil {
		return err
	}
	return measure.AppendVerdicts(b4.Verdicts(spec, results))
}
