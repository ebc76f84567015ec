package b3_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/imagecascade/cascade/bench/b3"
	"github.com/imagecascade/cascade/internal/cli"
	"github.com/imagecascade/cascade/internal/testenv"
)

// start is a kube-apiserver with etcd (internal/testenv) and Tekton's CRDs,
// no controller.
func start(t *testing.T) *testenv.Kube {
	t.Helper()
	k := testenv.StartKube(t)
	testenv.InstallTektonCRDs(t, k)
	return k
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
