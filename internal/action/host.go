package action

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/sethvargo/go-githubactions"

	"github.com/imagecascade/cascade/internal/redact"
	"github.com/imagecascade/cascade/internal/report"
)

// host is where the action runs: the GitHub Action (githubHost) or the
// Tekton Task (tektonHost). The session decides what to say; the host how.
type host interface {
	// mask hides a secret in the log from here on.
	mask(secret string)
	// group opens a titled section of the log; endGroup closes it.
	group(title string)
	endGroup()
	// inert runs f with whatever it writes kept from being read as a
	// command by the host.
	inert(f func(w io.Writer))
	errorf(format string, args ...any)
	warningf(format string, args ...any)
	// annotate points at what the report says changed or failed.
	annotate(r *report.Run, workspace string)
	// results publishes the report (nil: none) for the steps that follow.
	results(r *report.Run, command string) error
}

// githubHost speaks GitHub Actions workflow commands.
type githubHost struct {
	a   *githubactions.Action
	log io.Writer
	// raw writes to the log past the redaction (for ::add-mask:: only).
	raw    io.Writer
	getenv func(string) string
	rd     *redact.Redactor
	// stop is this run's ::stop-commands:: token.
	stop string
}

func (g *githubHost) mask(secret string) {
	if secret == "" {
		return
	}
	// The one line that must carry the raw secret: past the redaction.
	githubactions.New(githubactions.WithWriter(&safeWriter{w: g.raw}), githubactions.WithGetenv(g.getenv)).AddMask(secret)
}

func (g *githubHost) group(title string) { g.a.Group(title) }
func (g *githubHost) endGroup()          { g.a.EndGroup() }

// inert runs f with ::stop-commands:: in force.
func (g *githubHost) inert(f func(w io.Writer)) {
	g.a.IssueCommand(&githubactions.Command{Name: "stop-commands", Message: g.stop})
	f(g.log)
	// What f printed may end without a newline; the resume token must
	// start a line.
	fmt.Fprintf(g.log, "\n::%s::\n", g.stop)
}

func (g *githubHost) errorf(format string, args ...any) {
	g.a.Errorf("%s", g.rd.String(fmt.Sprintf(format, args...)))
}

func (g *githubHost) warningf(format string, args ...any) {
	g.a.Warningf("%s", g.rd.String(fmt.Sprintf(format, args...)))
}

// results sets the step outputs and appends the step summary.
func (g *githubHost) results(r *report.Run, command string) error {
	err := g.writeOutputs(r)
	if serr := g.writeSummary(r, command); serr != nil {
		g.warningf("cascade: writing the step summary: %v", serr)
	}
	return err
}

// writeOutputs sets the step outputs when GITHUB_OUTPUT is set.
func (g *githubHost) writeOutputs(r *report.Run) error {
	outs, err := outputs(r)
	if err != nil {
		return err
	}
	if g.getenv("GITHUB_OUTPUT") == "" {
		g.warningf("GITHUB_OUTPUT is not set: no step outputs written")
		return nil
	}
	var errs []error
	for _, kv := range outs {
		if strings.Contains(kv[1], "\n") {
			errs = append(errs, fmt.Errorf("output %s: a multi-line value is not expected", kv[0]))
			continue
		}
		if err := recovered(func() { g.a.SetOutput(kv[0], g.rd.String(kv[1])) }); err != nil {
			errs = append(errs, fmt.Errorf("setting output %s: %w", kv[0], err))
		}
	}
	return errors.Join(errs...)
}

// tektonHost writes a plain log and the Task's results.
type tektonHost struct {
	log io.Writer
	dir string
	rd  *redact.Redactor
}

// mask: the Task's secrets reach the log only through the redactor.
func (t *tektonHost) mask(string) {}

func (t *tektonHost) group(title string)        { fmt.Fprintf(t.log, "=== %s\n", title) }
func (t *tektonHost) endGroup()                 {}
func (t *tektonHost) inert(f func(w io.Writer)) { f(t.log) }

func (t *tektonHost) errorf(format string, args ...any) {
	fmt.Fprintf(t.log, "error: %s\n", redact.Quote(t.rd.String(fmt.Sprintf(format, args...))))
}

func (t *tektonHost) warningf(format string, args ...any) {
	fmt.Fprintf(t.log, "warning: %s\n", redact.Quote(t.rd.String(fmt.Sprintf(format, args...))))
}

// annotate: a Tekton log has no annotations; the report says it all.
func (t *tektonHost) annotate(*report.Run, string) {}

func (t *tektonHost) results(r *report.Run, _ string) error {
	return writeTektonResults(t.dir, r, t.rd)
}
