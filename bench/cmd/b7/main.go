// Command b7 is B7's peers (bench/README.md):
//
//	b7 patch --kubeconfig K --targets FILE [--qps 50 --burst 100 --concurrency 8] [--dry-run-first]
//	    raw client-go patches of the targets (a JSON array written by the
//	    harness) with cascade's client-side limiter and fan-out
//	b7 kubectl-loop --kubectl KUBECTL --kubeconfig K --targets FILE
//	    `kubectl set image deployment/NAME CONTAINER=IMAGE -n NS` per
//	    target, one after another, as a CI script's loop does
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"

	"github.com/imagecascade/cascade/bench/b7"
	"github.com/imagecascade/cascade/bench/measure"
)

func main() { os.Exit(measure.Main("b7", run)) }

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errors.New("usage: b7 patch|kubectl-loop FLAGS")
	}
	def := b7.CascadeClient()
	fs := flag.NewFlagSet("b7 "+args[0], flag.ContinueOnError)
	var (
		kubeconfig = fs.String("kubeconfig", "", "kubeconfig")
		targets    = fs.String("targets", "", "JSON array of targets")
		qps        = fs.Float64("qps", float64(def.QPS), "client-side limiter: requests per second")
		burst      = fs.Int("burst", def.Burst, "client-side limiter: burst")
		conc       = fs.Int("concurrency", def.Concurrency, "patches in flight")
		dryRun     = fs.Bool("dry-run-first", false, "send every patch as a dry run first")
		kubectl    = fs.String("kubectl", "kubectl", "kubectl binary")
	)
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *kubeconfig == "" || *targets == "" {
		return errors.New("--kubeconfig and --targets are required")
	}
	ts, err := b7.ReadTargets(*targets)
	if err != nil {
		return err
	}
	switch args[0] {
	case "patch":
		raw := b7.Raw{QPS: float32(*qps), Burst: *burst, Concurrency: *conc, DryRunFirst: *dryRun}
		cfg, err := raw.RESTConfig(*kubeconfig)
		if err != nil {
			return err
		}
		n, err := raw.Patch(ctx, cfg, ts)
		if err != nil {
			return fmt.Errorf("%d of %d patched: %w", n, len(ts), err)
		}
		return nil
	case "kubectl-loop":
		for i, t := range ts {
			cmd := exec.CommandContext(ctx, *kubectl, "--kubeconfig", *kubeconfig, "-n", t.Namespace,
				"set", "image", "deployment/"+t.Name, t.Container+"="+t.Image)
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("%d of %d set: kubectl set image %s/%s: %w: %s", i, len(ts), t.Namespace, t.Name, err, out)
			}
		}
		return nil
	}
	return fmt.Errorf("unknown command %q (patch, kubectl-loop)", args[0])
}
