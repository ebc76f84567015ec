package demo

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imagecascade/cascade/internal/registry"
)

// built is an image the demo pushed.
type built struct {
	ref    string
	img    v1.Image
	digest v1.Hash
}

// builder "builds" images — one deterministic layer on a base — and pushes
// them to the in-process registry, like buildah does: OCI images record
// their base in annotations, Docker-format ones do not.
type builder struct {
	ctx    context.Context
	tr     http.RoundTripper
	w      io.Writer
	images map[string]built // by reference as written
}

func (b *builder) build(ref string, base *built, content string, oci bool) (built, error) {
	img := empty.Image
	if base != nil {
		img = base.img
	}
	layerType := types.OCIUncompressedLayer
	if !oci {
		layerType = types.DockerUncompressedLayer
	}
	img, err := mutate.AppendLayers(img, static.NewLayer(tarLayer("etc/"+content, content+"\n"), layerType))
	if err != nil {
		return built{}, err
	}
	if oci {
		img = mutate.ConfigMediaType(mutate.MediaType(img, types.OCIManifestSchema1), types.OCIConfigJSON)
		if base != nil {
			img = mutate.Annotations(img, map[string]string{
				registry.BaseNameKey:   base.ref,
				registry.BaseDigestKey: base.digest.String(),
			}).(v1.Image)
		}
	} else {
		img = mutate.ConfigMediaType(mutate.MediaType(img, types.DockerManifestSchema2), types.DockerConfigJSON)
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		return built{}, err
	}
	if err := remote.Write(r, img, remote.WithTransport(b.tr), remote.WithContext(b.ctx)); err != nil {
		return built{}, fmt.Errorf("pushing %s: %w", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		return built{}, err
	}
	layers, _ := img.Layers()
	note := ""
	if !oci {
		note = "  (docker format: no base annotations)"
	}
	fmt.Fprintf(b.w, "   pushed %-42s %s  %d layer(s)%s\n", ref, d.Hex[:12], len(layers), note)
	out := built{ref: ref, img: img, digest: d}
	if b.images == nil {
		b.images = map[string]built{}
	}
	b.images[ref] = out
	return out, nil
}

type indentWriter struct {
	w   io.Writer
	bol bool
}

func indent(w io.Writer) io.Writer { return &indentWriter{w: w, bol: true} }

func (iw *indentWriter) Write(p []byte) (int, error) {
	for _, c := range p {
		if iw.bol && c != '\n' {
			if _, err := io.WriteString(iw.w, "   "); err != nil {
				return 0, err
			}
		}
		if _, err := iw.w.Write([]byte{c}); err != nil {
			return 0, err
		}
		iw.bol = c == '\n'
	}
	return len(p), nil
}
