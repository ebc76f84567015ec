package b2

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"
)

// writeStorage writes the stream into a docker-registry filesystem storage
// root in distribution's own layout — what pushing every image leaves
// behind — so that 10,000 images take seconds instead of ~20 registry
// requests each. The registry then serves them for real (Setup checks one
// through its API):
//
//	docker/registry/v2/blobs/sha256/<2 hex>/<hex>/data            content
//	…/repositories/<repo>/_layers/sha256/<hex>/link               config and layer blobs of the repository
//	…/repositories/<repo>/_manifests/revisions/sha256/<hex>/link  its manifests (an index's platform manifests too)
//	…/repositories/<repo>/_manifests/tags/latest/current/link     the tag
//	…/repositories/<repo>/_manifests/tags/latest/index/sha256/<hex>/link
func writeStorage(root string, s *Stream) error {
	v2 := filepath.Join(root, "docker", "registry", "v2")
	w := &storageWriter{v2: v2, written: map[v1.Hash]bool{}}
	var g errgroup.Group
	g.SetLimit(8)
	for _, n := range s.Nodes {
		g.Go(func() error {
			if err := w.node(n); err != nil {
				return fmt.Errorf("writing %s into the registry storage: %w", n.Repo, err)
			}
			return nil
		})
	}
	return g.Wait()
}

type storageWriter struct {
	v2      string
	mu      sync.Mutex
	written map[v1.Hash]bool // blobs already in the global store
}

func (w *storageWriter) node(n *Node) error {
	repo := filepath.Join(w.v2, "repositories", filepath.FromSlash(n.Repo))
	var images []v1.Image
	if n.Multi {
		raw, err := n.idx.RawManifest()
		if err != nil {
			return err
		}
		if err := w.manifest(repo, n.Digest, raw); err != nil {
			return err
		}
		im, err := n.idx.IndexManifest()
		if err != nil {
			return err
		}
		for _, d := range im.Manifests {
			img, err := n.idx.Image(d.Digest)
			if err != nil {
				return err
			}
			images = append(images, img)
		}
	} else {
		images = []v1.Image{n.img}
	}
	for _, img := range images {
		raw, err := img.RawManifest()
		if err != nil {
			return err
		}
		d, err := img.Digest()
		if err != nil {
			return err
		}
		if err := w.manifest(repo, d, raw); err != nil {
			return err
		}
		cfg, err := img.RawConfigFile()
		if err != nil {
			return err
		}
		cd, err := img.ConfigName()
		if err != nil {
			return err
		}
		if err := w.blob(repo, cd, func() ([]byte, error) { return cfg, nil }); err != nil {
			return err
		}
		layers, err := img.Layers()
		if err != nil {
			return err
		}
		for _, l := range layers {
			ld, err := l.Digest()
			if err != nil {
				return err
			}
			if err := w.blob(repo, ld, func() ([]byte, error) {
				rc, err := l.Compressed()
				if err != nil {
					return nil, err
				}
				defer rc.Close()
				return io.ReadAll(rc)
			}); err != nil {
				return err
			}
		}
	}
	tag := filepath.Join(repo, "_manifests", "tags", "latest")
	if err := link(filepath.Join(tag, "current", "link"), n.Digest); err != nil {
		return err
	}
	return link(filepath.Join(tag, "index", n.Digest.Algorithm, n.Digest.Hex, "link"), n.Digest)
}

// manifest stores a manifest blob and links it as a revision of repo.
func (w *storageWriter) manifest(repo string, d v1.Hash, raw []byte) error {
	if err := w.data(d, func() ([]byte, error) { return raw, nil }); err != nil {
		return err
	}
	return link(filepath.Join(repo, "_manifests", "revisions", d.Algorithm, d.Hex, "link"), d)
}

// blob stores a config or layer blob and links it into repo.
func (w *storageWriter) blob(repo string, d v1.Hash, content func() ([]byte, error)) error {
	if err := w.data(d, content); err != nil {
		return err
	}
	return link(filepath.Join(repo, "_layers", d.Algorithm, d.Hex, "link"), d)
}

// data writes a blob into the global store once.
func (w *storageWriter) data(d v1.Hash, content func() ([]byte, error)) error {
	w.mu.Lock()
	done := w.written[d]
	w.written[d] = true
	w.mu.Unlock()
	if done {
		return nil
	}
	b, err := content()
	if err != nil {
		return err
	}
	if h, _, err := v1.SHA256(bytes.NewReader(b)); err != nil || h != d {
		return errors.Join(fmt.Errorf("blob %s: content hashes to %s", d, h), err)
	}
	return writeFile(filepath.Join(w.v2, "blobs", d.Algorithm, d.Hex[:2], d.Hex, "data"), b)
}

func link(path string, d v1.Hash) error { return writeFile(path, []byte(d.String())) }

func writeFile(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
