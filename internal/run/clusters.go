package run

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/history"
	"github.com/imagecascade/cascade/internal/imageref"
	"github.com/imagecascade/cascade/internal/manifests"
	"github.com/imagecascade/cascade/internal/plan"
	"github.com/imagecascade/cascade/internal/rollout"
)

// ClusterTarget rolls the live workloads of one cluster (rollout.Cluster).
// Plan lists them and makes every change as a server-side dry run (phase
// 1); Apply makes the changes Plan checked (phase 2).
type ClusterTarget interface {
	Plan(ctx context.Context, image imageref.Ref) (*rollout.Result, error)
	Apply(ctx context.Context, image imageref.Ref, res *rollout.Result)
}

// prepareClusters is phase 1 of the cluster target: every configured
// cluster is listed and every change dry-run. A failed list is an error (a
// transient one is exit 4: nothing was touched); a failed dry run, rollouts
// over the blast radius and an object both the files and the cluster
// target would change refuse the run.
func (p *Prepared) prepareClusters(ctx context.Context, d *Deps, refuse func(error)) error {
	if len(d.Clusters) == 0 || p.ref.Tag == "" {
		return nil
	}
	results, rolls, err := checkClusters(ctx, d.log(), d.Clusters, p.ref, refuse)
	p.clusters = results
	for _, res := range results {
		p.out.Plan.Workloads = append(p.out.Plan.Workloads, res.Workloads...)
	}
	if err != nil {
		return err
	}
	// The blast radius counts rollouts too (dispatches alone over it are
	// refused by prepareTargets already).
	if sends := p.Sends(); p.limit > 0 && sends <= p.limit && sends+rolls > p.limit {
		refuse(exitcode.AsRefused(fmt.Errorf("blast radius: %d dispatches and %d rollouts planned, over the limit of %d (raise limits.maxDispatches or pass --max-dispatches)",
			sends, rolls, p.limit)))
	}
	if err := refuseBoth(p.manifests, p.out.Plan.Workloads); err != nil {
		refuse(err)
	}
	return nil
}

// checkClusters lists every cluster's workloads that follow ref and
// dry-runs each change on the server; it returns the results (one per
// cluster checked) and how many workloads roll. A failed list or a
// transient dry-run failure is an error; any other failed dry run is
// refused.
func checkClusters(ctx context.Context, log *slog.Logger, clusters []ClusterTarget, ref imageref.Ref, refuse func(error)) (results []*rollout.Result, rolls int, err error) {
	for _, c := range clusters {
		log.Info("checking live workloads", "image", ref.Short())
		res, err := c.Plan(ctx, ref)
		if ctx.Err() != nil {
			return results, rolls, exitcode.AsInterrupted(fmt.Errorf("checking the live workloads: %w (nothing was changed)", context.Cause(ctx)))
		}
		if err != nil {
			return results, rolls, fmt.Errorf("checking the live workloads: %w", err)
		}
		results = append(results, res)
		rolls += res.Rollouts()
		if err := res.Err(); err != nil {
			if exitcode.Of(err) == exitcode.Transient {
				return results, rolls, fmt.Errorf("the server-side dry run of the rollouts: %w", err)
			}
			refuse(exitcode.AsRefused(fmt.Errorf("the server-side dry run of the rollouts failed; nothing is changed: %w", err)))
		}
		log.Info("live workloads checked", "workloads", len(res.Workloads), "rollouts", res.Rollouts())
	}
	return results, rolls, nil
}

// refuseBoth is the refusal of an object both the files and the cluster
// target would change (nil when there is none).
func refuseBoth(res *manifests.Result, ws []plan.Workload) error {
	both := bothTargets(res, ws)
	if len(both) == 0 {
		return nil
	}
	return exitcode.AsRefused(fmt.Errorf("both the manifests and the cluster target would change %s: the next deploy of the files and cascade's apply would each move the live object; keep one (exclude the files from manifests:, or take the workloads' opt-in annotation off)",
		strings.Join(both, ", ")))
}

// bothTargets lists the workloads that roll and that a manifest file also
// changes (same kind and name; files do not always say their namespace,
// so any namespace matches).
func bothTargets(res *manifests.Result, ws []plan.Workload) []string {
	if res == nil {
		return nil
	}
	inFiles := map[string]string{}
	for _, f := range res.Files {
		for _, o := range f.Objects {
			if o.Kind != "" && o.Name != "" && len(o.Changes) > 0 {
				inFiles[o.Kind+"/"+o.Name] = f.Path
			}
		}
	}
	var out []string
	for _, w := range ws {
		if w.Status != rollout.StatusRoll && w.Status != rollout.StatusCurrent {
			continue
		}
		if path, ok := inFiles[w.Kind+"/"+w.Name]; ok {
			out = append(out, fmt.Sprintf("%s (in %s)", w.ID(), path))
		}
	}
	return out
}

// rollClusters is phase 2 of the cluster target: the applies phase 1
// checked. It reports whether something changed.
func (p *Prepared) rollClusters(ctx context.Context, d *Deps) (touched bool, err error) {
	var errs []error
	touched, err = applyClusters(ctx, d.log(), d.Clusters, p.ref, p.clusters)
	if err != nil {
		errs = append(errs, err)
	}
	p.out.Plan.Workloads = p.out.Plan.Workloads[:0]
	for _, res := range p.clusters {
		p.out.Plan.Workloads = append(p.out.Plan.Workloads, res.Workloads...)
	}
	rec := rolloutRecord{history: d.History, ref: p.ref, runID: p.runID, previous: p.previous, now: d.now(), timeout: d.RecordTimeout}
	if err := rec.write(ctx, p.clusters); err != nil {
		errs = append(errs, err)
	}
	return touched, errors.Join(errs...)
}

// applyClusters makes the applies checkClusters checked, cluster by
// cluster (results[i] is clusters[i]'s), and reports whether something
// changed.
func applyClusters(ctx context.Context, log *slog.Logger, clusters []ClusterTarget, ref imageref.Ref, results []*rollout.Result) (touched bool, err error) {
	var errs []error
	for i, c := range clusters {
		if i >= len(results) {
			break
		}
		res := results[i]
		if res.Rollouts() > 0 {
			log.Info("rolling live workloads", "image", ref.Short(), "rollouts", res.Rollouts())
			c.Apply(ctx, ref, res)
		}
		touched = touched || res.Count(rollout.StatusRolled) > 0
		if err := res.Err(); err != nil {
			err = fmt.Errorf("rolling the live workloads: %w", err)
			// Phase 1 checked each apply: one failing now is a failure
			// half-way, safe to re-run (what rolled is current then),
			// unless it is transient and nothing at all changed (exit 4).
			if exitcode.Of(err) != exitcode.Transient {
				err = exitcode.AsPartial(err)
			}
			errs = append(errs, err)
		}
	}
	return touched, errors.Join(errs...)
}

// rolloutRecord is where and how the rollouts are recorded: as a
// generation of the updated image (ref), in its history.
type rolloutRecord struct {
	history  History
	ref      imageref.Ref
	runID    string
	previous string
	now      time.Time
	timeout  time.Duration
}

// write records what phase 2 rolled, or failed to (as p.record does for
// dispatches: with a fresh, bounded context once the run is cancelled). A
// re-run needs no record to be a no-op — a workload at the digest is
// current — but the history says when and by which run each workload
// moved.
func (r rolloutRecord) write(ctx context.Context, results []*rollout.Result) error {
	if r.history == nil {
		return nil
	}
	var ros []history.Rollout
	for _, res := range results {
		for _, w := range res.Workloads {
			if w.Status != rollout.StatusRolled && w.Status != rollout.StatusFailed {
				continue
			}
			ro := history.Rollout{Cluster: w.Cluster, Workload: w.ID(), Status: string(w.Status), Time: r.now.UTC()}
			if w.Status == rollout.StatusFailed {
				ro.Error = w.Reason
			}
			ros = append(ros, ro)
		}
	}
	if len(ros) == 0 {
		return nil
	}
	timeout := r.timeout
	if timeout <= 0 {
		timeout = DefaultRecordTimeout
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	runID := r.runID
	if runID == "" {
		runID = history.NewRunID()
	}
	g := history.Generation{RunID: runID, Previous: r.previous, Rollouts: ros}
	if err := r.history.Record(rctx, r.ref, g); err != nil {
		return exitcode.AsPartial(fmt.Errorf("recording the rollouts in the history of %s (they happened): %w", r.ref.Short(), err))
	}
	return nil
}
