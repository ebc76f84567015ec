// Command summary prints the verdicts bench/run collected from every
// benchmark (the JSON lines of $CASCADE_BENCH_SUMMARY), grouped by
// benchmark, and exits 1 with --strict when a target failed.
package main

import (
	"flag"
	"fmt"
	"os"
	"slices"

	"github.com/imagecascade/cascade/bench/measure"
)

func main() {
	strict := flag.Bool("strict", false, "exit 1 when a target failed")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: summary [--strict] FILE")
		os.Exit(2)
	}
	f, err := os.Open(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, "summary:", err)
		os.Exit(1)
	}
	vs, err := measure.ReadVerdicts(f)
	f.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, "summary:", err)
		os.Exit(1)
	}
	slices.SortStableFunc(vs, func(a, b measure.Verdict) int {
		switch {
		case a.Bench < b.Bench:
			return -1
		case a.Bench > b.Bench:
			return 1
		}
		return 0
	})
	fmt.Println("Targets (docs/benchmarks.md):")
	measure.PrintVerdicts(os.Stdout, vs)
	failed := 0
	for _, v := range vs {
		if !v.Pass {
			failed++
		}
	}
	fmt.Printf("%d of %d targets met\n", len(vs)-failed, len(vs))
	if *strict && failed > 0 {
		os.Exit(1)
	}
}
