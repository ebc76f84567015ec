// Package b6 is benchmark B6 of docs/benchmarks.md: cascade's start-up
// (`cascade version`, ≤ 30 ms) and the size of its container image
// (≤ 40 MB), built the Dockerfile's offline way with real buildah.
//
// Start-up is timed as a CI step pays it: fork, exec, the Go runtime and
// every package's initialisation, the command, exit. The same loop times
// two references in alternation — `true` (the cost of starting any
// process here) and `crane version` (go-containerregistry's CLI, a small
// Go tool of the same family) — so the figure can be read against this
// machine's noise.
package b6

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/imagecascade/cascade/bench/measure"
	"github.com/imagecascade/cascade/internal/testenv"
)

// Targets of docs/benchmarks.md.
const (
	MaxStartup   = 30 * time.Millisecond
	MaxImageSize = 40 << 20
)

// Command is one contender of the start-up loop.
type Command struct {
	Name string
	Args []string
}

// Startup is one command's runs: wall and CPU (user+system) time.
type Startup struct {
	Name      string
	Wall, CPU []time.Duration
}

// TimeStartup runs every command runs times, alternating (round k starts
// at command k), after one untimed warm-up run each (the page cache).
func TimeStartup(ctx context.Context, cmds []Command, runs int) ([]Startup, error) {
	out := make([]Startup, len(cmds))
	for i, c := range cmds {
		out[i].Name = c.Name
		if _, _, err := runOnce(ctx, c); err != nil {
			return nil, err
		}
	}
	err := measure.Alternate(runs, len(cmds), func(i int) string { return cmds[i].Name }, func(_, i int) error {
		wall, cpu, err := runOnce(ctx, cmds[i])
		if err != nil {
			return err
		}
		out[i].Wall = append(out[i].Wall, wall)
		out[i].CPU = append(out[i].CPU, cpu)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func runOnce(ctx context.Context, c Command) (wall, cpu time.Duration, err error) {
	cmd := exec.CommandContext(ctx, c.Args[0], c.Args[1:]...)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, 0, fmt.Errorf("%s: %w", c.Name, err)
	}
	wall = time.Since(start)
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return wall, cpu, nil
}

// Image is the built image's size: compressed layers plus config, what a
// pull downloads.
type Image struct {
	Bytes  int64
	Layers int
	Binary int64 // the static binary's size on disk
}

// BuildImage builds the image from the repository's Dockerfile (its
// default, offline stage) with binary and the CA certificates, using
// buildah with private storage under work, and measures it.
func BuildImage(ctx context.Context, repo, binary, work string) (Image, error) {
	b, err := testenv.OpenBuildah(filepath.Join(work, "buildah"))
	if err != nil {
		return Image{}, err
	}
	defer b.Cleanup()
	bctx := filepath.Join(work, "context")
	if err := os.MkdirAll(filepath.Join(bctx, "bin"), 0o755); err != nil {
		return Image{}, err
	}
	copies := map[string]string{
		filepath.Join(repo, "Dockerfile"):    filepath.Join(bctx, "Dockerfile"),
		filepath.Join(repo, ".dockerignore"): filepath.Join(bctx, ".dockerignore"),
		binary:                               filepath.Join(bctx, "bin", "cascade"),
		"/etc/ssl/certs/ca-certificates.crt": filepath.Join(bctx, "bin", "ca-certificates.crt"),
	}
	for src, dst := range copies {
		data, err := os.ReadFile(src)
		if err != nil {
			return Image{}, fmt.Errorf("preparing the build context: %w", err)
		}
		if err := os.WriteFile(dst, data, 0o755); err != nil {
			return Image{}, fmt.Errorf("preparing the build context: %w", err)
		}
	}
	const tag = "localhost/cascade:b6"
	if err := b.Build(ctx, bctx, tag, testenv.BuildOptions{}); err != nil {
		return Image{}, err
	}
	oci := filepath.Join(work, "oci")
	if err := b.PushOCI(ctx, tag, oci); err != nil {
		return Image{}, err
	}
	return measureLayout(oci, binary)
}

func measureLayout(dir, binary string) (Image, error) {
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return Image{}, fmt.Errorf("reading %s: %w", dir, err)
	}
	im, err := idx.IndexManifest()
	if err != nil || len(im.Manifests) != 1 {
		return Image{}, fmt.Errorf("reading %s: want one image (%v)", dir, err)
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		return Image{}, fmt.Errorf("reading %s: %w", dir, err)
	}
	m, err := img.Manifest()
	if err != nil {
		return Image{}, fmt.Errorf("reading %s: %w", dir, err)
	}
	out := Image{Bytes: m.Config.Size, Layers: len(m.Layers)}
	for _, l := range m.Layers {
		out.Bytes += l.Size
	}
	if fi, err := os.Stat(binary); err == nil {
		out.Binary = fi.Size()
	}
	return out, nil
}

// Verdicts checks the targets: cascade's median start-up and the image size
// (when built).
func Verdicts(starts []Startup, img *Image) []measure.Verdict {
	var v []measure.Verdict
	for _, s := range starts {
		if s.Name != "cascade" {
			continue
		}
		m := measure.MedianOf(s.Wall)
		v = append(v, measure.Verdict{Bench: "B6", Target: "B6 cascade version ≤ 30 ms",
			Figure: fmt.Sprintf("%.1f ms median wall (%.1f ms CPU)", ms(m), ms(measure.MedianOf(s.CPU))), Pass: m <= MaxStartup})
	}
	if img != nil {
		v = append(v, measure.Verdict{Bench: "B6", Target: "B6 image ≤ 40 MB",
			Figure: fmt.Sprintf("%.1f MB (%s)", float64(img.Bytes)/(1<<20), layers(img.Layers)), Pass: img.Bytes <= MaxImageSize})
	}
	return v
}

func layers(n int) string {
	if n == 1 {
		return "1 layer"
	}
	return fmt.Sprintf("%d layers", n)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Table writes the start-up rows, the image and the verdicts.
func Table(w io.Writer, starts []Startup, runs int, img *Image) error {
	fmt.Fprintf(w, "B6: start-up, %d runs per command, alternating (after one warm-up each)\n\n", runs)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "command\tmedian wall\tmin–max\tmedian CPU\t÷ true\t")
	var floor time.Duration
	for _, s := range starts {
		if s.Name == "true" {
			floor = measure.MedianOf(s.Wall)
		}
	}
	for _, s := range starts {
		lo, hi := measure.RangeOf(s.Wall)
		ratio := "–"
		if floor > 0 {
			ratio = fmt.Sprintf("%.1f", float64(measure.MedianOf(s.Wall))/float64(floor))
		}
		fmt.Fprintf(tw, "%s\t%.1f ms\t%.1f–%.1f ms\t%.1f ms\t%s\t\n", s.Name, ms(measure.MedianOf(s.Wall)), ms(lo), ms(hi), ms(measure.MedianOf(s.CPU)), ratio)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if img != nil {
		fmt.Fprintf(w, "\nimage (Dockerfile, offline stage, buildah; compressed layers + config): %.1f MB, %s; binary %.1f MB\n",
			float64(img.Bytes)/(1<<20), layers(img.Layers), float64(img.Binary)/(1<<20))
	}
	fmt.Fprintln(w)
	measure.PrintVerdicts(w, Verdicts(starts, img))
	return nil
}
