//go:build b3bench

package b3_test

import (
	"context"
	"flag"
	"os"
	"testing"

	"github.com/imagecascade/cascade/bench/b3"
	"github.com/imagecascade/cascade/bench/measure"
)

// Flags of the benchmark run (bench/run-b3 passes them to the compiled
// test binary).
var (
	cascadeBin = flag.String("b3.cascade", "", "cascade binary: run the benchmark (TestB3) with it")
	peerBin    = flag.String("b3.peer", "", "the raw client-go peer (bench/cmd/b3)")
	benchN     = flag.Int("b3.n", 0, "dependents (default 500, or 20 with -b3.smoke)")
	benchRuns  = flag.Int("b3.runs", 3, "runs per tool")
	smoke      = flag.Bool("b3.smoke", false, "20 dependents, one run")
	timeBin    = flag.String("b3.time", "", "GNU time, for peak RSS")
)

// TestB3 is the benchmark, not a test: this file is compiled only with
// -tags b3bench, which bench/run-b3 gives `go test -c`, and the binary runs
// it with -b3.cascade and -b3.peer. It prints the table and appends the
// verdicts to $CASCADE_BENCH_SUMMARY. (It is a test function because
// internal/testenv, which starts the API server, takes a testing.TB.)
func TestB3(t *testing.T) {
	if *cascadeBin == "" || *peerBin == "" {
		t.Fatal("the B3 benchmark needs -b3.cascade and -b3.peer: run bench/run-b3")
	}
	spec, runs := b3.B3(), *benchRuns
	if *smoke {
		spec, runs = b3.Smoke(), 1
	}
	if *benchN > 0 {
		spec.N = *benchN
	}
	k := start(t)
	res, err := b3.Run(context.Background(), b3.Options{
		Spec: spec, Runs: runs, Work: t.TempDir(), Kubeconfig: k.Kubeconfig, Admin: k.RESTConfig(), Time: *timeBin, Log: os.Stderr,
		Tools: []b3.Tool{{Name: b3.Cascade, Binary: *cascadeBin}, {Name: b3.RawPeer, Binary: *peerBin}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b3.Table(os.Stdout, spec, runs, res); err != nil {
		t.Fatal(err)
	}
	if err := measure.AppendVerdicts(b3.Verdicts(spec, res)); err != nil {
		t.Fatal(err)
	}
}
