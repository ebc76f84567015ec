package run

import (
	"context"

	"github.com/imagecascade/cascade/internal/config"
	"github.com/imagecascade/cascade/internal/discover"
	"github.com/imagecascade/cascade/internal/plan"
)

// Discoverer merges the dependents that declare themselves (a Tekton
// Pipeline's annotations, a repository's .github/cascade.yaml) into the
// config, in place, before anything is planned (discover.Discoverer). It
// reads its sources once per run.
type Discoverer interface {
	Apply(ctx context.Context, cfg *config.Config) (*discover.Result, error)
}

// discover is the first step of phase 1: discovered dependents become
// ordinary config images, so the graph, the plan, the limits, the
// templates and the claims treat them as configured ones. An unreadable
// source ends the run here, before anything is sent; a declaration that
// was skipped is logged with its source and field path.
func (d *Deps) discover(ctx context.Context) (*discover.Result, error) {
	if d.Discover == nil || d.Config == nil {
		return nil, nil
	}
	res, err := d.Discover.Apply(ctx, d.Config)
	if err != nil {
		return nil, err
	}
	log := d.log()
	if len(res.Added) > 0 || len(res.Skipped) > 0 {
		log.Info("discovered dependents", "added", len(res.Added), "skipped", len(res.Skipped))
	}
	for _, s := range res.Skipped {
		log.Warn("declaration skipped", "source", s.Source, "path", s.Path, "reason", s.Reason)
	}
	return res, nil
}

// reportSkipped puts the declarations discovery left out into the plan's
// report.
func reportSkipped(p *plan.Plan, res *discover.Result) {
	if res == nil {
		return
	}
	for _, s := range res.Skipped {
		p.SkippedDeclarations = append(p.SkippedDeclarations, plan.SkippedDeclaration{Source: s.Source, Path: s.Path, Reason: s.Reason})
	}
}
