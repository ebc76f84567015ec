// Package registry reads what cascade needs from OCI registries: the digest of
// an image (HEAD), and for staleness decisions the manifest annotations,
// config labels and layer digests of an image or of each platform of an index.
// It wraps go-containerregistry, reuses one authenticated transport per
// registry, bounds concurrency, and refuses hosts that are not allowed before
// any connection is made.
package registry

import (
	"context"

	"github.com/imagecascade/cascade/internal/imageref"
)

// Annotation and label keys that record what an image was built on
// (OCI image spec, "Pre-Defined Annotation Keys").
const (
	BaseDigestKey = "org.opencontainers.image.base.digest"
	BaseNameKey   = "org.opencontainers.image.base.name"
)

// Image is what cascade knows about one image in the registry. For a
// single-platform image the manifest fields are set and Platforms is empty.
// For an index, Annotations are the index's own, and Platforms holds one
// entry per platform manifest (attestation entries, platform
// "unknown/unknown", are left out).
type Image struct {
	// Ref is the reference that was asked for.
	Ref imageref.Ref
	// Digest is the digest of the top-level manifest (index or image).
	Digest imageref.Digest
	// MediaType of the top-level manifest.
	MediaType string
	// Index is true when the top-level manifest is an image index or a
	// Docker manifest list.
	Index bool
	// Manifest holds the annotations, labels and layers of a
	// single-platform image, or only the annotations of an index.
	Manifest Manifest
	// Platforms of an index, in the index's order.
	Platforms []Platform
}

// Manifest is what one image manifest says about its build.
type Manifest struct {
	// Annotations of the manifest (or of the index).
	Annotations map[string]string
	// Labels of the image config. Fetched only when the annotations do not
	// already carry the base digest; nil when not fetched.
	Labels map[string]string
	// LabelsFetched reports whether Labels were read (so nil means "none").
	LabelsFetched bool
	// Layers are the layer digests, in order (empty for an index).
	Layers []imageref.Digest
}

// Platform is one platform manifest of an index.
type Platform struct {
	// Platform as "os/arch" or "os/arch/variant".
	Platform string
	// Digest of the platform manifest.
	Digest imageref.Digest
	Manifest
}

// Find returns the platform entry for p ("linux/amd64"), if present.
func (im *Image) Find(p string) (Platform, bool) {
	for _, pl := range im.Platforms {
		if pl.Platform == p {
			return pl, true
		}
	}
	return Platform{}, false
}

// Resolver is what the engine needs from a registry. Implementations must be
// safe for concurrent use.
type Resolver interface {
	// Digest returns the digest of ref's top-level manifest with a single
	// HEAD request (falling back to GET only when the registry does not
	// answer HEAD with a digest).
	Digest(ctx context.Context, ref imageref.Ref) (imageref.Digest, error)
	// Inspect fetches ref's manifest (one GET), and for an index each
	// platform manifest (one GET per platform). When labels is true it also
	// reads the config blob of every manifest whose annotations lack the
	// base digest.
	Inspect(ctx context.Context, ref imageref.Ref, labels bool) (*Image, error)
}

// Descriptor is what a HEAD request tells about a manifest (see
// Client.Head).
type Descriptor struct {
	// Digest of the manifest.
	Digest imageref.Digest
	// MediaType of the manifest, as the registry's Content-Type says.
	MediaType string
	// Index is true for an image index or a Docker manifest list.
	Index bool
}
