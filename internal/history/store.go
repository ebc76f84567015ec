package history

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/imageref"
	"github.com/imagecascade/cascade/internal/retry"
)

// Bounds on what Load reads, so that a hostile registry cannot make it
// allocate without limit.
const (
	// maxRecordSize bounds one Generation JSON (500 dispatches take ~150 KB).
	maxRecordSize = 4 << 20
	// maxManifestSize bounds one record manifest.
	maxManifestSize = 64 << 10
	// maxRecords bounds the records read for one digest.
	maxRecords = 1000
)

// emptyJSON is the content of the OCI empty descriptor.
var emptyJSON = []byte("{}")

// Options configure a Store.
type Options struct {
	// Transport is the base HTTP transport (remote.DefaultTransport when
	// nil); the CLI passes registry.Client.Transport(), which enforces the
	// registry allowlist.
	Transport http.RoundTripper
	// Keychain supplies registry credentials (authn.DefaultKeychain when
	// nil). Record needs push permission on the image's repository.
	Keychain authn.Keychain
	// Insecure reports whether a registry host is reached over plain HTTP.
	Insecure func(host string) bool
	// Policy retries each operation on 408/429/5xx and connection
	// failures (go-containerregistry's own retries are turned off, so
	// there is one policy).
	Policy retry.Policy
	// Now is the clock for a record whose Time is zero (time.Now when
	// nil).
	Now func() time.Time
	// VerifyWait is how long Record waits before checking that its record
	// is listed among the digest's referrers, and between repairs (100 ms
	// when zero). See Record.
	VerifyWait time.Duration
}

// Store reads and writes history records in registries. It is safe for
// concurrent use.
type Store struct {
	o Options
}

// New returns a Store.
func New(o Options) *Store {
	if o.Transport == nil {
		o.Transport = remote.DefaultTransport
	}
	if o.Keychain == nil {
		o.Keychain = authn.DefaultKeychain
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.VerifyWait <= 0 {
		o.VerifyWait = 100 * time.Millisecond
	}
	return &Store{o: o}
}

// verifyAttempts bounds the re-writes of a record whose descriptor a
// concurrent writer dropped from the fallback tag's index.
const verifyAttempts = 3

// Record stores g as a new record for image's digest: an OCI artifact in
// image's repository whose subject is that digest. image must carry a
// digest that exists in the registry; g's Image, Tag, Digest and
// SchemaVersion are filled in from it (a g.Digest naming another digest is
// an error), and a zero Time is set to now.
//
// Every call writes a separate artifact; nothing already stored is
// changed. On a registry without the referrers API the artifact is listed
// in the index tagged "sha256-<hex>" — go-containerregistry updates it by
// reading and rewriting it, without a conditional request, so a concurrent
// writer can drop our entry. Record therefore checks, after a short wait,
// that the record is listed, and writes it again if not (which re-adds
// it), a few times.
func (s *Store) Record(ctx context.Context, image imageref.Ref, g Generation) error {
	what := fmt.Sprintf("recording the history of %s", describe(image))
	if image.Digest == "" {
		return exitcode.AsInvalid(fmt.Errorf("%s: the reference has no digest", what))
	}
	if g.Digest != "" && g.Digest != string(image.Digest) {
		return exitcode.AsInvalid(fmt.Errorf("%s: the generation is for digest %s", what, g.Digest))
	}
	g.SchemaVersion = SchemaVersion
	g.Image, g.Digest = image.Name(), string(image.Digest)
	if g.Tag == "" {
		g.Tag = image.Tag
	}
	if g.Time.IsZero() {
		g.Time = s.o.Now()
	}
	g.Time = g.Time.UTC()
	if g.Dispatches == nil {
		g.Dispatches = []Dispatch{}
	}
	body, err := json.Marshal(g)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	repo, err := s.repository(image)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	subject := repo.Digest(string(image.Digest))

	var rec *v1.Hash
	err = retry.Do(ctx, s.o.Policy, func(ctx context.Context) error {
		h, err := s.write(ctx, subject, body, g.Time)
		rec = h
		return retryable(err)
	})
	if err != nil {
		return classify(what, err)
	}
	for range verifyAttempts {
		if err := sleep(ctx, s.o.VerifyWait); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		var listed bool
		err := retry.Do(ctx, s.o.Policy, func(ctx context.Context) error {
			descs, err := s.referrers(ctx, subject, nil)
			listed = slices.ContainsFunc(descs, func(d v1.Descriptor) bool { return d.Digest == *rec })
			return retryable(err)
		})
		if err != nil {
			return classify(what+": checking the record is listed", err)
		}
		if listed {
			return nil
		}
		err = retry.Do(ctx, s.o.Policy, func(ctx context.Context) error {
			_, err := s.write(ctx, subject, body, g.Time)
			return retryable(err)
		})
		if err != nil {
			return classify(what+": re-listing the record", err)
		}
	}
	return exitcode.AsTransient(fmt.Errorf("%s: the record was written but concurrent writers kept dropping it from the referrers tag %s", what, fallbackTag(subject)))
}

// write pushes one record artifact for subject and returns its manifest
// digest. The subject must exist: its descriptor goes into the manifest.
func (s *Store) write(ctx context.Context, subject name.Digest, body []byte, at time.Time) (*v1.Hash, error) {
	opts := s.remote(ctx)
	sub, err := remote.Head(subject, opts...)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", subject, err)
	}
	pusher, err := remote.NewPusher(opts...)
	if err != nil {
		return nil, err
	}
	config := static.NewLayer(emptyJSON, EmptyConfigType)
	blob := static.NewLayer(body, ArtifactType)
	for _, l := range []v1.Layer{config, blob} {
		if err := pusher.Upload(ctx, subject.Context(), l); err != nil {
			return nil, fmt.Errorf("uploading to %s: %w", subject.Context(), err)
		}
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  ArtifactType,
		Config:        descriptorOf(emptyJSON, EmptyConfigType),
		Layers:        []v1.Descriptor{descriptorOf(body, ArtifactType)},
		Subject:       &v1.Descriptor{MediaType: sub.MediaType, Size: sub.Size, Digest: sub.Digest},
		Annotations:   map[string]string{CreatedAnnotation: at.UTC().Format(time.RFC3339)},
	}
	m.Config.Data = emptyJSON // the OCI empty descriptor carries its data
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	h, _, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	if err := pusher.Put(ctx, subject.Context().Digest(h.String()), rawManifest(raw)); err != nil {
		return nil, fmt.Errorf("pushing the record to %s: %w", subject.Context(), err)
	}
	return &h, nil
}

// Load returns every record stored for image's digest, oldest first (by
// Time, then by record digest). No record is no error: the result is
// empty. Records that cannot be read as a Generation for this digest
// (foreign artifacts, corrupt or mismatched JSON, deleted manifests) are
// left out: a lost record at worst repeats a dispatch, which the backends
// deduplicate.
func (s *Store) Load(ctx context.Context, image imageref.Ref) ([]Generation, error) {
	what := fmt.Sprintf("reading the history of %s", describe(image))
	if image.Digest == "" {
		return nil, exitcode.AsInvalid(fmt.Errorf("%s: the reference has no digest", what))
	}
	repo, err := s.repository(image)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	subject := repo.Digest(string(image.Digest))
	var gens []Generation
	err = retry.Do(ctx, s.o.Policy, func(ctx context.Context) error {
		var err error
		gens, err = s.load(ctx, subject)
		return retryable(err)
	})
	if err != nil {
		return nil, classify(what, err)
	}
	return gens, nil
}

type loaded struct {
	g      Generation
	digest string
}

func (s *Store) load(ctx context.Context, subject name.Digest) ([]Generation, error) {
	puller, err := remote.NewPuller(s.remote(ctx)...)
	if err != nil {
		return nil, err
	}
	opts := append(s.remote(ctx), remote.Reuse(puller))
	descs, err := s.referrers(ctx, subject, opts)
	if err != nil {
		return nil, err
	}
	var recs []loaded
	for _, d := range descs {
		if len(recs) == maxRecords {
			break
		}
		// The registry names the artifact type; some (go-containerregistry's
		// own) name the config's media type instead: look inside those.
		if d.ArtifactType != ArtifactType && d.ArtifactType != "" && d.ArtifactType != EmptyConfigType {
			continue
		}
		g, ok, err := s.record(subject.Context().Digest(d.Digest.String()), subject.DigestStr(), opts)
		if err != nil {
			return nil, err
		}
		if ok && g.Digest == subject.DigestStr() {
			recs = append(recs, loaded{g: g, digest: d.Digest.String()})
		}
	}
	slices.SortFunc(recs, func(a, b loaded) int {
		if c := a.g.Time.Compare(b.g.Time); c != 0 {
			return c
		}
		return strings.Compare(a.digest, b.digest)
	})
	out := make([]Generation, len(recs))
	for i, r := range recs {
		out[i] = r.g
	}
	return out, nil
}

// record reads one record artifact of subject; ok is false when ref is not
// one (or is gone).
func (s *Store) record(ref name.Digest, subject string, opts []remote.Option) (Generation, bool, error) {
	desc, err := remote.Get(ref, opts...)
	if notFound(err) {
		return Generation{}, false, nil
	}
	if err != nil {
		return Generation{}, false, fmt.Errorf("reading %s: %w", ref, err)
	}
	if len(desc.Manifest) > maxManifestSize || desc.MediaType != types.OCIManifestSchema1 {
		return Generation{}, false, nil
	}
	var m v1.Manifest
	if json.Unmarshal(desc.Manifest, &m) != nil || len(m.Layers) != 1 || m.Subject == nil || m.Subject.Digest.String() != subject {
		return Generation{}, false, nil
	}
	if m.ArtifactType != ArtifactType && string(m.Config.MediaType) != ArtifactType {
		return Generation{}, false, nil
	}
	l := m.Layers[0]
	if string(l.MediaType) != ArtifactType || l.Size > maxRecordSize || l.Size < 0 {
		return Generation{}, false, nil
	}
	layer, err := remote.Layer(ref.Context().Digest(l.Digest.String()), opts...)
	if err != nil {
		return Generation{}, false, fmt.Errorf("reading %s: %w", ref, err)
	}
	rc, err := layer.Compressed()
	if notFound(err) {
		return Generation{}, false, nil
	}
	if err != nil {
		return Generation{}, false, fmt.Errorf("reading the record of %s: %w", ref, err)
	}
	defer rc.Close()
	body, err := io.ReadAll(io.LimitReader(rc, maxRecordSize+1))
	if err != nil {
		// The layer reader checks the digest at the end: a mismatch lands
		// here too.
		if notFound(err) {
			return Generation{}, false, nil
		}
		return Generation{}, false, fmt.Errorf("reading the record of %s: %w", ref, err)
	}
	var g Generation
	if len(body) > maxRecordSize || json.Unmarshal(body, &g) != nil || g.SchemaVersion < 1 {
		return Generation{}, false, nil
	}
	return g, true, nil
}

// referrers lists the descriptors referring to subject: the referrers API,
// else the fallback tag's index (go-containerregistry picks).
func (s *Store) referrers(ctx context.Context, subject name.Digest, opts []remote.Option) ([]v1.Descriptor, error) {
	if opts == nil {
		opts = s.remote(ctx)
	}
	idx, err := remote.Referrers(subject, opts...)
	if err != nil {
		return nil, fmt.Errorf("listing the referrers of %s: %w", subject, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("listing the referrers of %s: %w", subject, err)
	}
	return im.Manifests, nil
}

// remote returns the options of one operation: go-containerregistry tries
// once, Options.Policy retries.
func (s *Store) remote(ctx context.Context) []remote.Option {
	return []remote.Option{
		remote.WithContext(ctx),
		remote.WithTransport(s.o.Transport),
		remote.WithAuthFromKeychain(s.o.Keychain),
		remote.WithRetryBackoff(remote.Backoff{Steps: 1}),
		remote.WithRetryStatusCodes(),
	}
}

// repository is image's repository in go-containerregistry's terms.
func (s *Store) repository(image imageref.Ref) (name.Repository, error) {
	if image.Registry == "" || image.Repository == "" {
		return name.Repository{}, exitcode.AsInvalid(errors.New("empty image reference"))
	}
	var opts []name.Option
	if s.o.Insecure != nil && s.o.Insecure(image.Registry) {
		opts = append(opts, name.Insecure)
	}
	repo, err := name.NewRepository(image.Name(), opts...)
	if err != nil {
		return name.Repository{}, exitcode.AsInvalid(fmt.Errorf("parsing %q: %w", image.Name(), err))
	}
	return repo, nil
}

// rawManifest is a manifest to PUT as it is.
type rawManifest []byte

func (r rawManifest) RawManifest() ([]byte, error)        { return r, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

func descriptorOf(b []byte, mt types.MediaType) v1.Descriptor {
	h, n, _ := v1.SHA256(bytes.NewReader(b)) // reading a bytes.Reader cannot fail
	return v1.Descriptor{MediaType: mt, Size: n, Digest: h}
}

// fallbackTag is the referrers tag of subject ("sha256-<hex>").
func fallbackTag(subject name.Digest) string {
	return strings.Replace(subject.DigestStr(), ":", "-", 1)
}

// describe names image for messages: "repo@sha256:…" or "repo:tag".
func describe(image imageref.Ref) string {
	if image.Digest != "" {
		return image.Name() + "@" + string(image.Digest)
	}
	return image.Name() + ":" + image.EffectiveTag()
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
