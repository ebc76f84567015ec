package plan

import "slices"

// RebaseKind is the rebuild kind whose rebuild happens inside the run (an
// in-registry rebase): the dependents it carries are dispatched by the same
// run, tier by tier, not by the rebuilt image's own pipeline.
const RebaseKind = "rebase"

// Dispatch is one dispatch a run of p makes, predicted before the first
// one: the plan's dispatch actions, and the dependents carried by an
// in-registry rebase — stale by construction, since the rebase gives their
// base a new digest.
type Dispatch struct {
	// Name is the dependent to rebuild.
	Name string
	// Base is the name of the image it is rebuilt against: a root of the
	// plan, or the dependent it is built on.
	Base string
	// Depth is the dependent's depth below the plan's roots.
	Depth int
	// Path lists the dependents between a root and this one (its
	// ancestors in the cascade, the root's child first); with the root it
	// is the cascade chain the dispatch carries.
	Path []string
	// Rebuild is its rebuild kind.
	Rebuild string
	// AfterRebase names the rebased dependent whose new digest this
	// dispatch waits for; empty for the first tier.
	AfterRebase string
}

// Dispatches predicts every dispatch a run of p makes, in tier order: the
// dependents whose action is dispatch, then, through each one rebuilt by a
// rebase, the dependents its rebase carries (recursively). It is what phase
// 1 of a run checks the limits and templates of before anything is sent.
func (p *Plan) Dispatches() []Dispatch {
	byName := make(map[string]Dependent, len(p.Dependents))
	for _, d := range p.Dependents {
		if _, dup := byName[d.Name]; !dup {
			byName[d.Name] = d
		}
	}
	rebased := map[string]bool{} // rebased in this run
	var out []Dispatch
	for _, d := range p.Dependents {
		var after string
		switch {
		case d.Action == ActionDispatch:
		case d.Action == ActionCascade && rebased[d.Via]:
			after = d.Via
		default:
			continue
		}
		out = append(out, Dispatch{Name: d.Name, Base: d.Base, Depth: d.Depth, Path: p.path(byName, d), Rebuild: d.Rebuild, AfterRebase: after})
		if d.Rebuild == RebaseKind {
			rebased[d.Name] = true
		}
	}
	return out
}

// path returns d's ancestors in the cascade, the root's child first,
// following each dependent's Base until a root.
func (p *Plan) path(byName map[string]Dependent, d Dependent) []string {
	var up []string
	seen := map[string]bool{d.Name: true}
	for b := d.Base; ; {
		parent, ok := byName[b]
		if !ok || seen[b] {
			break
		}
		seen[b] = true
		up = append(up, b)
		b = parent.Base
	}
	slices.Reverse(up)
	return up
}
