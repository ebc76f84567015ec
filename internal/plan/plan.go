// Package plan decides, for every image that depends on an updated image,
// whether it is stale, current or unknown — with the evidence and the reason —
// and what cascade will do about it. It is pure: the engine fetches, plan
// decides. The Plan type is cascade's stable JSON report (schemaVersion 1).
package plan

import (
	"fmt"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/graph"
	"github.com/imagecascade/cascade/internal/imageref"
	"github.com/imagecascade/cascade/internal/registry"
)

// SchemaVersion of the JSON plan. Fields may be added; none are removed or
// change meaning without a new version.
const SchemaVersion = 1

// Action is what cascade does about a dependent.
type Action string

// Actions.
const (
	// ActionDispatch: rebuild it now (its kind says how).
	ActionDispatch Action = "dispatch"
	// ActionSkip: it is current; nothing to do.
	ActionSkip Action = "skip"
	// ActionHold: its state is unknown; reported, dispatched only with
	// --dispatch-unknown.
	ActionHold Action = "hold"
	// ActionCascade: a base of it in the cascade is rebuilt first; that
	// rebuild's own cascade step dispatches it (or, for a rebase, this run
	// does, tier by tier).
	ActionCascade Action = "cascade"
)

// Plan is the decision for one updated image.
type Plan struct {
	SchemaVersion int `json:"schemaVersion"`
	// Image is the updated image as given; Digest its new digest.
	Image  string `json:"image"`
	Digest string `json:"digest"`
	// Index reports whether the new digest is a multi-arch index.
	Index bool `json:"index"`
	// Roots are the graph nodes that follow the updated image.
	Roots      []string    `json:"roots"`
	Dependents []Dependent `json:"dependents"`
	Summary    Summary     `json:"summary"`
	// Refusals are the reasons a run of this plan would be refused before
	// anything is sent (blast radius, depth, a loop, a template or secret
	// that cannot be used, a rollback): the run's phase 1, which `cascade
	// plan` runs too. Empty when a run would go ahead.
	Refusals []string `json:"refusals"`
	// SkippedDeclarations are the dependents' declarations discovery left
	// out of the run (internal/discover): invalid, shadowed by the
	// config, or for a registry not allowed. Empty without discovery.
	SkippedDeclarations []SkippedDeclaration `json:"skippedDeclarations"`
	// Workloads are the live workloads of the configured clusters that
	// reference the updated repository (the cluster target, issue 17).
	Workloads []Workload `json:"workloads"`
}

// SkippedDeclaration is one declaration left out, with where and why.
type SkippedDeclaration struct {
	// Source is where it was declared ("github:acme/app-b@1a2b3c4d5e6f",
	// "tekton:ci/app-a-build").
	Source string `json:"source"`
	// Path is the field path of the problem in the declaration ("" when
	// the whole declaration is concerned).
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// Summary counts the dependents by verdict and the planned dispatches.
type Summary struct {
	Dependents int `json:"dependents"`
	Stale      int `json:"stale"`
	Current    int `json:"current"`
	Unknown    int `json:"unknown"`
	Dispatches int `json:"dispatches"`
}

// Dependent is one image built on the updated image, directly or not.
type Dependent struct {
	Name  string `json:"name"`
	Image string `json:"image"`
	// Digest is its digest in the registry now ("" when not found).
	Digest string `json:"digest"`
	Depth  int    `json:"depth"`
	// Base is the image it was compared against: the updated image or
	// the dependent it is built on in the cascade.
	Base     string   `json:"base"`
	Status   Status   `json:"status"`
	Evidence Evidence `json:"evidence"`
	Reason   string   `json:"reason"`
	// BuiltOn is the base digest the evidence names, when it names one.
	BuiltOn string `json:"builtOn"`
	// Rebuild is the configured rebuild kind (github, tekton, webhook,
	// rebase).
	Rebuild string `json:"rebuild"`
	// DeclaredBy says where the dependent was declared: "config" (the
	// base's cascade.yaml), "tekton:ns/pipeline" or
	// "github:owner/repo@sha" (internal/discover).
	DeclaredBy string `json:"declaredBy"`
	Action     Action `json:"action"`
	// Via names the base whose rebuild carries the cascade on, for
	// ActionCascade.
	Via string `json:"via"`
	// Platforms are the per-platform verdicts of a multi-arch dependent
	// (empty for a single-platform one). Every key of Dependent is always
	// present in JSON: empty strings and lists, never missing.
	Platforms []Platform `json:"platforms"`
}

// Platform is the verdict for one platform of a multi-arch dependent.
type Platform struct {
	Platform string   `json:"platform"`
	Digest   string   `json:"digest"`
	Status   Status   `json:"status"`
	Evidence Evidence `json:"evidence"`
	Reason   string   `json:"reason"`
	BuiltOn  string   `json:"builtOn"`
}

// Input is everything Build decides from. The engine fills it.
type Input struct {
	// Updated is the updated image with its new digest set.
	Updated imageref.Ref
	// Base is the updated image as a base: digest, index flag and, when
	// it was needed, its manifest detail.
	Base       Base
	Roots      []*graph.Node
	Dependents []graph.Dependent
	// Images are the inspected dependents by node ID. Digests are the
	// dependents whose digest alone was resolved, because a base of
	// theirs is rebuilt first (see Decider.Carried): their manifest
	// decides nothing. A dependent in neither was not found in the
	// registry.
	Images  map[string]*registry.Image
	Digests map[string]imageref.Digest
	// Rebuild is the rebuild kind of each configured image by name.
	Rebuild map[string]string
	// DeclaredBy is where each image was declared by name ("config" when
	// missing).
	DeclaredBy map[string]string
	// DispatchUnknown dispatches dependents whose state is unknown.
	DispatchUnknown bool
}

// Build makes the plan. Dependents come in the graph's tier order.
func Build(in Input) *Plan {
	p := &Plan{
		SchemaVersion: SchemaVersion,
		Image:         in.Updated.Original,
		Digest:        string(in.Base.Digest),
		Index:         in.Base.Index,
		Roots:         []string{},
		Dependents:    []Dependent{},
		Refusals:      []string{},
		Workloads:     []Workload{},

		SkippedDeclarations: []SkippedDeclaration{},
	}
	for _, r := range in.Roots {
		p.Roots = append(p.Roots, r.ID)
	}
	dec := NewDecider(&in)
	for _, gd := range in.Dependents {
		p.Dependents = append(p.Dependents, dec.Decide(gd))
	}
	for _, d := range p.Dependents {
		p.Summary.Dependents++
		switch d.Status {
		case Stale:
			p.Summary.Stale++
		case Current:
			p.Summary.Current++
		default:
			p.Summary.Unknown++
		}
		if d.Action == ActionDispatch {
			p.Summary.Dispatches++
		}
	}
	return p
}

// Decider decides dependents one at a time, each after the bases of it in
// the cascade, as Build does for all of them in tier order. The engine uses
// it while it reads the registry, to learn which dependents a rebuilt base
// carries (Carried) before reading them.
type Decider struct {
	in    *Input
	roots map[string]bool
	done  map[string]Action // actions of the dependents decided so far
}

// NewDecider returns a Decider over in. It reads in's Images, Digests and
// Base as they are when Decide is called; the caller keeps them from
// changing during a call.
func NewDecider(in *Input) *Decider {
	d := &Decider{in: in, roots: map[string]bool{}, done: map[string]Action{}}
	for _, r := range in.Roots {
		d.roots[r.ID] = true
	}
	return d
}

// Carried reports whether a base of gd among the dependents decided so far
// is rebuilt: gd is then stale, carried by that rebuild's cascade,
// whatever the registry says of it — only its digest, for the report, is
// worth asking the registry for.
func (d *Decider) Carried(gd graph.Dependent) bool {
	for _, e := range gd.Parents {
		if rebuilt(d.done[e.From]) {
			return true
		}
	}
	return false
}

// Decide decides gd, whose bases in the cascade must be decided already,
// and records its action.
func (d *Decider) Decide(gd graph.Dependent) Dependent {
	dep := decideDependent(*d.in, gd, d.roots, d.done)
	d.done[dep.Name] = dep.Action
	return dep
}

func decideDependent(in Input, gd graph.Dependent, roots map[string]bool, done map[string]Action) Dependent {
	n := gd.Node
	d := Dependent{Name: n.ID, Image: n.Ref.Original, Depth: gd.Depth, Rebuild: in.Rebuild[n.ID], DeclaredBy: in.DeclaredBy[n.ID], Platforms: []Platform{}}
	if d.DeclaredBy == "" {
		d.DeclaredBy = "config"
	}
	img := in.Images[n.ID]
	if img != nil {
		d.Digest = string(img.Digest)
	} else if dg, ok := in.Digests[n.ID]; ok {
		d.Digest = string(dg)
	}
	// A base in the cascade that will itself be rebuilt carries the
	// cascade on: this image will be stale once it has been.
	for _, e := range gd.Parents {
		if rebuilt(done[e.From]) {
			d.Base = e.From
			d.Status, d.Evidence, d.Action, d.Via = Stale, EvidenceTransitive, ActionCascade, e.From
			d.Reason = fmt.Sprintf("built on %s, which is rebuilt first; its cascade step rebuilds this one", e.From)
			return d
		}
	}
	// Otherwise compare with each base in the cascade; the worst verdict wins.
	var verdict *Verdict
	var platforms []PlatformVerdict
	for _, e := range gd.Parents {
		base, ok := baseFor(in, e, roots)
		if !ok {
			continue
		}
		var v Verdict
		var pv []PlatformVerdict
		if img == nil {
			v = Verdict{Status: Unknown, Evidence: EvidenceMissing, Reason: "not found in the registry (never built?)"}
		} else {
			v, pv = Decide(base, img, e.BaseRef)
		}
		if verdict == nil || worse(v.Status, verdict.Status) {
			verdict, platforms, d.Base = &v, pv, e.From
		}
	}
	if verdict == nil {
		verdict = &Verdict{Status: Unknown, Evidence: EvidenceNone, Reason: "its base in the cascade could not be read"}
	}
	d.Status, d.Evidence, d.Reason, d.BuiltOn = verdict.Status, verdict.Evidence, verdict.Reason, string(verdict.BuiltOn)
	for _, pv := range platforms {
		d.Platforms = append(d.Platforms, Platform{Platform: pv.Platform, Digest: string(pv.Digest), Status: pv.Status,
			Evidence: pv.Evidence, Reason: pv.Reason, BuiltOn: string(pv.BuiltOn)})
	}
	switch d.Status {
	case Current:
		d.Action = ActionSkip
	case Stale:
		d.Action = ActionDispatch
	default:
		d.Action = ActionHold
		if in.DispatchUnknown {
			d.Action = ActionDispatch
		}
	}
	return d
}

// rebuilt reports whether a dependent with action a is rebuilt in this
// cascade (now, or by its own base's cascade step).
func rebuilt(a Action) bool { return a == ActionDispatch || a == ActionCascade }

// baseFor returns what the dependent is compared against along edge e: the
// updated image for a root, else the inspected image of the base dependent.
func baseFor(in Input, e graph.Edge, roots map[string]bool) (Base, bool) {
	if roots[e.From] {
		return in.Base, true
	}
	img := in.Images[e.From]
	if img == nil {
		return Base{}, false
	}
	return Base{Ref: img.Ref, Digest: img.Digest, Index: img.Index, Detail: img}, true
}

func worse(a, b Status) bool { return rank(a) > rank(b) }

func rank(s Status) int {
	switch s {
	case Stale:
		return 2
	case Unknown:
		return 1
	}
	return 0
}

// CheckBlastRadius refuses (exit 5) a plan that would dispatch more than max
// rebuilds. max <= 0 means no limit.
func (p *Plan) CheckBlastRadius(max int) error {
	if max > 0 && p.Summary.Dispatches > max {
		return exitcode.AsRefused(fmt.Errorf("blast radius: %d rebuilds planned, over the limit of %d (raise limits.maxDispatches or pass --max-dispatches)", p.Summary.Dispatches, max))
	}
	return nil
}
