package run

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/imageref"
	"github.com/imagecascade/cascade/internal/manifests"
	"github.com/imagecascade/cascade/internal/plan"
	"github.com/imagecascade/cascade/internal/report"
	"github.com/imagecascade/cascade/internal/rollout"
)

// LazyGuarded is a Guarded that computes the changes its check needs
// itself, and only when it needs them: `cascade update` then does not
// compute every change twice when no file holds a person's edit.
type LazyGuarded interface {
	GuardLazy(ctx context.Context, planned func(context.Context) (*manifests.Result, error)) (release func(), err error)
}

// UpdateDeps are the collaborators of `cascade update`; the front door
// builds them.
type UpdateDeps struct {
	// Manifests pins the digest in the workspace's files and writes them
	// back.
	Manifests Manifests
	// Clusters, when set, roll the live workloads that follow the image
	// (the config's clusters: section; clusters.go).
	Clusters []ClusterTarget
	// History, when set, records what rolled as a generation of the
	// image.
	History History
	// MaxRollouts is the blast radius of the rollouts (the config's
	// limits.maxDispatches; no limit when zero).
	MaxRollouts int
	// RunID names this update in the history (a random one when empty).
	RunID string
	// Log receives progress (quiet when nil).
	Log *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// RecordTimeout bounds recording the rollouts once the context is
	// cancelled (DefaultRecordTimeout when zero).
	RecordTimeout time.Duration
}

func (d *UpdateDeps) log() *slog.Logger {
	if d.Log != nil {
		return d.Log
	}
	return slog.New(slog.DiscardHandler)
}

// UpdateResult is what an update did (or, for a dry run, would do).
type UpdateResult struct {
	// Manifests are the files' changes.
	Manifests *manifests.Result
	// WriteBack is what the write-back did (nil when it did not run).
	WriteBack *report.WriteBack
	// Workloads are the live workloads that reference the image, with
	// what happened to each (empty, never nil, without clusters).
	Workloads []plan.Workload
}

// Update is `cascade update`, in two phases like a run. Phase 1 has no
// side effect: the write guard (when Manifests is Guarded and this is not
// a dry run: the workspace lock, and the refusal of a file that holds a
// person's uncommitted edit), then every cluster listed and every
// rollout dry-run on the server, the blast radius, and the refusal of an
// object both a file and the cluster target would change — a refusal is
// exit 5, a failed list exit 4, with nothing written or applied. Phase 2
// pins the files, writes them back (only when every file was pinned),
// then applies the rollouts (only when the files were written back) and
// records them in the history. The result is returned whenever the update
// got to the pin, for the report; the error is the first failure (a file that could not be pinned
// is res.Manifests.Err()).
func Update(ctx context.Context, d *UpdateDeps, ref imageref.Ref, dryRun bool) (*UpdateResult, error) {
	m := d.Manifests
	out := &UpdateResult{Workloads: []plan.Workload{}}
	// The changes are computed without writing at most once, when the
	// guard or the files-and-cluster check needs them.
	var planned *manifests.Result
	compute := func(ctx context.Context) (*manifests.Result, error) {
		if planned != nil {
			return planned, nil
		}
		res, err := m.Update(ctx, ref, true)
		if err == nil {
			planned = res
		}
		return res, err
	}
	if !dryRun {
		release := func() {}
		var err error
		switch g := m.(type) {
		case LazyGuarded:
			release, err = g.GuardLazy(ctx, compute)
		case Guarded:
			var res *manifests.Result
			if res, err = compute(ctx); err == nil {
				release, err = g.Guard(ctx, res)
			}
		}
		if err != nil {
			return nil, err
		}
		defer release()
	}
	results, err := d.checkClusters(ctx, ref, compute, out)
	if err != nil {
		return nil, err
	}
	res := planned
	if !dryRun || res == nil {
		if res, err = m.Update(ctx, ref, dryRun); err != nil {
			if res == nil {
				return nil, err
			}
			out.Manifests = res
			return out, err
		}
	}
	out.Manifests = res
	if err := res.Err(); err != nil {
		if len(results) > 0 && rollouts(results) > 0 {
			err = fmt.Errorf("%w (the live workloads were not rolled: a re-run rolls them with the files)", err)
		}
		return out, err
	}
	if dryRun {
		return out, nil
	}
	if out.WriteBack, err = m.WriteBack(ctx, ref, res); err != nil {
		if rollouts(results) > 0 {
			err = fmt.Errorf("%w (the live workloads were not rolled: a re-run rolls them)", err)
		}
		return out, err
	}
	if rollouts(results) == 0 {
		return out, nil
	}
	if ctx.Err() != nil {
		return out, exitcode.AsInterrupted(fmt.Errorf("interrupted (%v) before the live workloads were rolled; the files were written: a re-run rolls them", context.Cause(ctx)))
	}
	var errs []error
	rolled, err := applyClusters(ctx, d.log(), d.Clusters, ref, results)
	if err != nil {
		errs = append(errs, err)
	}
	out.Workloads = out.Workloads[:0]
	for _, r := range results {
		out.Workloads = append(out.Workloads, r.Workloads...)
	}
	now := time.Now()
	if d.Now != nil {
		now = d.Now()
	}
	rec := rolloutRecord{history: d.History, ref: ref, runID: d.RunID, now: now, timeout: d.RecordTimeout}
	if err := rec.write(ctx, results); err != nil {
		errs = append(errs, err)
	}
	touched := rolled || len(res.Changed()) > 0
	return out, honest(errors.Join(errs...), touched)
}

// checkClusters is phase 1 of update's cluster target: it lists and
// dry-runs every rollout, checks the blast radius, and refuses an object
// both a file and a cluster would change (computing the files' changes
// only then).
func (d *UpdateDeps) checkClusters(ctx context.Context, ref imageref.Ref, compute func(context.Context) (*manifests.Result, error), out *UpdateResult) ([]*rollout.Result, error) {
	if len(d.Clusters) == 0 {
		return nil, nil
	}
	var refusals []error
	results, rolls, err := checkClusters(ctx, d.log(), d.Clusters, ref, func(err error) { refusals = append(refusals, err) })
	for _, r := range results {
		out.Workloads = append(out.Workloads, r.Workloads...)
	}
	if err != nil {
		return nil, err
	}
	if d.MaxRollouts > 0 && rolls > d.MaxRollouts {
		refusals = append(refusals, exitcode.AsRefused(fmt.Errorf("blast radius: %d rollouts planned, over the limit of %d (raise limits.maxDispatches)", rolls, d.MaxRollouts)))
	}
	if rollsOrCurrent(out.Workloads) {
		res, err := compute(ctx)
		if err != nil {
			return nil, fmt.Errorf("checking the manifests: %w", err)
		}
		if err := refuseBoth(res, out.Workloads); err != nil {
			refusals = append(refusals, err)
		}
	}
	if len(refusals) > 0 {
		return nil, fmt.Errorf("%w (nothing was written or applied)", errors.Join(refusals...))
	}
	return results, nil
}

func rollsOrCurrent(ws []plan.Workload) bool {
	for _, w := range ws {
		if w.Status == rollout.StatusRoll || w.Status == rollout.StatusCurrent {
			return true
		}
	}
	return false
}

func rollouts(results []*rollout.Result) int {
	n := 0
	for _, r := range results {
		n += r.Rollouts()
	}
	return n
}
