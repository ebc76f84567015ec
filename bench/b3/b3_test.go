package b3_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/imagecascade/cascade/bench/b3"
	"github.com/imagecascade/cascade/bench/measure"
	"github.com/imagecascade/cascade/internal/cli"
	"github.com/imagecascade/cascade/internal/testenv"
)

// Flags of the benchmark run (bench/run-b3 passes them to the compiled
// test binary); without -b3.cascade, TestB3 is skipped.
var (
	cascadeBin = flag.String("b3.cascade", "", "cascade binary: run the benchmark (TestB3) with it")
	peerBin    = flag.String("b3.peer", "", "the raw client-go peer (bench/cmd/b3)")
	benchN     = flag.Int("b3.n", 0, "dependents (default 500, or 20 with -b3.smoke)")
	benchRuns  = flag.Int("b3.runs", 3, "runs per tool")
	smoke      = flag.Bool("b3.smoke", false, "20 dependents, one run")
	timeBin    = flag.String("b3.time", "", "GNU time, for peak RSS")
)

// start is a kube-apiserver with etcd (internal/testenv) and Tekton's CRDs,
// no controller.
func start(t *testing.T) *testenv.Kube {
	t.Helper()
	k := testenv.StartKube(t)
	dir, err := b3.CRDDir()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := b3.InstallCRDs(ctx, k.RESTConfig(), dir); err != nil {
		t.Fatal(err)
	}
	return k
}

// TestB3 is the benchmark: bench/run-b3 runs it with -b3.cascade and
// -b3.peer; it prints the table and appends the verdicts to
// $CASCADE_BENCH_SUMMARY. It is not a timed test: without -b3.cascade it
// is skipped.
func TestB3(t *testing.T) {
	if *cascadeBin == "" || *peerBin == "" {
		t.Skip("the B3 benchmark: run bench/run-b3 (needs -b3.cascade and -b3.peer)")
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

// TestHarness runs B3 end to end with 3 dependents on a real API server,
// both tools in-process, two rounds (so the peer also runs first): each run
// creates exactly one PipelineRun per dependent, and the table renders.
func TestHarness(t *testing.T) {
	t.Parallel()
	k := start(t)
	spec := b3.Spec{N: 3, Raw: b3.CascadeClient()}
	cascade := func(ctx context.Context, e *b3.Env) error {
		var out, errs bytes.Buffer
		args := e.CascadeArgs()
		if code := cli.Run(ctx, args, cli.Streams{Out: &out, Err: &errs}); code != 0 {
			return fmt.Errorf("cascade %s: exit %d: %s", strings.Join(args, " "), code, errs.String())
		}
		return nil
	}
	raw := func(ctx context.Context, e *b3.Env) error {
		prs, err := b3.ReadObjects(e.Objects)
		if err != nil {
			return err
		}
		cfg, err := e.Spec.Raw.RESTConfig(e.Kubeconfig)
		if err != nil {
			return err
		}
		_, err = e.Spec.Raw.Create(ctx, cfg, e.Namespace, prs)
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := b3.Run(ctx, b3.Options{
		Spec: spec, Runs: 2, Work: t.TempDir(), Kubeconfig: k.Kubeconfig, Admin: k.RESTConfig(),
		Tools: []b3.Tool{{Name: b3.Cascade, Func: cascade}, {Name: b3.RawPeer, Func: raw}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if len(r.Runs) != 2 {
			t.Fatalf("%s: %d runs, want 2", r.Tool, len(r.Runs))
		}
		for i, s := range r.Runs {
			if s.Created != spec.N || s.Dependents != spec.N {
				t.Errorf("%s run %d: %d PipelineRuns for %d dependents, want %d", r.Tool, i+1, s.Created, s.Dependents, spec.N)
			}
		}
	}
	var table bytes.Buffer
	if err := b3.Table(&table, spec, 2, res); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"PASS  B3 exactly 3 objects", "B3 ≥ 0.8× raw client-go throughput", "÷ raw throughput"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
}
