package registry

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sync/errgroup"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/imageref"
)

// Docker's annotation marking a BuildKit attestation entry of an index.
const (
	refTypeKey        = "vnd.docker.reference.type"
	attestationRefTyp = "attestation-manifest"
)

// maxConfigSize bounds the config blob read for labels.
const maxConfigSize = 8 << 20

// Inspect implements Resolver. It GETs ref's manifest once (OCI or Docker v2,
// image or index). For an index it GETs each platform manifest once, in
// parallel, skipping attestation entries and entries that are not images.
// With labels, it GETs the config blob of each image manifest whose
// annotations lack BaseDigestKey.
func (c *Client) Inspect(ctx context.Context, ref imageref.Ref, labels bool) (*Image, error) {
	what := fmt.Sprintf("inspecting %q", ref)
	ctx, note := withRetryNote(ctx)
	im, err := c.inspect(ctx, ref, labels)
	if err != nil {
		return nil, classify(what, note.annotate(err))
	}
	return im, nil
}

func (c *Client) inspect(ctx context.Context, ref imageref.Ref, labels bool) (*Image, error) {
	t, err := c.target(ctx, ref)
	if err != nil {
		return nil, err
	}
	desc, err := c.get(ctx, t.ref, t.opts)
	if err != nil {
		return nil, err
	}
	im := &Image{Ref: ref, MediaType: string(desc.MediaType)}
	if im.Digest, err = digestOf(desc.Digest); err != nil {
		return nil, err
	}
	switch {
	case desc.MediaType.IsImage():
		im.Manifest, err = c.manifest(ctx, t, desc.Manifest, labels)
		return im, err
	case desc.MediaType.IsIndex():
		im.Index = true
		idx, err := v1.ParseIndexManifest(bytes.NewReader(desc.Manifest))
		if err != nil {
			return nil, fmt.Errorf("parsing index %s: %w", im.Digest, err)
		}
		im.Manifest.Annotations = idx.Annotations
		im.Platforms, err = c.platforms(ctx, t, idx.Manifests, labels)
		return im, err
	default:
		return nil, exitcode.AsInvalid(fmt.Errorf("unsupported manifest media type %q (want an OCI or Docker v2 image or index)", desc.MediaType))
	}
}

// platforms inspects the image entries of an index, in the index's order.
func (c *Client) platforms(ctx context.Context, t *target, entries []v1.Descriptor, labels bool) ([]Platform, error) {
	var keep []v1.Descriptor
	for _, e := range entries {
		if e.MediaType.IsImage() && !isAttestation(e) {
			keep = append(keep, e)
		}
	}
	if len(keep) == 0 {
		return nil, nil
	}
	out := make([]Platform, len(keep))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.o.concurrency)
	for i, e := range keep {
		g.Go(func() error {
			d, err := digestOf(e.Digest)
			if err != nil {
				return err
			}
			pt := &target{repo: t.repo, ref: t.repo.Digest(d.String()), opts: withContext(t.opts, gctx)}
			desc, err := c.get(gctx, pt.ref, pt.opts)
			if err != nil {
				return err
			}
			if !desc.MediaType.IsImage() {
				return fmt.Errorf("platform manifest %s: media type %q is not an image manifest", d, desc.MediaType)
			}
			m, err := c.manifest(gctx, pt, desc.Manifest, labels)
			if err != nil {
				return fmt.Errorf("platform manifest %s: %w", d, err)
			}
			out[i] = Platform{Platform: platformString(e.Platform), Digest: d, Manifest: m}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// withContext replaces the context option of a target's remote options.
func withContext(opts []remote.Option, ctx context.Context) []remote.Option {
	return append(opts[:len(opts):len(opts)], remote.WithContext(ctx))
}

// get is one manifest GET within the concurrency bound.
func (c *Client) get(ctx context.Context, ref name.Reference, opts []remote.Option) (*remote.Descriptor, error) {
	var desc *remote.Descriptor
	err := c.op(ctx, func() error {
		var err error
		desc, err = remote.Get(ref, opts...)
		return err
	})
	return desc, err
}

// manifest reads what an image manifest says, parsing it once. It reads the
// config labels (one blob GET) only when asked and the annotations do not
// already name the base digest.
func (c *Client) manifest(ctx context.Context, t *target, raw []byte, labels bool) (Manifest, error) {
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return Manifest{}, fmt.Errorf("parsing manifest: %w", err)
	}
	out := Manifest{Annotations: m.Annotations}
	for _, l := range m.Layers {
		d, err := digestOf(l.Digest)
		if err != nil {
			return Manifest{}, fmt.Errorf("layer: %w", err)
		}
		out.Layers = append(out.Layers, d)
	}
	if labels && m.Annotations[BaseDigestKey] == "" {
		if out.Labels, err = c.labels(ctx, t, m.Config); err != nil {
			return Manifest{}, err
		}
		out.LabelsFetched = true
	}
	return out, nil
}

// labels GETs the config blob and returns its config.Labels.
func (c *Client) labels(ctx context.Context, t *target, cfg v1.Descriptor) (map[string]string, error) {
	if cfg.Size > maxConfigSize {
		return nil, fmt.Errorf("config blob %s: %d bytes is over the %d byte limit", cfg.Digest, cfg.Size, maxConfigSize)
	}
	var b []byte
	err := c.op(ctx, func() error {
		l, err := remote.Layer(t.repo.Digest(cfg.Digest.String()), withContext(t.opts, ctx)...)
		if err != nil {
			return err
		}
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		defer rc.Close()
		// Reading to the end lets go-containerregistry verify the digest.
		b, err = io.ReadAll(io.LimitReader(rc, maxConfigSize+1))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reading config blob %s: %w", cfg.Digest, err)
	}
	if len(b) > maxConfigSize {
		return nil, fmt.Errorf("config blob %s: over the %d byte limit", cfg.Digest, maxConfigSize)
	}
	cf, err := v1.ParseConfigFile(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("parsing config blob %s: %w", cfg.Digest, err)
	}
	return cf.Config.Labels, nil
}

func isAttestation(d v1.Descriptor) bool {
	if d.Annotations[refTypeKey] == attestationRefTyp {
		return true
	}
	return d.Platform != nil && d.Platform.OS == "unknown" && d.Platform.Architecture == "unknown"
}

// platformString is "os/arch" or "os/arch/variant"; "" when the entry has
// no platform.
func platformString(p *v1.Platform) string {
	if p == nil {
		return ""
	}
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

func digestOf(h v1.Hash) (imageref.Digest, error) {
	return imageref.ParseDigest(h.String())
}
