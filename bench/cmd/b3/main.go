// Command b3 is B3's peer: raw client-go creates of PipelineRuns, the
// objects `cascade run` created (a JSON array written by the harness), with
// the client-side limiter and fan-out cascade uses. bench/run-b3 builds it
// and the harness (the TestB3 benchmark of bench/b3) times it beside
// cascade; see bench/README.md.
//
//	b3 --kubeconfig K --namespace NS --objects FILE [--qps 5 --burst 10 --concurrency 8]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/imagecascade/cascade/bench/b3"
	"github.com/imagecascade/cascade/bench/measure"
)

func main() { os.Exit(measure.Main("b3", run)) }

func run(ctx context.Context, args []string) error {
	def := b3.CascadeClient()
	fs := flag.NewFlagSet("b3", flag.ContinueOnError)
	var (
		kubeconfig = fs.String("kubeconfig", "", "kubeconfig")
		ns         = fs.String("namespace", "", "namespace to create the PipelineRuns in")
		objects    = fs.String("objects", "", "JSON array of PipelineRuns")
		qps        = fs.Float64("qps", float64(def.QPS), "client-side limiter: requests per second")
		burst      = fs.Int("burst", def.Burst, "client-side limiter: burst")
		conc       = fs.Int("concurrency", def.Concurrency, "creates in flight")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *kubeconfig == "" || *ns == "" || *objects == "" {
		return errors.New("--kubeconfig, --namespace and --objects are required")
	}
	prs, err := b3.ReadObjects(*objects)
	if err != nil {
		return err
	}
	raw := b3.Raw{QPS: float32(*qps), Burst: *burst, Concurrency: *conc}
	cfg, err := raw.RESTConfig(*kubeconfig)
	if err != nil {
		return err
	}
	n, err := raw.Create(ctx, cfg, *ns, prs)
	if err != nil {
		return fmt.Errorf("%d of %d created: %w", n, len(prs), err)
	}
	return nil
}
