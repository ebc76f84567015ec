package b2

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/imagecascade/cascade/bench/measure"
	"github.com/imagecascade/cascade/internal/cli"
	"github.com/imagecascade/cascade/internal/faultproxy"
	"github.com/imagecascade/cascade/internal/plan"
)

// Tool is one contender: a bash script run with the Env's environment, or,
// in tests, a function run in-process. Either writes cascade's plan (or
// nothing) to stdout.
type Tool struct {
	Name   string
	Script string
	Func   func(ctx context.Context, stdout io.Writer) error
	// Runs overrides Options.Runs for this tool (the crane loop takes
	// minutes: fewer runs of it).
	Runs int
}

// Options configures Run.
type Options struct {
	Env   *Env
	Tools []Tool
	// Runs per tool (default 5).
	Runs int
	// Latency the proxy adds to every request during the runs.
	Latency time.Duration
	// Time is the path of GNU time, for peak RSS.
	Time string
	// ExtraEnv is added to every script's environment.
	ExtraEnv []string
	// Log receives one progress line per run; nil means none.
	Log io.Writer
	// Observe, when set, is called after each run with the proxy's log
	// of it (the ideal client replays cascade's first one).
	Observe func(tool string, round int, reqs []faultproxy.Request)
}

// Result is one tool's runs.
type Result struct {
	Tool    string
	Samples []measure.Sample
	// Counts are the requests of the first run; Totals the request
	// total of every run (they should not vary).
	Counts Counts
	Totals []int
	// Output is the first run's standard output.
	Output []byte
	// Requests is the proxy's log of the first run, which began at Start.
	Requests []faultproxy.Request
	Start    time.Time
}

// Trace writes the first run's requests, one a line: milliseconds since
// the run began, method, path.
func (r Result) Trace(w io.Writer) error {
	for _, q := range r.Requests {
		if _, err := fmt.Fprintf(w, "%9.3f %s %s\n", float64(q.Time.Sub(r.Start).Microseconds())/1000, q.Method, q.Path); err != nil {
			return err
		}
	}
	return nil
}

// Median is the median wall time.
func (r Result) Median() time.Duration { return measure.Median(r.Samples) }

// Run times every tool, alternating: round k starts at tool k, so none
// always runs first or last; a tool with fewer runs sits out the last
// rounds. The proxy's log is taken after each run and classified.
func Run(ctx context.Context, o Options) ([]Result, error) {
	if o.Runs <= 0 {
		o.Runs = 5
	}
	runs := func(t Tool) int {
		if t.Runs > 0 {
			return t.Runs
		}
		return o.Runs
	}
	rounds := 0
	for _, t := range o.Tools {
		rounds = max(rounds, runs(t))
	}
	p := o.Env.Proxy
	p.SetLatency(o.Latency)
	defer p.SetLatency(0)
	results := make([]Result, len(o.Tools))
	for i, t := range o.Tools {
		results[i].Tool = t.Name
	}
	baseRepo := o.Env.Stream.Base().Repo
	err := measure.Alternate(rounds, len(o.Tools), func(i int) string { return o.Tools[i].Name }, func(round, i int) error {
		t := o.Tools[i]
		if round >= runs(t) {
			return nil
		}
		p.TakeRequests()
		var out bytes.Buffer
		start := time.Now()
		s, err := runOnce(ctx, o, t, &out)
		if err != nil {
			return err
		}
		reqs := p.TakeRequests()
		if o.Observe != nil {
			o.Observe(t.Name, round, reqs)
		}
		c := Count(reqs, baseRepo)
		r := &results[i]
		r.Samples = append(r.Samples, s)
		r.Totals = append(r.Totals, c.Total())
		if round == 0 {
			r.Counts, r.Output, r.Requests, r.Start = c, out.Bytes(), reqs, start
		}
		if o.Log != nil {
			fmt.Fprintf(o.Log, "run %d/%d %-10s %8.3fs %7.1f MB %6d requests\n", round+1, runs(t), t.Name, s.Wall.Seconds(), float64(s.RSSKiB)/1024, c.Total())
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

func runOnce(ctx context.Context, o Options, t Tool, out *bytes.Buffer) (measure.Sample, error) {
	if t.Func != nil {
		start := time.Now()
		err := t.Func(ctx, out)
		return measure.Sample{Wall: time.Since(start)}, err
	}
	return measure.Run(ctx, measure.Cmd{
		Args: []string{"bash", "-c", t.Script, "b2-" + t.Name},
		Dir:  o.Env.Dir, Env: append(o.Env.Env(), o.ExtraEnv...), Time: o.Time, Stdout: out,
	})
}

// Correctness compares a plan with the stream's expectations.
type Correctness struct {
	// Dependents in the plan; Stale and Current by its verdicts.
	Dependents, Stale, Current, Unknown int
	// Wrong dependents: verdict, action or digest not as expected
	// (Missing: expected but absent from the plan).
	Wrong, Missing int
	// Examples of what was wrong (a few).
	Examples []string
}

// OK reports whether the plan is exactly what the stream expects.
func (c Correctness) OK() bool { return c.Wrong == 0 && c.Missing == 0 }

// Check reads cascade's JSON plan and compares it with the stream.
func Check(s *Stream, planJSON []byte) (Correctness, error) {
	var p plan.Plan
	if err := json.Unmarshal(planJSON, &p); err != nil {
		return Correctness{}, fmt.Errorf("reading the plan: %w", err)
	}
	var c Correctness
	wrong := func(format string, args ...any) {
		c.Wrong++
		if len(c.Examples) < 5 {
			c.Examples = append(c.Examples, fmt.Sprintf(format, args...))
		}
	}
	if p.Digest != s.Base().Digest.String() {
		wrong("base digest %s, want %s", p.Digest, s.Base().Digest)
	}
	byName := make(map[string]plan.Dependent, len(p.Dependents))
	for _, d := range p.Dependents {
		byName[d.Name] = d
		c.Dependents++
		switch d.Status {
		case plan.Stale:
			c.Stale++
		case plan.Current:
			c.Current++
		default:
			c.Unknown++
		}
	}
	for _, n := range s.Dependents() {
		d, ok := byName[n.Name]
		if !ok {
			c.Missing++
			continue
		}
		switch {
		case d.Status != n.Want.Status || d.Action != n.Want.Action:
			wrong("%s: %s/%s, want %s/%s (%s)", n.Name, d.Status, d.Action, n.Want.Status, n.Want.Action, d.Reason)
		case d.Digest != n.Digest.String():
			wrong("%s: digest %q, want %s", n.Name, d.Digest, n.Digest)
		case d.Depth != n.Tier:
			wrong("%s: depth %d, want %d", n.Name, d.Depth, n.Tier)
		}
		delete(byName, n.Name)
	}
	for name := range byName {
		wrong("%s: in the plan, not in the stream", name)
	}
	return c, nil
}

// The timed scripts. cascade prints its JSON plan (kept from the first run
// to check it); the crane loop is what a CI shell script does: one
// `crane manifest` per dependent, in sequence.
const (
	CascadeScript = `exec "$B2_CASCADE" plan --image "$B2_IMAGE" --config "$B2_CONFIG" --workspace "$B2_WORKSPACE" -o json`
	CraneScript   = `while IFS= read -r ref; do "$B2_CRANE" manifest "$ref" >/dev/null || exit 1; done < "$B2_REFS"`
)

// InProcess is the cascade Tool run through the CLI's entry point in this
// process (tests, profiles); the Env's variables must be set in the
// process environment.
func InProcess(runCLI func(ctx context.Context, args []string, s cli.Streams) int) Tool {
	return Tool{Name: "cascade", Func: func(ctx context.Context, stdout io.Writer) error {
		var errs bytes.Buffer
		args := []string{"plan", "--image", os.Getenv("B2_IMAGE"), "--config", os.Getenv("B2_CONFIG"), "--workspace", os.Getenv("B2_WORKSPACE"), "-o", "json"}
		if code := runCLI(ctx, args, cli.Streams{Out: stdout, Err: &errs}); code != 0 {
			return fmt.Errorf("cascade %s: exit %d: %s", strings.Join(args, " "), code, errs.String())
		}
		return nil
	}}
}
