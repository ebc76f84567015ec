package history

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imagecascade/cascade/internal/dispatch"
	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/imageref"
	"github.com/imagecascade/cascade/internal/retry"
)

// ClaimType is the artifact type and layer media type of a claim.
const ClaimType = "application/vnd.imagecascade.claim.v1+json"

// Claim timing defaults.
const (
	// DefaultClaimSettle is how long a run waits after its claim is
	// visible before it reads the others: longer than any claim's push
	// takes (plus the clock skew between the machines that run cascade).
	DefaultClaimSettle = 2 * time.Second
	// DefaultClaimTTL is how long an unsettled claim holds: after it, the
	// claiming run is taken to have crashed and its work is taken over.
	DefaultClaimTTL = 15 * time.Minute
	// maxClaimBytes bounds one claim's JSON (500 keys take ~25 KB).
	maxClaimBytes = 1 << 20
	// maxClaimsRead bounds the earlier claims read for one decision.
	maxClaimsRead = 100
)

// claimPrefix starts every claim tag: "cascade-claim.<16 hex of the
// subject digest>.<19-digit unix nanoseconds>.<run id>".
const claimPrefix = "cascade-claim."

// ClaimOptions tune Claim.
type ClaimOptions struct {
	// Settle is DefaultClaimSettle when zero.
	Settle time.Duration
	// TTL is DefaultClaimTTL when zero.
	TTL time.Duration
}

// claimBody is a claim's JSON.
type claimBody struct {
	RunID string    `json:"runId"`
	Time  time.Time `json:"time"`
	Keys  []string  `json:"keys"`
}

// NewRunID returns a random run id: 16 hex characters.
func NewRunID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read does not fail
	return hex.EncodeToString(b[:])
}

// Claim claims the dedup keys for run runID against image's digest (the
// base the dispatches are made against) and returns the keys this run won:
// those no earlier, live claim of another run holds. It is how concurrent
// runs, re-runs and runs after a crash dispatch each rebuild exactly once.
//
// A claim is an artifact tagged in the base's repository with its time and
// run id. After pushing it, the run waits Settle (so that every claim made
// before its own is visible: Settle must exceed a push's latency plus the
// machines' clock skew; a push slower than Settle is re-made with a fresh
// time), then lists the claims of the digest. A claim whose push took
// longer than Settle is released (recorded as not dispatched) and the call
// fails transiently with nothing won: failing safe, never twice. A key goes to the earliest
// claim (time, then run id) that is live: younger than TTL, and whose run
// has not recorded an outcome for the key (a recorded run has finished with
// it: a failure there is retried by whoever claims next). Every run that
// sees the same claims picks the same winner.
//
// Pushing the claim also proves the history store takes writes, before
// anything is dispatched: an error here means nothing was sent.
func (s *Store) Claim(ctx context.Context, image imageref.Ref, runID string, keys []string, o ClaimOptions) (map[string]bool, error) {
	what := fmt.Sprintf("claiming %d dispatch(es) against %s", len(keys), describe(image))
	if image.Digest == "" {
		return nil, exitcode.AsInvalid(fmt.Errorf("%s: the reference has no digest", what))
	}
	if o.Settle <= 0 {
		o.Settle = DefaultClaimSettle
	}
	if o.TTL <= 0 {
		o.TTL = DefaultClaimTTL
	}
	repo, err := s.repository(image)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	subject := repo.Digest(string(image.Digest))
	var mine claimRef
	at := s.o.Now().UTC()
	err = retry.Do(ctx, s.o.Policy, func(ctx context.Context) error {
		var err error
		mine, err = s.pushClaim(ctx, subject, claimBody{RunID: runID, Time: at, Keys: keys})
		return retryable(err)
	})
	if err != nil {
		return nil, classify(what, err)
	}
	if took := s.o.Now().Sub(at); took >= o.Settle {
		// Another run may have read the claims before this one was
		// visible, and taken keys this one's earlier time would win.
		// Give the keys up, on the record, and let a re-run claim them.
		release := Generation{RunID: runID, Dispatches: make([]Dispatch, 0, len(keys))}
		for _, k := range keys {
			release.Dispatches = append(release.Dispatches, Dispatch{Key: k, Status: dispatch.StatusFailed,
				Error: "not dispatched: the claim was released because the registry stored it too slowly"})
		}
		_ = s.Record(ctx, image, release) // best effort: otherwise the claim holds until its TTL
		return nil, exitcode.AsTransient(fmt.Errorf("%s: the registry took %s to store the claim, longer than the %s a run waits for concurrent claims: nothing was dispatched, to rule out a duplicate; re-run (or raise the settle time)",
			what, took.Round(time.Millisecond), o.Settle))
	}
	if err := sleep(ctx, o.Settle); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	var held map[string]string
	err = retry.Do(ctx, s.o.Policy, func(ctx context.Context) error {
		var err error
		held, err = s.earlierClaims(ctx, subject, mine, o.TTL)
		return retryable(err)
	})
	if err != nil {
		return nil, classify(what, err)
	}
	won := map[string]bool{}
	for _, k := range keys {
		if _, taken := held[k]; !taken {
			won[k] = true
		}
	}
	return won, nil
}

// claimRef is a claim as its tag names it.
type claimRef struct {
	tag   string
	at    int64 // unix nanoseconds
	runID string
}

func (c claimRef) before(o claimRef) bool {
	if c.at != o.at {
		return c.at < o.at
	}
	return c.runID < o.runID
}

func claimTagPrefix(subject name.Digest) string {
	return claimPrefix + strings.TrimPrefix(subject.DigestStr(), "sha256:")[:16] + "."
}

func parseClaimTag(prefix, tag string) (claimRef, bool) {
	rest, ok := strings.CutPrefix(tag, prefix)
	if !ok {
		return claimRef{}, false
	}
	ns, run, ok := strings.Cut(rest, ".")
	if !ok || len(ns) != 19 || run == "" {
		return claimRef{}, false
	}
	at, err := strconv.ParseInt(ns, 10, 64)
	if err != nil {
		return claimRef{}, false
	}
	return claimRef{tag: tag, at: at, runID: run}, true
}

// pushClaim pushes body as a claim artifact tagged for subject.
func (s *Store) pushClaim(ctx context.Context, subject name.Digest, body claimBody) (claimRef, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return claimRef{}, err
	}
	if len(raw) > maxClaimBytes {
		return claimRef{}, exitcode.AsInvalid(fmt.Errorf("claim of %d keys is too large", len(body.Keys)))
	}
	ref := claimRef{at: body.Time.UnixNano(), runID: body.RunID}
	ref.tag = claimTagPrefix(subject) + fmt.Sprintf("%019d", ref.at) + "." + body.RunID
	opts := s.remote(ctx)
	pusher, err := remote.NewPusher(opts...)
	if err != nil {
		return claimRef{}, err
	}
	repo := subject.Context()
	for _, l := range []v1.Layer{static.NewLayer(emptyJSON, EmptyConfigType), static.NewLayer(raw, ClaimType)} {
		if err := pusher.Upload(ctx, repo, l); err != nil {
			return claimRef{}, fmt.Errorf("uploading to %s: %w", repo, err)
		}
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  ClaimType,
		Config:        descriptorOf(emptyJSON, EmptyConfigType),
		Layers:        []v1.Descriptor{descriptorOf(raw, ClaimType)},
	}
	m.Config.Data = emptyJSON
	mraw, err := json.Marshal(m)
	if err != nil {
		return claimRef{}, err
	}
	if err := pusher.Put(ctx, repo.Tag(ref.tag), rawManifest(mraw)); err != nil {
		return claimRef{}, fmt.Errorf("pushing the claim to %s: %w", repo, err)
	}
	return ref, nil
}

// earlierClaims returns the keys this run may not dispatch, each with
// who holds it: "recorded" when a record says it was dispatched, else the
// run id of the earliest live claim made before mine by another run.
func (s *Store) earlierClaims(ctx context.Context, subject name.Digest, mine claimRef, ttl time.Duration) (map[string]string, error) {
	opts := s.remote(ctx)
	puller, err := remote.NewPuller(opts...)
	if err != nil {
		return nil, err
	}
	tags, err := puller.List(ctx, subject.Context())
	if err != nil {
		return nil, fmt.Errorf("listing the tags of %s: %w", subject.Context(), err)
	}
	prefix := claimTagPrefix(subject)
	oldest := s.o.Now().Add(-ttl).UnixNano()
	var earlier []claimRef
	for _, t := range tags {
		c, ok := parseClaimTag(prefix, t)
		if !ok || c.runID == mine.runID || c.at < oldest || !c.before(mine) {
			continue
		}
		earlier = append(earlier, c)
	}
	// What the runs recorded: a key recorded as dispatched is done,
	// whoever claimed it; a claim whose run recorded any outcome for a key
	// is settled for that key (a failure is retried by the next claimant).
	gens, err := s.load(ctx, subject)
	if err != nil {
		return nil, err
	}
	held := map[string]string{}
	for k := range Dispatched(gens) {
		held[k] = "recorded"
	}
	if len(earlier) == 0 {
		return held, nil
	}
	slices.SortFunc(earlier, func(a, b claimRef) int {
		if a.before(b) {
			return -1
		}
		if b.before(a) {
			return 1
		}
		return 0
	})
	if len(earlier) > maxClaimsRead {
		earlier = earlier[len(earlier)-maxClaimsRead:]
	}
	settled := map[string]bool{} // run id + "\x00" + key
	for _, g := range gens {
		if g.RunID == "" {
			continue
		}
		for _, d := range g.Dispatches {
			settled[g.RunID+"\x00"+d.Key] = true
		}
	}
	for _, c := range earlier {
		body, err := s.readClaim(ctx, subject.Context().Tag(c.tag), opts)
		if err != nil {
			return nil, err
		}
		if body == nil || body.RunID != c.runID {
			continue
		}
		for _, k := range body.Keys {
			if _, ok := held[k]; ok || settled[c.runID+"\x00"+k] {
				continue
			}
			held[k] = c.runID
		}
	}
	return held, nil
}

// readClaim reads one claim; nil when ref is not a readable claim.
func (s *Store) readClaim(_ context.Context, ref name.Tag, opts []remote.Option) (*claimBody, error) {
	desc, err := remote.Get(ref, opts...)
	if notFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", ref, err)
	}
	var m v1.Manifest
	if len(desc.Manifest) > maxManifestSize || json.Unmarshal(desc.Manifest, &m) != nil || len(m.Layers) != 1 ||
		m.Layers[0].MediaType != ClaimType || m.Layers[0].Size > maxClaimBytes || m.Layers[0].Size < 0 {
		return nil, nil
	}
	layer, err := remote.Layer(ref.Context().Digest(m.Layers[0].Digest.String()), opts...)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", ref, err)
	}
	rc, err := layer.Compressed()
	if notFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", ref, err)
	}
	defer rc.Close()
	raw, err := io.ReadAll(io.LimitReader(rc, maxClaimBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", ref, err)
	}
	var b claimBody
	if len(raw) > maxClaimBytes || json.NewDecoder(bytes.NewReader(raw)).Decode(&b) != nil {
		return nil, nil
	}
	return &b, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}
