package history

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"regexp"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/imagecascade/cascade/internal/imageref"
	"github.com/imagecascade/cascade/internal/retry"
)

// headPrefix starts a tag's head pointer: the tag "cascade-head.<tag>" names
// the newest record written for a digest published under <tag>.
const headPrefix = "cascade-head."

// tagChars are the characters a tag may hold.
var tagChars = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)

// headTag is the head pointer tag of tag, or "" for no tag. A tag too long
// to carry the prefix within the 128 characters a tag may have is replaced
// by the hex of its SHA-256.
func headTag(tag string) string {
	if tag == "" {
		return ""
	}
	if len(headPrefix)+len(tag) <= 128 && tagChars.MatchString(tag) {
		return headPrefix + tag
	}
	h := sha256.Sum256([]byte(tag))
	return headPrefix + "h-" + hex.EncodeToString(h[:])
}

// Latest returns the newest generation recorded for image's tag (the
// record the tag's head pointer names), or nil when none is recorded. It is
// how a run learns the digest the tag named before this generation — the
// build has already moved the tag itself — and whether its own digest is
// older than one already cascaded.
func (s *Store) Latest(ctx context.Context, image imageref.Ref) (*Generation, error) {
	image.Digest = ""
	what := fmt.Sprintf("reading the latest generation of %s", describe(image))
	repo, err := s.repository(image)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	ref := repo.Tag(headTag(image.EffectiveTag()))
	var out *Generation
	err = retry.Do(ctx, s.o.Policy, func(ctx context.Context) error {
		opts := s.remote(ctx)
		desc, err := remote.Get(ref, opts...)
		if notFound(err) {
			return nil
		}
		if err != nil {
			return retryable(fmt.Errorf("reading %s: %w", ref, err))
		}
		if len(desc.Manifest) > maxManifestSize {
			return nil
		}
		var m v1.Manifest
		if json.Unmarshal(desc.Manifest, &m) != nil || len(m.Layers) != 1 || string(m.Layers[0].MediaType) != ArtifactType ||
			m.Layers[0].Size > maxRecordSize || m.Layers[0].Size < 0 {
			return nil
		}
		layer, err := remote.Layer(ref.Context().Digest(m.Layers[0].Digest.String()), opts...)
		if err != nil {
			return retryable(fmt.Errorf("reading %s: %w", ref, err))
		}
		rc, err := layer.Compressed()
		if notFound(err) {
			return nil
		}
		if err != nil {
			return retryable(fmt.Errorf("reading %s: %w", ref, err))
		}
		defer rc.Close()
		body, err := io.ReadAll(io.LimitReader(rc, maxRecordSize+1))
		if err != nil {
			return retryable(fmt.Errorf("reading %s: %w", ref, err))
		}
		var g Generation
		if len(body) > maxRecordSize || json.Unmarshal(body, &g) != nil || g.SchemaVersion < 1 || g.Image != image.Name() {
			return nil
		}
		if _, err := imageref.ParseDigest(g.Digest); err != nil {
			return nil
		}
		out = &g
		return nil
	})
	if err != nil {
		return nil, classify(what, err)
	}
	return out, nil
}

// Newer reports whether digest is older than latest's: it is latest's
// digest's Previous, or one before that, in the chain of recorded
// generations (walked for at most DefaultChainMax digests). A run with such
// a digest would move manifests back.
func (s *Store) Newer(ctx context.Context, image imageref.Ref, latest *Generation, digest imageref.Digest) (bool, error) {
	if latest == nil || latest.Digest == string(digest) {
		return false, nil
	}
	at := image
	at.Digest = imageref.Digest(latest.Digest)
	gens, err := s.Chain(ctx, at, DefaultChainMax)
	if err != nil {
		return false, err
	}
	for _, g := range gens {
		if g.Digest == string(digest) || g.Previous == string(digest) {
			return true, nil
		}
	}
	return false, nil
}
