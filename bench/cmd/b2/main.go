// Command b2 runs benchmark B2 of docs/benchmarks.md (and, with --b5, the plan
// half of B5): it fills a registry with a generated image stream, runs
// cascade plan and a crane manifest loop alternately behind a latency
// proxy, and prints the table. bench/run-b2 and bench/run-b5 build the
// binaries and call it; see bench/README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/imagecascade/cascade/bench/b2"
	"github.com/imagecascade/cascade/bench/measure"
	"github.com/imagecascade/cascade/internal/cli"
	"github.com/imagecascade/cascade/internal/faultproxy"
)

func main() { os.Exit(measure.Main("b2", run)) }

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("b2", flag.ContinueOnError)
	var (
		b5         = fs.Bool("b5", false, "B5's plan half: 10,000 dependents, no latency, cascade alone, peak RSS")
		smoke      = fs.Bool("smoke", false, "small stream (100 dependents), one run each")
		runs       = fs.Int("runs", 0, "runs of cascade (default 5; B5 3)")
		craneRuns  = fs.Int("crane-runs", 3, "runs of the crane loop (each takes minutes at full size); 0 leaves it out")
		dependents = fs.Int("dependents", 0, "override the number of dependents")
		seed       = fs.Uint64("seed", 1, "workload seed")
		latency    = fs.Duration("latency", 20*time.Millisecond, "latency the proxy adds to every request (B5: 0)")
		work       = fs.String("work", "", "work folder, kept; its registry is reused when it holds the same stream (default: a temporary folder, removed afterwards)")
		cascadeBin = fs.String("cascade", "", "cascade binary")
		craneBin   = fs.String("crane", "", "crane binary (empty: no crane loop)")
		registry   = fs.String("registry", "docker-registry", "docker-registry binary")
		upstream   = fs.String("distribution", "", "B2: also run cascade and the ideal client against this registry binary built from github.com/distribution/distribution/v3 (bench/run-b2 builds it), after docker-registry")
		memory     = fs.Bool("memory", true, "B2: also run cascade and the ideal client against go-containerregistry's in-memory registry (cheap per request), after the real one")
		timeBin    = fs.String("time", "", "GNU time, for peak RSS (default: the process's rusage)")
		cpuprofile = fs.String("cpuprofile", "", "run cascade plan --runs times under the CPU profiler (in a child process, FILE.N per run), and stop")
		memprofile = fs.String("memprofile", "", "with --cpuprofile: also write an allocation profile of each run (FILE.N)")
		child      = fs.String("profile-child", "", "internal: run one cascade plan in-process under the CPU profiler, profile here (see --cpuprofile)")
		trace      = fs.String("trace", "", "write cascade's first run's requests here (ms since start, method, path)")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *child != "" {
		return profileChild(ctx, *child, *memprofile)
	}
	bench, spec := "B2", b2.B2()
	defRuns := 5
	if *b5 {
		bench, spec, defRuns = "B5", b2.B5(), 3
		*craneRuns, *memory = 0, false
		if !flagSet(fs, "latency") {
			*latency = 0
		}
	}
	if *smoke {
		spec, defRuns = b2.Smoke(), 1
		*craneRuns = min(*craneRuns, 1)
	}
	if *runs <= 0 {
		*runs = defRuns
	}
	spec.Seed = *seed
	if *dependents > 0 {
		spec.Dependents = *dependents
	}
	dir := *work
	if dir == "" {
		d, err := os.MkdirTemp("", "cascade-"+strings.ToLower(bench)+"-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	if *cpuprofile == "" && *cascadeBin == "" {
		return errors.New("--cascade is required")
	}
	backends := []string{*registry}
	if *upstream != "" && !*b5 {
		backends = append(backends, *upstream)
	}
	if *memory {
		backends = append(backends, b2.Memory)
	}
	for k, backend := range backends {
		p := pass{bench: bench, backend: backend, spec: spec, dir: filepath.Join(dir, fmt.Sprintf("registry-%d", k)),
			runs: *runs, latency: *latency, cascade: *cascadeBin, crane: *craneBin, timeBin: *timeBin}
		if k > 0 && backend != b2.Memory {
			p.where = " (distribution v3)"
		}
		if k > 0 || *b5 {
			p.craneRuns = 0 // the peer's figure comes from the first registry
		} else {
			p.craneRuns = *craneRuns
		}
		if *cpuprofile != "" {
			env, err := b2.Setup(ctx, p.dir, backend, spec, os.Stderr)
			if err != nil {
				return err
			}
			defer env.Close()
			return profile(ctx, env, *latency, *runs, *cpuprofile, *memprofile)
		}
		if k > 0 {
			fmt.Println()
		}
		if err := p.run(ctx, *trace); err != nil {
			return err
		}
	}
	return nil
}

// pass is one benchmark run against one registry.
type pass struct {
	bench, backend, dir     string
	spec                    b2.Spec
	runs, craneRuns         int
	latency                 time.Duration
	cascade, crane, timeBin string
	// where qualifies the verdicts of a pass after the first.
	where string
}

func (p pass) run(ctx context.Context, trace string) error {
	env, err := b2.Setup(ctx, p.dir, p.backend, p.spec, os.Stderr)
	if err != nil {
		return err
	}
	defer env.Close()
	if !env.Filled {
		fmt.Fprintf(os.Stderr, "b2: reusing the registry in %s\n", p.dir)
	}
	// The ideal client replays cascade's first run: cascade runs first in
	// the first round.
	var first []faultproxy.Request
	tools := []b2.Tool{{Name: "cascade", Script: b2.CascadeScript}}
	if p.bench != "B5" {
		tools = append(tools, env.Floor(func() []faultproxy.Request { return first }, b2.Concurrency))
	}
	if p.crane != "" && p.craneRuns > 0 {
		tools = append(tools, b2.Tool{Name: "crane loop", Script: b2.CraneScript, Runs: p.craneRuns})
	}
	results, err := b2.Run(ctx, b2.Options{Env: env, Tools: tools, Runs: p.runs, Latency: p.latency, Time: p.timeBin,
		ExtraEnv: []string{"B2_CASCADE=" + p.cascade, "B2_CRANE=" + p.crane}, Log: os.Stderr,
		Observe: func(tool string, round int, reqs []faultproxy.Request) {
			if tool == "cascade" && round == 0 {
				first = reqs
			}
		}})
	if err != nil {
		return err
	}
	if trace != "" {
		if err := writeTrace(fmt.Sprintf("%s.%s", trace, filepath.Base(p.backend)), results[0]); err != nil {
			return err
		}
	}
	correct, err := b2.Check(env.Stream, results[0].Output)
	if err != nil {
		return err
	}
	rep := b2.Report{Bench: p.bench, Backend: env.Backend, Env: env, Results: results, Runs: p.runs, Latency: p.latency, Correct: correct, RSS: p.timeBin != "", Where: p.where}
	if err := rep.Table(os.Stdout); err != nil {
		return err
	}
	return measure.AppendVerdicts(rep.Verdicts())
}

func writeTrace(path string, r b2.Result) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := r.Trace(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// profile runs cascade plan in a child process (this program, with
// --profile-child), so that the profile holds cascade alone and not the
// proxy and registry of this process: one CPU profile per run,
// cpuOut.1, cpuOut.2, … (go tool pprof merges them), and with memOut a
// heap profile of each run (memOut.N).
func profile(ctx context.Context, env *b2.Env, latency time.Duration, runs int, cpuOut, memOut string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	n := 0
	tool := b2.Tool{Name: "cascade", Func: func(ctx context.Context, stdout io.Writer) error {
		n++
		args := []string{"--profile-child", fmt.Sprintf("%s.%d", cpuOut, n)}
		if memOut != "" {
			args = append(args, "--memprofile", fmt.Sprintf("%s.%d", memOut, n))
		}
		cmd := exec.CommandContext(ctx, self, args...)
		cmd.Env = append(os.Environ(), env.Env()...)
		cmd.Stdout, cmd.Stderr = stdout, os.Stderr
		return cmd.Run()
	}}
	results, err := b2.Run(ctx, b2.Options{Env: env, Tools: []b2.Tool{tool}, Runs: runs, Latency: latency, Log: os.Stderr})
	if err != nil {
		return err
	}
	c, err := b2.Check(env.Stream, results[0].Output)
	if err != nil {
		return err
	}
	rep := b2.Report{Bench: "profile", Backend: env.Backend, Env: env, Results: results, Runs: runs, Latency: latency, Correct: c}
	fmt.Fprintf(os.Stderr, "profiles in %s.1 … %s.%d: go tool pprof -top %s.*\n", cpuOut, cpuOut, runs, cpuOut)
	return rep.Table(os.Stdout)
}

// profileChild is the child of profile: one cascade plan, in-process,
// under the CPU profiler, its plan on stdout.
func profileChild(ctx context.Context, cpuOut, memOut string) error {
	f, err := os.Create(cpuOut)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	tool := b2.InProcess(cli.Run)
	err = tool.Func(ctx, os.Stdout)
	pprof.StopCPUProfile()
	if err != nil {
		return err
	}
	if memOut == "" {
		return nil
	}
	m, err := os.Create(memOut)
	if err != nil {
		return err
	}
	defer m.Close()
	return pprof.Lookup("allocs").WriteTo(m, 0)
}
