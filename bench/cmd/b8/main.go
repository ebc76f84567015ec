// Command b8 runs benchmark B8 of docs/benchmarks.md: `cascade plan` whose
// dependents declare themselves in 100 of an owner's 500 repositories, the
// GitHub API emulator 50 ms away, and prints the table. bench/run-b8 builds
// the binaries and calls it; see bench/README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/imagecascade/cascade/bench/b8"
	"github.com/imagecascade/cascade/bench/measure"
)

func main() { os.Exit(measure.Main("b8", run)) }

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("b8", flag.ContinueOnError)
	var (
		cascade = fs.String("cascade", "", "cascade binary")
		smoke   = fs.Bool("smoke", false, "120 repositories, 10 declaring, 5 ms, one run")
		runs    = fs.Int("runs", 5, "runs")
		work    = fs.String("work", "", "scratch folder (default: a new temporary folder, removed afterwards)")
		timeBin = fs.String("time", "", "GNU time, for peak RSS (default: the process's rusage)")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cascade == "" {
		return errors.New("--cascade is required")
	}
	spec := b8.B8()
	if *smoke {
		spec, *runs = b8.Smoke(), 1
	}
	dir := *work
	if dir == "" {
		d, err := os.MkdirTemp("", "cascade-b8-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	fmt.Fprintf(os.Stderr, "B8: %d repositories, %d declaring, %d runs of about %v each\n", spec.Repos, spec.Declaring, *runs, spec.Limit())
	results, err := b8.Run(ctx, b8.Options{Spec: spec, Cascade: *cascade, Runs: *runs, Work: dir, Time: *timeBin, Log: os.Stderr})
	if err != nil {
		return err
	}
	b8.Table(os.Stdout, spec, results)
	vs := b8.Verdicts(spec, results)
	measure.PrintVerdicts(os.Stdout, vs)
	return measure.AppendVerdicts(vs)
}
