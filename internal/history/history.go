// Package history keeps cascade's "virtual repository" (docs/contract.md,
// "History record"): for every digest an image is updated to, a record of the
// generation — the digest before, the time, and each dispatch with its
// outcome — stored in the registry next to the image as an OCI artifact whose
// subject is the new digest. The records make re-runs idempotent: a
// (dependent, digest) dispatched successfully is not dispatched again, a
// failed one is retried (docs/reliability.md, promises 3 and 9).
//
// Each run appends its own artifact (records are immutable; nothing is read,
// modified and written back); Load merges all the records of a digest.
// Records are found through the OCI referrers API or, on registries without
// it (distribution 2.8), through the referrers tag scheme ("sha256-<hex>",
// an index go-containerregistry maintains when it pushes a manifest with a
// subject) and, because that index is rewritten without a conditional
// request and so loses entries to concurrent writers, through a tag per
// record ("sha256-<hex>.cascade-<record>").
package history

import (
	"context"
	"time"

	"github.com/imagecascade/cascade/internal/dispatch"
	"github.com/imagecascade/cascade/internal/redact"
)

// Media types of a history record.
const (
	// ArtifactType is the record manifest's artifactType and the media type
	// of its single layer, the Generation JSON.
	ArtifactType = "application/vnd.imagecascade.history.v1+json"
	// EmptyConfigType is the OCI empty descriptor's media type, the
	// record's config ("{}").
	EmptyConfigType = "application/vnd.oci.empty.v1+json"
	// CreatedAnnotation holds the record's time (RFC 3339) on the manifest.
	CreatedAnnotation = "org.opencontainers.image.created"
)

// SchemaVersion is the version of the Generation JSON this package writes.
const SchemaVersion = 1

// Generation is what one cascade run did for one new digest of an image.
// Its JSON form is stable: new fields are only ever added.
type Generation struct {
	// SchemaVersion is the record format (SchemaVersion).
	SchemaVersion int `json:"schemaVersion"`
	// Image is the normalized repository ("registry.example.com/acme/base").
	Image string `json:"image"`
	// Tag is the tag the digest was published under, when known.
	Tag string `json:"tag,omitempty"`
	// Digest is the new digest: the record's subject.
	Digest string `json:"digest"`
	// Previous is the digest the tag named before, when known.
	Previous string `json:"previous,omitempty"`
	// Time is when the run recorded the generation.
	Time time.Time `json:"time"`
	// CascadeID, Origin and Chain place the run in its cascade (the
	// incoming cascade context, when the run continued one).
	CascadeID string   `json:"cascadeId,omitempty"`
	Origin    string   `json:"origin,omitempty"`
	Chain     []string `json:"chain,omitempty"`
	// RunID identifies the run that wrote the record: it settles that
	// run's claims (see Store.Claim).
	RunID string `json:"runId,omitempty"`
	// Dispatches are the run's dispatches, one per dependent.
	Dispatches []Dispatch `json:"dispatches"`
	// Rollouts are the live workloads the run rolled to Digest, or failed
	// to (the cluster target, package rollout).
	Rollouts []Rollout `json:"rollouts,omitempty"`
}

// Rollout is one live workload of a Generation and its outcome.
type Rollout struct {
	// Cluster is the cluster's name in the config.
	Cluster string `json:"cluster,omitempty"`
	// Workload is "Kind namespace/name".
	Workload string `json:"workload"`
	// Status is rolled or failed.
	Status string `json:"status"`
	// Time is when the run recorded it.
	Time time.Time `json:"time,omitzero"`
	// Error is why it failed, redacted; empty unless Status is failed.
	Error string `json:"error,omitempty"`
}

// Dispatch is one dispatch of a Generation and its outcome.
type Dispatch struct {
	// Dependent is the dependent's name in the config.
	Dependent string `json:"dependent"`
	// Kind is its rebuild kind ("github", "tekton", "webhook", "rebase").
	Kind string `json:"kind,omitempty"`
	// Key is the dedup key (dispatch.DedupKey).
	Key string `json:"key"`
	// Status is dispatched, already-dispatched, failed or skipped.
	Status dispatch.Status `json:"status"`
	// Detail says what was done (a run URL, a PipelineRun name, ...).
	Detail string `json:"detail,omitempty"`
	// Time is when the dispatch finished.
	Time time.Time `json:"time,omitzero"`
	// Error is why it failed, redacted; empty unless Status is failed.
	Error string `json:"error,omitempty"`
}

// Sanitize returns g with every free-text field (details, errors, the
// cascade's origin and chain, which may come from a remote event) redacted
// with the context's redactor and quoted so that no line can be read as a
// GitHub Actions workflow command: the record is printed by cascade
// history and read by later runs. Record calls it.
func Sanitize(ctx context.Context, g Generation) Generation {
	r := redact.FromContext(ctx)
	g.CascadeID, g.Origin = r.Text(g.CascadeID), r.Text(g.Origin)
	if g.Chain != nil {
		chain := make([]string, len(g.Chain))
		for i, c := range g.Chain {
			chain[i] = r.Text(c)
		}
		g.Chain = chain
	}
	if g.Dispatches != nil {
		ds := make([]Dispatch, len(g.Dispatches))
		for i, d := range g.Dispatches {
			d.Detail, d.Error = r.Text(d.Detail), r.Text(d.Error)
			ds[i] = d
		}
		g.Dispatches = ds
	}
	if g.Rollouts != nil {
		rs := make([]Rollout, len(g.Rollouts))
		for i, ro := range g.Rollouts {
			ro.Workload, ro.Error = r.Text(ro.Workload), r.Text(ro.Error)
			rs[i] = ro
		}
		g.Rollouts = rs
	}
	return g
}

// FromOutcome turns a dispatch outcome into a Dispatch at time at. The
// error text is redacted (dispatch.Redact).
func FromOutcome(o dispatch.Outcome, at time.Time) Dispatch {
	d := Dispatch{Dependent: o.Name, Kind: o.Kind, Key: o.Key, Status: o.Status, Detail: o.Detail, Time: at.UTC()}
	if o.Err != nil {
		d.Error = dispatch.Redact(o.Err.Error())
	}
	return d
}

// Dispatched returns the dedup keys that gens record as dispatched
// successfully (dispatched or already-dispatched): a run skips them.
// Failed and skipped dispatches are not in it, so they are tried again. A
// key dispatched successfully in any record stays in it, whatever later
// records say: the rebuild was started.
func Dispatched(gens []Generation) map[string]bool {
	out := map[string]bool{}
	for _, g := range gens {
		for _, d := range g.Dispatches {
			if d.Key != "" && (d.Status == dispatch.StatusDispatched || d.Status == dispatch.StatusAlreadyDispatched) {
				out[d.Key] = true
			}
		}
	}
	return out
}
