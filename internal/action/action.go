// Package action is cascade's GitHub Action and Tekton Task front door:
// `cascade action`, run by the composite action.yml and by
// tekton/task/cascade.yaml. It reads the inputs (INPUT_* variables) and,
// when the image input is empty, the triggering repository_dispatch or
// workflow_dispatch event (parsed once, here); turns them into the options
// the real clients are built from (internal/wire) and a run.Request; calls
// internal/run itself — Run, Prepare for plan, Update — with the token a
// value in those options, never in the process environment or on a command
// line; and writes what the report values say through its host.
//
// The two hosts sit behind one small interface (host): the GitHub Action
// (masking, log groups, file/line annotations, step outputs with the
// multi-line delimiter protocol, a step summary with a Mermaid graph) and
// the Tekton Task (a plain log and the results STALE, DISPATCHED and
// UPDATED_FILES).
//
// Everything relayed to a GitHub log — the run's progress, the report, every
// value echoed — is wrapped in ::stop-commands::, so that a tag or payload
// containing "::set-output" or "::add-mask::" stays text. Nothing here
// panics or exits: go-githubactions' SetOutput and AddStepSummary are only
// called with their files set, behind a recover.
package action

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/sethvargo/go-githubactions"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/imageref"
	"github.com/imagecascade/cascade/internal/redact"
	"github.com/imagecascade/cascade/internal/report"
	"github.com/imagecascade/cascade/internal/run"
	"github.com/imagecascade/cascade/internal/wire"
)

// Builders build the collaborators of each command from the options the
// inputs make. The zero value builds the real ones (internal/wire); tests
// put fakes of run.Deps in their place.
type Builders struct {
	// Run builds the Deps of `run` (default wire.RunDeps).
	Run func(wire.Options) (*run.Deps, error)
	// Plan builds the Deps of `plan` (default wire.PlanDeps).
	Plan func(wire.Options) (*run.Deps, error)
	// Update builds the collaborators of `update` — the manifests, and
	// the cluster targets as Run gets them — and completes ref's digest
	// when it has none (default: wire.UpdateDeps, then
	// wire.ResolveDigest).
	Update func(ctx context.Context, o wire.Options, ref imageref.Ref) (*run.UpdateDeps, imageref.Ref, error)
}

func (b *Builders) defaults() {
	if b.Run == nil {
		b.Run = wire.RunDeps
	}
	if b.Plan == nil {
		b.Plan = wire.PlanDeps
	}
	if b.Update == nil {
		b.Update = func(ctx context.Context, o wire.Options, ref imageref.Ref) (*run.UpdateDeps, imageref.Ref, error) {
			d, cfg, err := wire.UpdateDeps(o, nil)
			if err != nil {
				return nil, ref, err
			}
			ref, err = wire.ResolveDigest(ctx, o, cfg, ref)
			return d, ref, err
		}
	}
}

// Options are what Run needs from the process.
type Options struct {
	// Stdout is the job log: workflow commands, and the run's own
	// progress and report (inside ::stop-commands::). Default: os.Stdout.
	Stdout io.Writer
	// Getenv reads the environment (default os.Getenv): the INPUT_*
	// variables, the runner's files and event, GITHUB_REPOSITORY,
	// GITHUB_API_URL, and the token when the token input is empty
	// (CASCADE_GITHUB_TOKEN, then GITHUB_TOKEN, as the CLI reads it).
	Getenv func(string) string
	// TektonResults, when set, is the Tekton Task's results folder
	// (/tekton/results): Run writes the results STALE, DISPATCHED and
	// UPDATED_FILES there and prints a plain log, with no workflow
	// commands, outputs or step summary.
	TektonResults string
	// Build builds the collaborators (zero: the real clients).
	Build Builders
	// LogLevel is the level of the run's progress in the log (the zero
	// value is slog.LevelInfo).
	LogLevel slog.Level
	// RegistryRetryBudget bounds the retries of one registry request
	// (zero: the registry package's default).
	RegistryRetryBudget time.Duration
	// UserAgent is sent to registries.
	UserAgent string
	// ClaimSettle is how long a run waits for concurrent runs' claims
	// (history's default when zero).
	ClaimSettle time.Duration
	// Kubeconfig is the kubeconfig for Tekton rebuilds (empty: KUBECONFIG,
	// else in-cluster).
	Kubeconfig string
}

// maxSummary is GitHub's limit on one step's summary (1 MiB).
const maxSummary = 1 << 20

// Run runs the action and returns the process exit code: the run's (see
// docs/contract.md), or 2 when the inputs are invalid, or 1 when the action
// itself failed after the run succeeded (an output could not be written).
func Run(ctx context.Context, o Options) int {
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	o.Build.defaults()
	// The job log is redacted line by line (not quoted: the action's
	// own workflow commands are its output; what it relays is inert).
	rd := redact.FromContext(ctx)
	if rd == nil {
		rd = redact.New()
		ctx = redact.NewContext(ctx, rd)
	}
	rw := redact.NewWriter(o.Stdout, rd, nil)
	defer func() { _ = rw.Flush() }()
	log := &safeWriter{w: rw}
	a := githubactions.New(githubactions.WithWriter(log), githubactions.WithGetenv(o.Getenv))
	var h host
	if o.TektonResults != "" {
		h = &tektonHost{log: log, dir: o.TektonResults, rd: rd}
	} else {
		h = &githubHost{a: a, log: log, raw: rw.Unredacted(), getenv: o.Getenv, rd: rd, stop: randomToken()}
	}
	s := &session{a: a, h: h, log: log, o: o, rd: rd}
	return s.run(ctx)
}

type session struct {
	a   *githubactions.Action
	h   host
	log *safeWriter
	o   Options
	// rd is the run's redactor: the log is redacted as it is written;
	// outputs, annotations, the summary and Tekton results pass through
	// it as they leave the job.
	rd *redact.Redactor
}

func (s *session) run(ctx context.Context) int {
	// The token is masked, and known to the redactor, before anything
	// else is printed.
	token := s.a.GetInput("token")
	if token == "" {
		token = s.o.Getenv("CASCADE_GITHUB_TOKEN")
	}
	if token == "" {
		token = s.o.Getenv("GITHUB_TOKEN")
	}
	s.h.mask(token)
	s.rd.Add(token)

	s.h.group("cascade: inputs")
	in, req, err := s.inputs()
	s.h.inert(func(w io.Writer) {
		fmt.Fprintf(w, "command:   %s\n", in.Command)
		fmt.Fprintf(w, "image:     %s (from %s)\n", in.Image, in.ImageFrom)
		if in.CascadeContext != "" {
			fmt.Fprintf(w, "cascade:   %s\n", in.CascadeContext)
		}
	})
	s.h.endGroup()
	if err != nil {
		s.h.errorf("cascade: %v", err)
		return exitcode.Invalid
	}
	for _, name := range in.ignored() {
		s.h.warningf("input %s is ignored by command %s", name, in.Command)
	}

	s.h.group("cascade " + in.Command)
	var r *report.Run
	s.h.inert(func(w io.Writer) {
		r, err = s.command(ctx, in, req, token, w)
	})
	s.h.endGroup()
	code := exitcode.Of(err)
	if err != nil {
		s.h.errorf("cascade: %v", err)
	}
	if r != nil {
		s.h.group("cascade: report")
		s.h.inert(func(w io.Writer) {
			if err := textReport(w, r); err != nil {
				fmt.Fprintf(w, "rendering the report: %v\n", err)
			}
		})
		s.h.endGroup()
		s.h.annotate(r, in.Workspace)
	}
	if err := s.h.results(r, in.Command); err != nil {
		s.h.errorf("cascade: %v", err)
		if code == exitcode.OK {
			code = exitcode.Internal
		}
	}
	return code
}

// inputs reads the inputs and the event (once) into the run.Request they
// make. Every error is invalid input.
func (s *session) inputs() (Inputs, run.Request, error) {
	in, err := readInputs(s.a)
	if err == nil {
		var gh *githubactions.GitHubContext
		gh, err = s.a.Context()
		if err == nil {
			err = in.fromEvent(gh)
		} else {
			err = fmt.Errorf("reading the GitHub context and event: %w", err)
		}
	}
	if err != nil {
		return in, run.Request{}, fmt.Errorf("invalid input: %w", err)
	}
	if in.Image == "" {
		return in, run.Request{}, fmt.Errorf("the image input is empty and the %s event carries no image (client_payload.image or inputs.image)", s.o.Getenv("GITHUB_EVENT_NAME"))
	}
	req, err := in.request()
	if err != nil {
		return in, req, fmt.Errorf("invalid input: %w", err)
	}
	return in, req, nil
}

// command runs what in.Command asks through internal/run, with the run's
// progress on log, and returns the report (nil when nothing was planned)
// and the run's error.
func (s *session) command(ctx context.Context, in Inputs, req run.Request, token string, log io.Writer) (*report.Run, error) {
	o := s.options(in, token, log)
	switch in.Command {
	case CommandPlan:
		d, err := s.o.Build.Plan(o)
		if err != nil {
			return nil, err
		}
		req.DryRun = true
		p, err := run.Prepare(ctx, d, req)
		if err != nil {
			return nil, err
		}
		p.Release()
		return &report.Run{SchemaVersion: 1, DryRun: true, Plan: p.Report().Plan}, p.Refused
	case CommandUpdate:
		d, ref, err := s.o.Build.Update(ctx, o, req.Image)
		if err != nil {
			return nil, err
		}
		res, err := run.Update(ctx, d, ref, req.DryRun)
		if res == nil || res.Manifests == nil {
			return nil, err
		}
		u := report.NewUpdateJSON(ref.Short()+"@"+string(ref.Digest), res.Manifests, req.DryRun, res.WriteBack)
		return &report.Run{SchemaVersion: 1, DryRun: req.DryRun, Manifests: &u, Workloads: res.Workloads}, err
	default:
		d, err := s.o.Build.Run(o)
		if err != nil {
			return nil, err
		}
		return run.Run(ctx, d, req)
	}
}

// options are the wire options the inputs make.
func (s *session) options(in Inputs, token string, log io.Writer) wire.Options {
	api := in.GitHubAPIURL
	if api == "" {
		api = s.o.Getenv("GITHUB_API_URL")
	}
	ws := in.Workspace
	if ws == "" {
		ws = "."
	}
	return wire.Options{
		Workspace: ws, ConfigPath: in.Config, DryRun: in.DryRun,
		GitHubToken: token, GitHubAPIURL: api,
		Write:               wire.Write{Mode: in.writeMode(), Push: in.Push, Repository: s.o.Getenv("GITHUB_REPOSITORY")},
		RegistryRetryBudget: s.o.RegistryRetryBudget, UserAgent: s.o.UserAgent,
		ClaimSettle: s.o.ClaimSettle, Kubeconfig: s.o.Kubeconfig,
		Redactor: s.rd, Getenv: s.o.Getenv,
		Log: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: s.o.LogLevel})),
	}
}

// recovered runs f, turning a panic (go-githubactions panics when it cannot
// write a file command) into an error.
func recovered(f func()) (err error) {
	defer func() {
		if p := recover(); p != nil {
			if e, ok := p.(error); ok {
				err = e
				return
			}
			err = fmt.Errorf("%v", p)
		}
	}()
	f()
	return nil
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go ≥ 1.24)
	return "cascade-" + hex.EncodeToString(b)
}

// safeWriter never fails: go-githubactions panics when the log cannot be
// written, and a lost log line must not crash the step.
type safeWriter struct {
	mu  sync.Mutex
	w   io.Writer
	err error
}

func (s *safeWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		_, s.err = s.w.Write(p)
	}
	return len(p), nil
}
