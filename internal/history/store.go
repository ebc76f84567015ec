package history

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/imageref"
	"github.com/imagecascade/cascade/internal/outbound"
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
}

// Store reads and writes history records in registries. It is safe for
// concurrent use.
type Store struct {
	o Options

	mu        sync.Mutex
	referrers map[string]bool // by registry host: has the referrers API
}

// New returns a Store.
func New(o Options) *Store {
	if o.Transport == nil {
		o.Transport = remote.DefaultTransport
	}
	// Every request under the outbound policy (a no-op when the transport
	// already is): redirects, the redactor, the request log.
	o.Transport = outbound.Transport(o.Transport)
	if o.Keychain == nil {
		o.Keychain = authn.DefaultKeychain
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Store{o: o, referrers: map[string]bool{}}
}

// Record stores g as a new record for image's digest: an OCI artifact in
// image's repository whose subject is that digest. image must carry a
// digest that exists in the registry; g's Image, Tag, Digest and
// SchemaVersion are filled in from it (a g.Digest naming another digest is
// an error), and a zero Time is set to now.
//
// Every call writes a separate artifact; nothing already stored is
// changed. On a registry without the referrers API, go-containerregistry
// lists the artifact in the index tagged "sha256-<hex>" (the OCI referrers
// tag scheme), but it updates that index by reading and rewriting it
// without a conditional request, so concurrent writers drop each other's
// entries. There the artifact is therefore also tagged
// "sha256-<hex>.cascade-<16 hex of its own digest>" (as cosign tags its
// signatures), and Load finds records by those tags as well.
func (s *Store) Record(ctx context.Context, image imageref.Ref, g Generation) error {
	what := fmt.Sprintf("recording the history of %s", describe(image))
	if image.Digest == "" {
		return exitcode.AsInvalid(fmt.Errorf("%s: the reference has no digest", what))
	}
	if g.Digest != "" && g.Digest != string(image.Digest) {
		return exitcode.AsInvalid(fmt.Errorf("%s: the generation is for digest %s", what, g.Digest))
	}
	g = Sanitize(ctx, g)
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
	err = retry.Do(ctx, s.o.Policy, func(ctx context.Context) error {
		api, err := s.hasReferrersAPI(ctx, subject)
		if err == nil {
			err = s.write(ctx, subject, body, g.Time, !api, headTag(g.Tag))
		}
		return retryable(err)
	})
	return classify(what, err)
}

// write pushes one record artifact for subject, tagged with recordTag when
// tagged. The subject must exist: its descriptor goes into the manifest.
//
// head, when not empty, is also pointed at the record: the tag's head
// pointer, which Latest reads (last writer wins; see headTag).
func (s *Store) write(ctx context.Context, subject name.Digest, body []byte, at time.Time, tagged bool, head string) error {
	opts := s.remote(ctx)
	sub, err := remote.Head(subject, opts...)
	if err != nil {
		return fmt.Errorf("reading %s: %w", subject, err)
	}
	pusher, err := remote.NewPusher(opts...)
	if err != nil {
		return err
	}
	config := static.NewLayer(emptyJSON, EmptyConfigType)
	blob := static.NewLayer(body, ArtifactType)
	for _, l := range []v1.Layer{config, blob} {
		if err := pusher.Upload(ctx, subject.Context(), l); err != nil {
			return fmt.Errorf("uploading to %s: %w", subject.Context(), err)
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
		return err
	}
	h, _, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	var ref name.Reference = subject.Context().Digest(h.String())
	if tagged {
		ref = subject.Context().Tag(recordTag(subject, h))
	}
	if err := pusher.Put(ctx, ref, rawManifest(raw)); err != nil {
		return fmt.Errorf("pushing the record to %s: %w", subject.Context(), err)
	}
	if head != "" {
		// The head pointer is the same record without a subject: with
		// one, go-containerregistry would rewrite the referrers index a
		// second time (racing with concurrent writers) on registries
		// without the referrers API.
		hm := m
		hm.Subject = nil
		hraw, err := json.Marshal(hm)
		if err != nil {
			return err
		}
		if err := pusher.Put(ctx, subject.Context().Tag(head), rawManifest(hraw)); err != nil {
			return fmt.Errorf("pointing %s at the record in %s: %w", head, subject.Context(), err)
		}
	}
	return nil
}

// recordTagInfix separates the subject's referrers tag from the record's
// digest in a record tag.
const recordTagInfix = ".cascade-"

// recordTag is the tag of record on a registry without the referrers API:
// "sha256-<subject hex>.cascade-<16 hex of the record digest>" (96
// characters, within the 128 a tag may have).
func recordTag(subject name.Digest, record v1.Hash) string {
	return fallbackTag(subject) + recordTagInfix + record.Hex[:16]
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
