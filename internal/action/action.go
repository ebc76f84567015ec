// Package action is cascade's GitHub Action front door: `cascade action`,
// run by the composite action.yml. It reads the inputs (INPUT_* variables)
// and, when the image input is empty, the triggering repository_dispatch or
// workflow_dispatch event; masks the token and hands it to the cascade
// command through the environment, never argv; runs the command with -o json
// through an injected Runner; and turns its JSON report into step outputs
// (multi-line delimiter protocol), a log group per stage, file/line
// annotations for manifest changes and a step summary with a Mermaid graph.
//
// Everything the command prints, and every value echoed to the log, is
// wrapped in ::stop-commands:: so that a tag or payload containing
// "::set-output" or "::add-mask::" stays text. The exit code is the
// command's. Nothing here panics or exits: go-githubactions' SetOutput and
// AddStepSummary are only called with their files set, behind a recover.
package action

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/sethvargo/go-githubactions"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/redact"
	"github.com/imagecascade/cascade/internal/report"
)

// Runner runs one cascade command line (cli.Run in the binary) with the
// given standard streams and returns its exit code.
type Runner func(ctx context.Context, args []string, stdout, stderr io.Writer) int

// Options are what Run needs from the process.
type Options struct {
	// Runner runs the cascade command. Required.
	Runner Runner
	// Stdout is the job log: workflow commands, and the command's own
	// stderr (in order, inside ::stop-commands::). Default: os.Stdout.
	Stdout io.Writer
	// Getenv reads the environment (default os.Getenv).
	Getenv func(string) string
	// Setenv hands the token to the command (default os.Setenv).
	Setenv func(key, value string) error
	// TektonResults, when set, is the Tekton Task's results folder
	// (/tekton/results): Run writes the results STALE, DISPATCHED and
	// UPDATED_FILES there and prints a plain log, with no workflow
	// commands, outputs or step summary.
	TektonResults string
}

// TokenEnv is the variable through which the token input reaches the
// cascade command.
const TokenEnv = "CASCADE_GITHUB_TOKEN"

// maxSummary is GitHub's limit on one step's summary (1 MiB).
const maxSummary = 1 << 20

// Run runs the action and returns the process exit code: the cascade
// command's, or 2 when the inputs are invalid, or 1 when the action itself
// failed after the command succeeded (an output could not be written).
func Run(ctx context.Context, o Options) int {
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Setenv == nil {
		o.Setenv = os.Setenv
	}
	// The job log is redacted line by line (not quoted: the action's
	// own workflow commands are its output; what it relays is inert).
	rd := redact.FromContext(ctx)
	rw := redact.NewWriter(o.Stdout, rd, nil)
	defer func() { _ = rw.Flush() }()
	log := &safeWriter{w: rw}
	a := githubactions.New(githubactions.WithWriter(log), githubactions.WithGetenv(o.Getenv))
	s := &session{a: a, log: log, o: o, plain: o.TektonResults != "", rd: rd, raw: rw.Unredacted()}
	if o.Runner == nil {
		s.errorf("cascade action: no runner")
		return exitcode.Internal
	}
	return s.run(ctx)
}

type session struct {
	a   *githubactions.Action
	log *safeWriter
	o   Options
	// stop is this run's ::stop-commands:: token.
	stop string
	// plain is true outside GitHub Actions (a Tekton Task): no workflow
	// commands.
	plain bool
	// rd is the run's redactor (nil: none). The report comes from the
	// command's redacted output already; outputs, annotations, the
	// summary and Tekton results pass through rd again, as they leave the
	// job.
	rd *redact.Redactor
	// raw writes to the log past the redaction (for ::add-mask:: only).
	raw io.Writer
}

func (s *session) run(ctx context.Context) int {
	// The token is masked before anything else is printed.
	token := s.a.GetInput("token")
	if token != "" && !s.plain {
		// The one line that must carry the raw token: past the redaction.
		githubactions.New(githubactions.WithWriter(&safeWriter{w: s.raw}), githubactions.WithGetenv(s.o.Getenv)).AddMask(token)
	}
	s.stop = randomToken()

	s.group("cascade: inputs")
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
	args, ignored := in.args()
	s.inert(func(w io.Writer) {
		fmt.Fprintf(w, "command:   %s\n", in.Command)
		fmt.Fprintf(w, "image:     %s (from %s)\n", in.Image, in.ImageFrom)
		if in.CascadeContext != "" {
			fmt.Fprintf(w, "cascade:   %s\n", in.CascadeContext)
		}
		fmt.Fprintf(w, "run:       cascade %s\n", strings.Join(args, " "))
	})
	s.endGroup()
	if err != nil {
		s.errorf("cascade: invalid input: %v", err)
		return exitcode.Invalid
	}
	for _, name := range ignored {
		s.warningf("input %s is ignored by command %s", name, in.Command)
	}
	if in.Image == "" {
		s.errorf("cascade: the image input is empty and the %s event carries no image (client_payload.image or inputs.image)", s.o.Getenv("GITHUB_EVENT_NAME"))
		return exitcode.Invalid
	}
	if token != "" {
		if err := s.o.Setenv(TokenEnv, token); err != nil {
			s.errorf("cascade: passing the token: %v", err)
			return exitcode.Internal
		}
	}

	s.group("cascade " + in.Command)
	var stdout bytes.Buffer
	stderr := &tailBuffer{max: 4096}
	var code int
	s.inert(func(io.Writer) {
		code = s.o.Runner(ctx, args, &stdout, io.MultiWriter(s.log, stderr))
	})
	s.endGroup()

	r, perr := parseResult(in.Command, stdout.Bytes())
	if perr != nil {
		s.errorf("cascade: %v", perr)
		if code == exitcode.OK {
			code = exitcode.Internal
		}
	}
	if code != exitcode.OK {
		if msg := lastError(stderr.String()); msg != "" {
			s.errorf("%s", msg)
		}
	}
	if r != nil {
		s.group("cascade: report")
		s.inert(func(w io.Writer) {
			if err := textReport(w, r); err != nil {
				fmt.Fprintf(w, "rendering the report: %v\n", err)
			}
		})
		s.endGroup()
		if !s.plain {
			s.annotate(r, in.Workspace)
		}
	}
	if s.plain {
		if err := writeTektonResults(s.o.TektonResults, r, s.rd); err != nil {
			s.errorf("cascade: %v", err)
			if code == exitcode.OK {
				code = exitcode.Internal
			}
		}
		return code
	}

	if err := s.writeOutputs(r); err != nil {
		s.errorf("cascade: %v", err)
		if code == exitcode.OK {
			code = exitcode.Internal
		}
	}
	if err := s.writeSummary(r, in); err != nil {
		s.warningf("cascade: writing the step summary: %v", err)
	}
	return code
}

// inert runs f with ::stop-commands:: in force, so whatever f or the
// command prints is never read as a workflow command.
func (s *session) inert(f func(w io.Writer)) {
	if s.plain {
		f(s.log)
		return
	}
	s.a.IssueCommand(&githubactions.Command{Name: "stop-commands", Message: s.stop})
	f(s.log)
	// A command's output may end without a newline; the resume token must
	// start a line.
	fmt.Fprintf(s.log, "\n::%s::\n", s.stop)
}

func (s *session) errorf(format string, args ...any) {
	msg := s.rd.String(fmt.Sprintf(format, args...))
	if s.plain {
		fmt.Fprintf(s.log, "error: %s\n", redact.Quote(msg))
		return
	}
	s.a.Errorf("%s", msg)
}

func (s *session) warningf(format string, args ...any) {
	msg := s.rd.String(fmt.Sprintf(format, args...))
	if s.plain {
		fmt.Fprintf(s.log, "warning: %s\n", redact.Quote(msg))
		return
	}
	s.a.Warningf("%s", msg)
}

func (s *session) group(title string) {
	if s.plain {
		fmt.Fprintf(s.log, "=== %s\n", title)
		return
	}
	s.a.Group(title)
}

func (s *session) endGroup() {
	if !s.plain {
		s.a.EndGroup()
	}
}

// writeOutputs sets the step outputs when GITHUB_OUTPUT is set.
func (s *session) writeOutputs(r *report.Run) error {
	outs, err := outputs(r)
	if err != nil {
		return err
	}
	if s.o.Getenv("GITHUB_OUTPUT") == "" {
		s.warningf("GITHUB_OUTPUT is not set: no step outputs written")
		return nil
	}
	var errs []error
	for _, kv := range outs {
		if strings.Contains(kv[1], "\n") {
			errs = append(errs, fmt.Errorf("output %s: a multi-line value is not expected", kv[0]))
			continue
		}
		if err := recovered(func() { s.a.SetOutput(kv[0], s.rd.String(kv[1])) }); err != nil {
			errs = append(errs, fmt.Errorf("setting output %s: %w", kv[0], err))
		}
	}
	return errors.Join(errs...)
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

// lastError is the command's last "cascade: ..." line on stderr: its error.
func lastError(stderr string) string {
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], "cascade: ") {
			return strings.TrimSpace(lines[i])
		}
	}
	return ""
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

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append([]byte(nil), t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
