package b7_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/imagecascade/cascade/bench/b7"
	"github.com/imagecascade/cascade/internal/cli"
	"github.com/imagecascade/cascade/internal/testenv"
)

// inProcess are the contenders run in-process: cascade through cli.Run,
// the raw peer with and without its dry run.
func inProcess() []b7.Tool {
	cascade := func(ctx context.Context, e *b7.Env) error {
		var out, errs bytes.Buffer
		args := e.CascadeArgs()
		if code := cli.Run(ctx, args, cli.Streams{Out: &out, Err: &errs}); code != 0 {
			return fmt.Errorf("cascade %s: exit %d: %s", strings.Join(args, " "), code, errs.String())
		}
		return nil
	}
	raw := func(dryRun bool) func(ctx context.Context, e *b7.Env) error {
		return func(ctx context.Context, e *b7.Env) error {
			ts, err := b7.ReadTargets(e.Targets)
			if err != nil {
				return err
			}
			r := e.Spec.Raw
			r.DryRunFirst = dryRun
			cfg, err := r.RESTConfig(e.Kubeconfig)
			if err != nil {
				return err
			}
			_, err = r.Patch(ctx, cfg, ts)
			return err
		}
	}
	return []b7.Tool{{Name: b7.Cascade, Func: cascade}, {Name: b7.RawPeer, Func: raw(false)}, {Name: b7.RawDryRun, Func: raw(true)}}
}

// TestHarness runs B7 end to end on a real API server with 24 Deployments
// in 2 namespaces, 6 opted in, every tool in-process, two rounds: each run
// moves exactly the opted-in objects (the others keep their
// resourceVersion), the reset between runs lets the next run move them
// again, and the table renders.
func TestHarness(t *testing.T) {
	t.Parallel()
	k := testenv.StartKube(t)
	spec := b7.Spec{Namespaces: 2, PerNamespace: 12, Opted: 3, Raw: b7.CascadeClient()}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := b7.Run(ctx, b7.Options{Spec: spec, Runs: 2, Work: t.TempDir(), Kubeconfig: k.Kubeconfig, Admin: k.RESTConfig(), Tools: inProcess()})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if len(r.Runs) != 2 {
			t.Fatalf("%s: %d runs, want 2", r.Tool, len(r.Runs))
		}
		for i, s := range r.Runs {
			if !s.Check.Exact(spec.Targets()) {
				t.Errorf("%s run %d: %+v, want exactly %d moved", r.Tool, i+1, s.Check, spec.Targets())
			}
		}
	}
	var table bytes.Buffer
	if err := b7.Table(&table, spec, 2, res); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"PASS  B7 exactly the 6 opted-in objects changed", "B7 ≥ 0.8× raw client-go patch throughput", "raw+dry-run"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
}
