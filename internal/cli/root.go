// Package cli is cascade's command line: cobra commands that read flags and
// environment, build the real clients and run the engine. It is the only
// package that reads flags or the environment; nothing imports it but main.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/outbound"
	"github.com/imagecascade/cascade/internal/progress"
	"github.com/imagecascade/cascade/internal/redact"
	cascaderun "github.com/imagecascade/cascade/internal/run"
)

// Version is set at build time with -ldflags "-X .../internal/cli.Version=v1.2.3".
var Version = "dev"

// Streams are the process's standard streams (swapped in tests).
type Streams struct {
	Out, Err io.Writer
}

// Run executes the command line args and returns the process exit code.
//
// Everything it prints goes through the run's redactor (carried in ctx, so
// that the code that learns a secret and the streams share it; a nested
// Run, as cascade action makes, shares its caller's), line by line, and
// every line that would be a GitHub Actions workflow command is quoted —
// except under cascade action, whose own workflow commands are its
// output (it quotes what it relays itself).
func Run(ctx context.Context, args []string, s Streams) int {
	rd := redact.FromContext(ctx)
	if rd == nil {
		rd = redact.New()
		ctx = redact.NewContext(ctx, rd)
	}
	learnSecrets(rd)
	quote := new(atomic.Bool)
	quote.Store(true)
	out, errw := redact.NewWriter(s.Out, rd, quote), redact.NewWriter(s.Err, rd, quote)
	defer func() { _, _ = out.Flush(), errw.Flush() }()
	// On a terminal, a live status line for long stages, kept apart from
	// the log lines; redirected stderr gets the log lines alone.
	var live *progress.Live
	if progress.IsTerminal(s.Err) {
		live = progress.NewLive(errw, progress.Options{Interval: time.Second})
		s = Streams{Out: out, Err: live}
	} else {
		s = Streams{Out: out, Err: errw}
	}
	root, g := newRoot(s, rd)
	g.live = live
	cancel := func() {}
	defer func() { cancel() }()
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		quote.Store(cmd.Name() != "action")
		if err := envFallback(cmd); err != nil {
			return err
		}
		if err := checkFlags(cmd); err != nil {
			return err
		}
		// Every outbound request is logged at debug level, and every
		// retry's wait at info, through the context.
		cmd.SetContext(outbound.WithLogger(cmd.Context(), g.logger()))
		if timeout, _ := root.PersistentFlags().GetDuration("timeout"); timeout > 0 {
			var ctx context.Context
			ctx, cancel = context.WithTimeout(cmd.Context(), timeout)
			cmd.SetContext(ctx)
		}
		return nil
	}
	root.SetFlagErrorFunc(flagError)
	root.SetArgs(args)
	root.SetOut(s.Out)
	root.SetErr(s.Err)
	err := root.ExecuteContext(ctx)
	if live != nil {
		live.Close()
	}
	if err == nil {
		return exitcode.OK
	}
	code := exitcode.Of(err)
	// cobra's own usage errors (unknown flag, missing argument) are
	// unclassified; they are invalid input.
	if code == exitcode.Internal && isUsageError(err) {
		code = exitcode.Invalid
	}
	fmt.Fprintf(s.Err, "cascade: %v\n", err)
	return code
}

func isUsageError(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown flag", "unknown shorthand", "unknown command", "flag needs an argument", "invalid argument", "accepts ", "requires ", "required flag"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

type globals struct {
	logLevel string
	streams  Streams
	// registryRetryBudget bounds the retries of one registry request
	// (0: the registry package's default).
	registryRetryBudget time.Duration
	// redactor is the run's (also in the command's context).
	redactor *redact.Redactor
	// live is the terminal's status line (nil when stderr is not a
	// terminal).
	live *progress.Live
}

// progress is what a run tells of its long stages: the live line on a
// terminal, nothing otherwise.
func (g *globals) progress() cascaderun.Progress {
	if g.live == nil {
		return nil
	}
	return g.live
}

func (g *globals) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(g.streams.Err, &slog.HandlerOptions{Level: g.level()}))
}

// level is --log-level's.
func (g *globals) level() slog.Level {
	level := slog.LevelWarn
	switch strings.ToLower(g.logLevel) {
	case "debug":
		level = slog.LevelDebug
	case "info":
		level = slog.LevelInfo
	case "error":
		level = slog.LevelError
	}
	return level
}

func newRoot(s Streams, rd *redact.Redactor) (*cobra.Command, *globals) {
	g := &globals{streams: s, redactor: rd}
	root := &cobra.Command{
		Use:   "cascade",
		Short: "Rebuild what is built on an image, and roll its deployments, when it changes",
		Long: `cascade brings OpenShift's ImageStream image-change triggers to any CI/CD system.

Run it right after a base image is built: it resolves the new digest, finds the
images built on it (directly and transitively, from cascade.yaml and their
Dockerfiles), decides which are stale, rebuilds them and pins the new digest in
deployment manifests.

Start with:
  cascade demo                                  # the whole story on an embedded registry
  cascade plan --image registry.example.com/acme/httpd-base:latest

Every flag can also be set as CASCADE_<FLAG> (e.g. CASCADE_CONFIG, CASCADE_DRY_RUN).
Exit codes: 0 success (including nothing to do), 1 internal error, 2 invalid input
or config, 3 partial failure, 4 transient failure (safe to re-run), 5 refused for safety,
130 interrupted part-way (what was done is reported and recorded).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		// Run sets PersistentPreRunE: envFallback.
	}
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "warn", "log level on stderr: debug (also every HTTP request: method, host, path, status, duration, attempt), info (one line per stage and tier, and each retry's wait and reason), warn, error. On a terminal a live status line shows long stages too")
	root.PersistentFlags().Duration("timeout", time.Hour, "bound on the whole command: past it, requests in flight are cancelled and a run stops as if interrupted (exit 130), recording what it did; 0 for no bound (each request still has its own timeout)")
	root.PersistentFlags().DurationVar(&g.registryRetryBudget, "registry-retry-budget", 0, "how long one registry request may be retried (408/429/5xx, Retry-After honoured) before exit 4 (default 30s)")
	root.AddCommand(newPlanCmd(g), newRunCmd(g), newImportCmd(g), newHistoryCmd(g), newUpdateCmd(g), newGraphCmd(g), newDemoCmd(g), newVersionCmd(g), newActionCmd(g))
	root.CompletionOptions.DisableDefaultCmd = true
	return root, g
}

// envFallback sets every flag not given on the command line from
// CASCADE_<FLAG> (upper case, dashes as underscores).
func envFallback(cmd *cobra.Command) error {
	var errs []string
	set := func(f *pflag.Flag) {
		if f.Changed {
			return
		}
		key := "CASCADE_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		v, ok := os.LookupEnv(key)
		if !ok {
			return
		}
		if err := f.Value.Set(v); err != nil {
			errs = append(errs, unparsable(cmd.Name(), f, v, " (from "+key+")"))
			return
		}
		f.Changed = true
		if f.Annotations == nil {
			f.Annotations = map[string][]string{}
		}
		f.Annotations[envAnnotation] = []string{key}
	}
	cmd.Flags().VisitAll(set)
	cmd.InheritedFlags().VisitAll(set)
	if len(errs) > 0 {
		return exitcode.AsInvalid(errors.New(strings.Join(errs, "; ")))
	}
	return nil
}

func newVersionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print cascade's version",
		Example: "  cascade version",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(g.streams.Out, "cascade %s\n", Version)
			return err
		},
	}
}
