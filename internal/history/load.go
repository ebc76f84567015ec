package history

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/imageref"
	"github.com/imagecascade/cascade/internal/retry"
)

// Load returns every record stored for image's digest, oldest first (by
// Time, then by record digest). No record is no error: the result is
// empty. Records are those the referrers API lists or, on a registry
// without it, those the referrers tag's index lists and those tagged
// "sha256-<hex>.cascade-…" (see Record). Artifacts that cannot be read as
// a Generation for this digest (other artifact types, corrupt or
// mismatched JSON, deleted manifests) are left out: a lost record at worst
// repeats a dispatch, which the backends deduplicate by key.
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
	api, err := s.hasReferrersAPI(ctx, subject)
	if err != nil {
		return nil, err
	}
	puller, err := remote.NewPuller(s.remote(ctx)...)
	if err != nil {
		return nil, err
	}
	opts := append(s.remote(ctx), remote.Reuse(puller))
	var refs []name.Reference
	if !api {
		tags, err := s.recordTags(ctx, puller, subject)
		if err != nil {
			return nil, err
		}
		for _, t := range tags {
			refs = append(refs, subject.Context().Tag(t))
		}
	}
	descs, err := s.listReferrers(subject, opts)
	if err != nil {
		return nil, err
	}
	for _, d := range descs {
		// The registry names the artifact type; some (go-containerregistry's
		// own) name the config's media type instead: look inside those.
		if d.ArtifactType == ArtifactType || d.ArtifactType == "" || d.ArtifactType == EmptyConfigType {
			refs = append(refs, subject.Context().Digest(d.Digest.String()))
		}
	}
	var recs []loaded
	seen := map[string]bool{}
	for _, ref := range refs {
		if len(recs) == maxRecords {
			break
		}
		g, digest, err := s.record(ref, subject.DigestStr(), opts)
		if err != nil {
			return nil, err
		}
		if digest == "" || seen[digest] {
			continue
		}
		seen[digest] = true
		recs = append(recs, loaded{g: g, digest: digest})
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

// recordTags lists the record tags of subject (see recordTag).
func (s *Store) recordTags(ctx context.Context, puller *remote.Puller, subject name.Digest) ([]string, error) {
	tags, err := puller.List(ctx, subject.Context())
	if notFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing the tags of %s: %w", subject.Context(), err)
	}
	prefix := fallbackTag(subject) + recordTagInfix
	var out []string
	for _, t := range tags {
		if strings.HasPrefix(t, prefix) {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out, nil
}

// record reads one record artifact of subject and returns it with its
// manifest digest; the digest is "" when ref is not such a record (or is
// gone).
func (s *Store) record(ref name.Reference, subject string, opts []remote.Option) (Generation, string, error) {
	desc, err := remote.Get(ref, opts...)
	if notFound(err) {
		return Generation{}, "", nil
	}
	if err != nil {
		return Generation{}, "", fmt.Errorf("reading %s: %w", ref, err)
	}
	if len(desc.Manifest) > maxManifestSize || desc.MediaType != types.OCIManifestSchema1 {
		return Generation{}, "", nil
	}
	var m v1.Manifest
	if json.Unmarshal(desc.Manifest, &m) != nil || len(m.Layers) != 1 || m.Subject == nil || m.Subject.Digest.String() != subject {
		return Generation{}, "", nil
	}
	if m.ArtifactType != ArtifactType && string(m.Config.MediaType) != ArtifactType {
		return Generation{}, "", nil
	}
	l := m.Layers[0]
	if string(l.MediaType) != ArtifactType || l.Size > maxRecordSize || l.Size < 0 {
		return Generation{}, "", nil
	}
	layer, err := remote.Layer(ref.Context().Digest(l.Digest.String()), opts...)
	if err != nil {
		return Generation{}, "", fmt.Errorf("reading %s: %w", ref, err)
	}
	rc, err := layer.Compressed()
	if notFound(err) {
		return Generation{}, "", nil
	}
	if err != nil {
		return Generation{}, "", fmt.Errorf("reading the record of %s: %w", ref, err)
	}
	defer rc.Close()
	// The layer reader checks the digest at the end: a mismatch is an
	// error here.
	body, err := io.ReadAll(io.LimitReader(rc, maxRecordSize+1))
	if err != nil {
		return Generation{}, "", fmt.Errorf("reading the record of %s: %w", ref, err)
	}
	var g Generation
	if len(body) > maxRecordSize || json.Unmarshal(body, &g) != nil || g.SchemaVersion < 1 || g.Digest != subject {
		return Generation{}, "", nil
	}
	return g, desc.Digest.String(), nil
}

// listReferrers lists the descriptors referring to subject: the referrers
// API, else the fallback tag's index (go-containerregistry picks).
func (s *Store) listReferrers(subject name.Digest, opts []remote.Option) ([]v1.Descriptor, error) {
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
