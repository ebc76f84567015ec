// Package dispatch starts the rebuilds of stale dependents: GitHub
// repository_dispatch and workflow_dispatch, Tekton PipelineRuns, signed
// webhooks and in-registry rebases, each behind the one-method Dispatcher
// interface. Run fans targets out best-effort (one failure never cancels the
// others) and Summarize turns the outcomes into cascade's exit codes. Every
// dispatcher is idempotent per dedup key (docs/reliability.md, promise 3), retries
// through package retry (promise 4) and keeps credentials out of its errors
// (promise 7).
package dispatch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"regexp"
	"strings"

	"github.com/imagecascade/cascade/internal/config"
	"github.com/imagecascade/cascade/internal/imageref"
)

// Target is one dependent to rebuild because one of its bases moved.
type Target struct {
	// Name is the dependent's name in the config ("app-a").
	Name string
	// Image is the dependent's image as configured (repository and tag;
	// Digest, when set, is the digest it was last seen at).
	Image imageref.Ref
	// Rebuild is how the dependent is rebuilt; its Kind selects the
	// Dispatcher.
	Rebuild config.Rebuild
	// Base is the base that moved, with its new digest.
	Base BaseRef
	// Cascade places this dispatch in its cascade.
	Cascade Cascade
}

// BaseRef is the base that moved.
type BaseRef struct {
	// Name is the base's name in the config ("httpd-base"); empty for a
	// base the config does not list.
	Name string
	// Ref is the base's repository and tag with the NEW digest set.
	Ref imageref.Ref
}

// Cascade is the cascade a dispatch belongs to; it travels in the payload so
// the receiving side continues the chain.
type Cascade struct {
	// ID is the dedup key; Key computes it when empty.
	ID string `json:"id"`
	// Depth is how far down the chain the dependent is (1 for a direct
	// dependent of the origin).
	Depth int `json:"depth"`
	// Chain lists the image names from the origin to the base.
	Chain []string `json:"chain"`
	// Origin is the first updated image of the cascade, "repo@sha256:…".
	Origin string `json:"origin"`
}

// Key returns the dispatch's dedup key: Cascade.ID when set, else
// DedupKey(Name, Base.Ref.Digest).
func (t Target) Key() string {
	if t.Cascade.ID != "" {
		return t.Cascade.ID
	}
	return DedupKey(t.Name, t.Base.Ref.Digest)
}

// Status is what became of one dispatch.
type Status string

// Statuses of an Outcome.
const (
	// StatusDispatched: the rebuild was started by this call.
	StatusDispatched Status = "dispatched"
	// StatusAlreadyDispatched: the rebuild for this dedup key had already
	// been started (a success).
	StatusAlreadyDispatched Status = "already-dispatched"
	// StatusFailed: the rebuild could not be started; Err says why.
	StatusFailed Status = "failed"
	// StatusSkipped: nothing was done (a dry run, or nothing to do).
	StatusSkipped Status = "skipped"
	// StatusClaimed: a concurrent run holds this rebuild's claim and
	// dispatches it; this run left it alone (a success: it is started
	// exactly once).
	StatusClaimed Status = "claimed-by-another-run"
)

// Started reports whether s means the rebuild was, or is being, started:
// by this run (dispatched), earlier (already-dispatched) or by a
// concurrent run holding its claim.
func (s Status) Started() bool {
	return s == StatusDispatched || s == StatusAlreadyDispatched || s == StatusClaimed
}

// OK reports whether s counts as success.
func (s Status) OK() bool { return s != StatusFailed }

// Outcome is the result of dispatching one Target.
type Outcome struct {
	// Name is the dependent; Kind its rebuild kind.
	Name string `json:"name"`
	Kind string `json:"kind"`
	// Key is the dedup key the dispatch was made under.
	Key    string `json:"key,omitempty"`
	Status Status `json:"status"`
	// Detail says what was done: a run URL, a PipelineRun name, an HTTP
	// status, a pushed reference.
	Detail string `json:"detail,omitempty"`
	// RunID is the GitHub workflow run id, when the API gave it.
	RunID int64 `json:"runId,omitempty"`
	// NewDigest is the dependent's new digest after a rebase: the caller
	// cascades it further.
	NewDigest imageref.Digest `json:"newDigest,omitempty"`
	// Attempts counts the requests made (0 when none was).
	Attempts int `json:"attempts"`
	// Err is why the dispatch failed; it never holds a credential. In
	// JSON it is the string "error".
	Err error `json:"-"`
}

// MarshalJSON writes the Outcome with Err as the redacted string "error".
func (o Outcome) MarshalJSON() ([]byte, error) {
	type plain Outcome
	out := struct {
		plain
		Error string `json:"error,omitempty"`
	}{plain: plain(o)}
	if o.Err != nil {
		out.Error = Redact(o.Err.Error())
	}
	return json.Marshal(out)
}

// Dispatcher starts the rebuild of one target. Implementations are safe for
// concurrent use, bound and space their own requests, retry per their
// retry.Policy, and report everything in the Outcome: Dispatch never
// panics and has no error result — a failure is an Outcome with
// StatusFailed and Err set. Dispatching the same Target twice starts one
// rebuild where the backend allows it (Tekton: AlreadyExists on the
// deterministic name).
type Dispatcher interface {
	// Kind names the rebuild kind handled ("github", "tekton", "webhook",
	// "rebase").
	Kind() string
	// Dispatch starts the rebuild of t.
	Dispatch(ctx context.Context, t Target) Outcome
}

const maxNameLen = 63 // a DNS-1123 label, a Kubernetes label value

var notNameChar = regexp.MustCompile(`[^a-z0-9]+`)

// DedupKey returns the one key of (dependent, new base digest): the
// dependent's name sanitised to a DNS-1123 label, a dash, and the first 12
// hex characters of the digest ("app-a-1a2b3c4d5e6f"). It is a valid
// Kubernetes object name (at most 63 characters) and deterministic; when the
// name had to be changed (case, characters) or shortened, an 8-character
// hash of the original name is added so that distinct names stay distinct.
func DedupKey(dependent string, digest imageref.Digest) string {
	short := digest.Short()
	if short == "" {
		short = "nodigest"
	}
	return labelSafe(dependent, maxNameLen-1-len(short)) + "-" + short
}

// labelSafe returns name as a DNS-1123 label of at most limit characters,
// with a hash of name appended when it had to change.
func labelSafe(name string, limit int) string {
	s := strings.Trim(notNameChar.ReplaceAllString(strings.ToLower(name), "-"), "-")
	if s == name && len(s) <= limit && s != "" {
		return s
	}
	sum := sha256.Sum256([]byte(name))
	h := hex.EncodeToString(sum[:4])
	keep := limit - 1 - len(h)
	if len(s) > keep {
		s = strings.TrimRight(s[:keep], "-")
	}
	if s == "" {
		return "x" + h
	}
	return s + "-" + h
}

var (
	userinfoRE = regexp.MustCompile(`(://)[^/@\s]+@`)
	queryRE    = regexp.MustCompile(`(https?://[^\s?"]+)\?[^\s"]*`)
)

// Redact removes URL userinfo and query strings from s: the places where a
// credential could hide in an error from an HTTP client.
func Redact(s string) string {
	s = userinfoRE.ReplaceAllString(s, "${1}REDACTED@")
	return queryRE.ReplaceAllString(s, "${1}?REDACTED")
}

// templateData is the config.TemplateData of t.
func templateData(t Target) config.TemplateData {
	return config.TemplateData{
		Base:  templateImage(t.Base.Name, t.Base.Ref),
		Image: templateImage(t.Name, t.Image),
		Cascade: config.TemplateCascade{
			ID:     t.Key(),
			Depth:  t.Cascade.Depth,
			Chain:  append([]string(nil), t.Cascade.Chain...),
			Origin: t.Cascade.Origin,
		},
	}
}

func templateImage(name string, r imageref.Ref) config.TemplateImage {
	ti := config.TemplateImage{Name: name, Image: r.Short(), Digest: string(r.Digest), Tag: r.EffectiveTag()}
	if r.Digest != "" {
		ti.Ref = r.WrittenName + "@" + string(r.Digest)
	}
	return ti
}
