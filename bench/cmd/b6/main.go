// Command b6 runs benchmark B6 of docs/benchmarks.md: cascade's start-up and
// its container image's size. bench/run-b6 builds the binaries and calls
// it; see bench/README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/imagecascade/cascade/bench/b6"
	"github.com/imagecascade/cascade/bench/measure"
)

func main() { os.Exit(measure.Main("b6", run)) }

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("b6", flag.ContinueOnError)
	var (
		cascade = fs.String("cascade", "", "cascade binary, built as released (static, stripped)")
		crane   = fs.String("crane", "", "crane binary, a reference Go CLI (optional)")
		repo    = fs.String("repo", ".", "the checkout, for its Dockerfile")
		runs    = fs.Int("runs", 51, "runs per command")
		smoke   = fs.Bool("smoke", false, "5 runs per command, no image build")
		noImage = fs.Bool("no-image", false, "time start-up only")
		work    = fs.String("work", "", "scratch folder (default: a new temporary folder, removed afterwards)")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cascade == "" {
		return errors.New("--cascade is required")
	}
	if *smoke {
		*runs, *noImage = 5, true
	}
	cmds := []b6.Command{{Name: "cascade", Args: []string{*cascade, "version"}}, {Name: "true", Args: []string{"/bin/true"}}}
	if *crane != "" {
		cmds = append(cmds, b6.Command{Name: "crane", Args: []string{*crane, "version"}})
	}
	starts, err := b6.TimeStartup(ctx, cmds, *runs)
	if err != nil {
		return err
	}
	var img *b6.Image
	if !*noImage {
		dir := *work
		if dir == "" {
			d, err := os.MkdirTemp("", "cascade-b6-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(d)
			dir = d
		}
		im, err := b6.BuildImage(ctx, *repo, *cascade, dir)
		if err != nil {
			return fmt.Errorf("building the image: %w", err)
		}
		img = &im
	}
	if err := b6.Table(os.Stdout, starts, *runs, img); err != nil {
		return err
	}
	return measure.AppendVerdicts(b6.Verdicts(starts, img))
}
