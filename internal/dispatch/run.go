package dispatch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/imagecascade/cascade/internal/exitcode"
)

// DefaultConcurrency bounds the dispatches Run has in flight when
// RunOptions.Concurrency is zero. Dispatchers bound and space their own
// requests further (GitHub mutations are spaced a second apart).
const DefaultConcurrency = 8

// RunOptions bound a Run.
type RunOptions struct {
	// Concurrency bounds the dispatches in flight (DefaultConcurrency when
	// zero).
	Concurrency int
	// Limit is the blast radius: more targets than this is refused (exit
	// 5) before any call. Zero or less means no limit.
	Limit int
	// MaxDepth refuses (exit 5), before any call, a target whose cascade
	// would loop or go deeper than this (see CheckChain). Zero means no
	// check.
	MaxDepth int
	// DryRun dispatches nothing: every target is reported as skipped.
	DryRun bool
	// Done, when set, is called once per target as its outcome is known
	// (for progress), possibly concurrently.
	Done func(Outcome)
}

// Run dispatches every target with the Dispatcher of its rebuild kind and
// returns one Outcome per target, in the targets' order. It is best-effort:
// a failure never cancels the others. The error is only for a refusal made
// before any call: over the Limit, or a loop or depth over MaxDepth (exit
// 5); failures of single dispatches are in the outcomes (see Summarize).
func Run(ctx context.Context, targets []Target, ds map[string]Dispatcher, opts RunOptions) ([]Outcome, error) {
	if opts.Limit > 0 && len(targets) > opts.Limit {
		return nil, exitcode.AsRefused(fmt.Errorf("blast radius: %d dispatches planned, over the limit of %d (raise limits.maxDispatches or pass --max-dispatches)", len(targets), opts.Limit))
	}
	if opts.MaxDepth > 0 {
		var errs []error
		for _, t := range targets {
			if err := CheckChain(t.Cascade, t.Name, opts.MaxDepth); err != nil {
				errs = append(errs, err)
			}
		}
		if len(errs) > 0 {
			return nil, errors.Join(errs...)
		}
	}
	out := make([]Outcome, len(targets))
	done := opts.Done
	if done == nil {
		done = func(Outcome) {}
	}
	n := opts.Concurrency
	if n <= 0 {
		n = DefaultConcurrency
	}
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for i, t := range targets {
		kind := t.Rebuild.Kind()
		base := Outcome{Name: t.Name, Kind: kind, Key: t.Key()}
		if opts.DryRun {
			base.Status, base.Detail = StatusSkipped, "dry run: would dispatch via "+kind
			out[i] = base
			done(base)
			continue
		}
		d, ok := ds[kind]
		if !ok || d == nil {
			base.Status, base.Err = StatusFailed, exitcode.AsInvalid(fmt.Errorf("no dispatcher for rebuild kind %q", kind))
			out[i] = base
			done(base)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				base.Status, base.Err = StatusFailed, fmt.Errorf("not dispatched: %w", ctx.Err())
				out[i] = base
				done(base)
				return
			}
			defer func() { <-sem }()
			out[i] = dispatchOne(ctx, d, t, base)
			done(out[i])
		}()
	}
	wg.Wait()
	return out, nil
}

// dispatchOne calls d, turning a panic into a failed outcome so that one
// broken dispatcher cannot take the others down.
func dispatchOne(ctx context.Context, d Dispatcher, t Target, base Outcome) (o Outcome) {
	defer func() {
		if r := recover(); r != nil {
			o = base
			o.Status, o.Err = StatusFailed, fmt.Errorf("internal error in the %s dispatcher: %v", base.Kind, r)
		}
	}()
	o = d.Dispatch(ctx, t)
	if o.Name == "" {
		o.Name = base.Name
	}
	if o.Kind == "" {
		o.Kind = base.Kind
	}
	if o.Key == "" {
		o.Key = base.Key
	}
	if o.Status == StatusFailed && o.Err == nil {
		o.Err = errors.New("failed without a reason")
	}
	return o
}

// Summarize returns nil when every outcome is a success; otherwise an error
// listing each failure: partial (exit 3) when anything succeeded or a
// failure was not transient, transient (exit 4) when every dispatch failed
// transiently (nothing was started, so a re-run is safe).
func Summarize(outcomes []Outcome) error {
	var failed []string
	allTransient := true
	for _, o := range outcomes {
		if o.Status.OK() {
			continue
		}
		failed = append(failed, fmt.Sprintf("%s (%s): %s", o.Name, o.Kind, Redact(errText(o.Err))))
		if exitcode.Of(o.Err) != exitcode.Transient {
			allTransient = false
		}
	}
	if len(failed) == 0 {
		return nil
	}
	err := fmt.Errorf("%d of %d dispatches failed:\n  %s", len(failed), len(outcomes), strings.Join(failed, "\n  "))
	if allTransient && len(failed) == len(outcomes) {
		return exitcode.AsTransient(err)
	}
	return exitcode.AsPartial(err)
}

func errText(err error) string {
	if err == nil {
		return "failed"
	}
	return err.Error()
}

// CheckChain refuses (exit 5) to dispatch dependent when the cascade would
// loop — the dependent is already in the chain — or go deeper than
// maxDepth (R08). maxDepth <= 0 means no depth limit.
func CheckChain(c Cascade, dependent string, maxDepth int) error {
	if slices.Contains(c.Chain, dependent) {
		return exitcode.AsRefused(fmt.Errorf("cascade loop: %s is already in the chain %s", dependent, strings.Join(append(slices.Clone(c.Chain), dependent), " → ")))
	}
	if maxDepth > 0 && c.Depth > maxDepth {
		return exitcode.AsRefused(fmt.Errorf("cascade too deep: %s would be at depth %d, over the limit of %d (limits.maxDepth)", dependent, c.Depth, maxDepth))
	}
	return nil
}
