package history

import (
	"context"
	"fmt"
	"slices"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/imageref"
	"github.com/imagecascade/cascade/internal/retry"
)

// DefaultChainMax is how many generations Chain walks when its limit is not
// positive.
const DefaultChainMax = 20

// Chain returns the generations of image for `cascade history`: starting
// from the digest image's tag names now (or image's digest, when it has
// one), the records of each digest, then of the digest before it (the
// Previous of its latest record that names one), and so on, for at most
// limit digests (DefaultChainMax when limit <= 0). The walk stops at a digest
// without records or without a known previous digest, and never visits a
// digest twice. The result is newest first, like git log: the newest
// generation's records first, and within a digest its latest record first.
// A tag or digest without any record gives an empty result, not an error.
func (s *Store) Chain(ctx context.Context, image imageref.Ref, limit int) ([]Generation, error) {
	if limit <= 0 {
		limit = DefaultChainMax
	}
	digest := image.Digest
	if digest == "" {
		d, err := s.resolve(ctx, image)
		if err != nil {
			return nil, err
		}
		digest = d
	}
	var out []Generation
	seen := map[imageref.Digest]bool{}
	for range limit {
		if seen[digest] {
			break
		}
		seen[digest] = true
		at := image
		at.Digest = digest
		gens, err := s.Load(ctx, at)
		if err != nil {
			return nil, err
		}
		slices.Reverse(gens)
		out = append(out, gens...)
		prev := previous(gens)
		if prev == "" {
			break
		}
		digest = prev
	}
	return out, nil
}

// previous is the digest before gens' digest: the Previous of the latest
// record (gens is newest first) that names a valid one.
func previous(gens []Generation) imageref.Digest {
	for _, g := range gens {
		if g.Previous == "" {
			continue
		}
		if d, err := imageref.ParseDigest(g.Previous); err == nil {
			return d
		}
	}
	return ""
}

// resolve returns the digest image's tag names now.
func (s *Store) resolve(ctx context.Context, image imageref.Ref) (imageref.Digest, error) {
	tag := image.EffectiveTag()
	what := fmt.Sprintf("resolving %s", describe(image))
	repo, err := s.repository(image)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	var got string
	err = retry.Do(ctx, s.o.Policy, func(ctx context.Context) error {
		desc, err := remote.Head(repo.Tag(tag), s.remote(ctx)...)
		if err == nil {
			got = desc.Digest.String()
		}
		return retryable(err)
	})
	if err != nil {
		return "", classify(what, err)
	}
	d, err := imageref.ParseDigest(got)
	if err != nil {
		return "", exitcode.AsInvalid(fmt.Errorf("%s: the registry answered: %w", what, err))
	}
	return d, nil
}
