//go:build b7bench

package b7_test

import (
	"context"
	"flag"
	"os"
	"testing"

	"github.com/imagecascade/cascade/bench/b7"
	"github.com/imagecascade/cascade/bench/measure"
	"github.com/imagecascade/cascade/internal/testenv"
)

// Flags of the benchmark run (bench/run-b7 passes them to the compiled
// test binary).
var (
	cascadeBin = flag.String("b7.cascade", "", "cascade binary: run the benchmark (TestB7) with it")
	peerBin    = flag.String("b7.peer", "", "the peers (bench/cmd/b7)")
	kubectlBin = flag.String("b7.kubectl", "", "kubectl")
	benchRuns  = flag.Int("b7.runs", 2, "runs per tool")
	sample     = flag.Int("b7.kubectl-sample", -1, "objects the kubectl loop moves per run, scaled to all (default 200, 5 with -b7.smoke; 0 for all)")
	smoke      = flag.Bool("b7.smoke", false, "120 Deployments, 20 opted in, one run")
	timeBin    = flag.String("b7.time", "", "GNU time, for peak RSS")
)

// TestB7 is the benchmark, not a test: this file is compiled only with
// -tags b7bench, which bench/run-b7 gives `go test -c`. It prints the table
// and appends the verdicts to $CASCADE_BENCH_SUMMARY. (It is a test
// function because internal/testenv, which starts the API server, takes a
// testing.TB.)
func TestB7(t *testing.T) {
	if *cascadeBin == "" || *peerBin == "" || *kubectlBin == "" {
		t.Fatal("the B7 benchmark needs -b7.cascade, -b7.peer and -b7.kubectl: run bench/run-b7")
	}
	spec, runs := b7.B7(), *benchRuns
	if *smoke {
		spec, runs = b7.Smoke(), 1
	}
	if *sample >= 0 {
		spec.KubectlSample = *sample
	}
	k := testenv.StartKube(t)
	peer := func(dryRun bool) func(e *b7.Env) []string {
		return func(e *b7.Env) []string { return append([]string{*peerBin}, e.RawArgs(dryRun)...) }
	}
	tools := []b7.Tool{
		{Name: b7.Cascade, Args: func(e *b7.Env) []string { return append([]string{*cascadeBin}, e.CascadeArgs()...) }},
		{Name: b7.RawPeer, Args: peer(false)},
		{Name: b7.RawDryRun, Args: peer(true)},
		{Name: b7.Kubectl, Sampled: true, Args: func(e *b7.Env) []string {
			return []string{*peerBin, "kubectl-loop", "--kubectl", *kubectlBin, "--kubeconfig", e.Kubeconfig, "--targets", e.Sample}
		}},
	}
	res, err := b7.Run(context.Background(), b7.Options{
		Spec: spec, Runs: runs, Work: t.TempDir(), Kubeconfig: k.Kubeconfig, Admin: k.RESTConfig(), Time: *timeBin, Log: os.Stderr, Tools: tools,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b7.Table(os.Stdout, spec, runs, res); err != nil {
		t.Fatal(err)
	}
	if err := measure.AppendVerdicts(b7.Verdicts(spec, res)); err != nil {
		t.Fatal(err)
	}
}
