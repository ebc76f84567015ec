// Command b1 runs benchmark B1 of docs/benchmarks.md: it generates the
// workload, runs cascade and its peers alternately and prints the table.
// bench/run builds the binaries and calls it; see bench/README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"time"

	"github.com/imagecascade/cascade/bench/b1"
	"github.com/imagecascade/cascade/bench/measure"
	"github.com/imagecascade/cascade/internal/imageref"
	"github.com/imagecascade/cascade/internal/manifests"
)

func main() { os.Exit(measure.Main("b1", run)) }

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("b1", flag.ContinueOnError)
	var (
		bin        b1.Binaries
		smoke      = fs.Bool("smoke", false, "small tree (200 files), one run")
		runs       = fs.Int("runs", 5, "runs per tool")
		files      = fs.Int("files", 0, "override the number of files")
		targets    = fs.Int("targets", 0, "override the number of files referencing the image")
		seed       = fs.Uint64("seed", 1, "workload seed")
		work       = fs.String("work", "", "scratch folder, kept, its tree reused when generated from the same spec (default: a new temporary folder, removed afterwards)")
		timeBin    = fs.String("time", "", "GNU time, for peak RSS (default: the process's rusage)")
		cpuprofile = fs.String("cpuprofile", "", "profile manifests.Update in-process on the tree, write the CPU profile here, and stop")
	)
	fs.StringVar(&bin.Cascade, "cascade", "", "cascade binary")
	fs.StringVar(&bin.Floor, "floor", "", "b1floor binary (bench/cmd/b1floor): the parse-and-write floor")
	fs.StringVar(&bin.Sed, "sed", "", "sed binary (GNU)")
	fs.StringVar(&bin.Yq, "yq", "", "yq binary")
	fs.StringVar(&bin.Kustomize, "kustomize", "", "kustomize binary")
	if err := fs.Parse(args); err != nil {
		return err
	}
	spec := b1.B1()
	if *smoke {
		spec, *runs = b1.Smoke(), 1
	}
	spec.Seed = *seed
	if *files > 0 {
		spec.Files = *files
	}
	if *targets > 0 {
		spec.Targets = *targets
	}
	dir := *work
	if dir == "" {
		d, err := os.MkdirTemp("", "cascade-b1-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	start := time.Now()
	wl, err := b1.Cached(filepath.Join(dir, "tree"), spec)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "workload: %d files (%.1f MB) in %.1fs\n", wl.Files, float64(wl.Bytes)/1e6, time.Since(start).Seconds())
	if *cpuprofile != "" {
		return profile(ctx, wl, dir, *cpuprofile, *runs)
	}
	bin.Expected = wl.Expected
	tools := bin.Tools()
	if len(tools) == 0 {
		return errors.New("no tools: give at least --cascade")
	}
	results, err := b1.Run(ctx, b1.Options{Workload: wl, Tools: tools, Runs: *runs, Work: dir, Time: *timeBin, Env: bin.Env(), Log: os.Stderr})
	if err != nil {
		return err
	}
	if err := b1.Table(os.Stdout, wl, *runs, results); err != nil {
		return err
	}
	return measure.AppendVerdicts(b1.Verdicts(results))
}

// profile runs manifests.Update as cascade update does, runs times, under
// the CPU profiler.
func profile(ctx context.Context, wl *b1.Workload, dir, out string, runs int) error {
	ref, err := imageref.Parse(b1.Image())
	if err != nil {
		return err
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	var elapsed time.Duration
	for i := range runs {
		tree := filepath.Join(dir, "profile")
		if err := os.RemoveAll(tree); err != nil {
			return err
		}
		if err := b1.CopyTree(wl.Original, tree); err != nil {
			return err
		}
		if i == 0 {
			if err := pprof.StartCPUProfile(f); err != nil {
				return err
			}
			defer pprof.StopCPUProfile()
		}
		start := time.Now()
		res, err := manifests.Update(ctx, manifests.Options{Workspace: tree, Image: ref})
		elapsed += time.Since(start)
		if err != nil {
			return err
		}
		if err := res.Err(); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "run %d: %d files changed in %.3fs\n", i+1, len(res.Changed()), time.Since(start).Seconds())
	}
	fmt.Fprintf(os.Stderr, "mean %.3fs; profile in %s\n", elapsed.Seconds()/float64(runs), out)
	return nil
}
