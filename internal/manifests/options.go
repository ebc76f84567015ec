package manifests

import (
	"fmt"
	"os"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/imageref"
)

// Options says which image was updated and which files to look at.
type Options struct {
	// Workspace is the folder every path is resolved in. Nothing outside it
	// is ever read or written.
	Workspace string
	// Paths are doublestar globs relative to the workspace ("deploy/**/*.yaml").
	// Empty means every *.yaml and *.yml file and every Dockerfile,
	// Containerfile and *.Dockerfile, skipping .git, vendor and node_modules.
	// Selected *.json files are read as Kubernetes objects in JSON (a JSON
	// file that does not parse is skipped and reported).
	Paths []string
	// Exclude are doublestar globs relative to the workspace; matching files
	// are not looked at.
	Exclude []string
	// Image is the updated image. It must carry a tag and a digest
	// (REPO:TAG@sha256:…).
	Image imageref.Ref
	// DryRun computes and validates every change but writes nothing.
	DryRun bool
	// Helm lists where Helm values keep image references. Nil means
	// DefaultHelmPaths. Whatever the list, any mapping under an "image" key
	// that has a "repository" key is recognised at any depth.
	Helm []HelmPaths
	// Limits bound what a file may cost to parse. Zero fields take defaults.
	Limits Limits
	// Write writes data to the temporary file during the atomic replace; nil
	// means a plain write. Tests inject failures here (ENOSPC, a crash) to
	// prove the original file survives. The caller syncs and closes f.
	Write func(f *os.File, data []byte) error
}

// HelmPaths names, as dotted key paths from the document root, the values of
// one image in a Helm values file. Repository is required; the others are
// optional.
type HelmPaths struct {
	Registry   string `json:"registry,omitempty"`
	Repository string `json:"repository"`
	Tag        string `json:"tag,omitempty"`
	Digest     string `json:"digest,omitempty"`
}

// DefaultHelmPaths returns the layouts of Bitnami charts (image.registry,
// image.repository, image.tag, image.digest) and `helm create`
// (image.repository, image.tag). The first layout whose values name the
// updated repository is used.
func DefaultHelmPaths() []HelmPaths {
	return []HelmPaths{
		{Registry: "image.registry", Repository: "image.repository", Tag: "image.tag", Digest: "image.digest"},
		{Repository: "image.repository", Tag: "image.tag", Digest: "image.digest"},
	}
}

// Limits bound the cost of parsing one file. A file over a limit is left
// alone: selected explicitly, it is reported as invalid (exit code 2) and
// nothing is written; in the default file set it is skipped and reported
// with its reason.
type Limits struct {
	// MaxFileBytes is the largest file looked at (default 8 MiB).
	MaxFileBytes int64
	// MaxDepth is the deepest nesting of collections (default 100).
	MaxDepth int
	// MaxDocuments is the most YAML documents in one file (default 1000).
	MaxDocuments int
	// MaxAliases is the most alias nodes in one file (default 1000). Apart
	// from it, a file whose aliases would expand to more than a million
	// nodes (a "billion laughs") is refused, although aliases are never
	// expanded here.
	MaxAliases int
}

// Default limits.
const (
	DefaultMaxFileBytes = 8 << 20
	DefaultMaxDepth     = 100
	DefaultMaxDocuments = 1000
	DefaultMaxAliases   = 1000

	// maxExpandedNodes bounds the size a document would have with its
	// aliases expanded.
	maxExpandedNodes = 1_000_000
)

func (l Limits) withDefaults() Limits {
	if l.MaxFileBytes <= 0 {
		l.MaxFileBytes = DefaultMaxFileBytes
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxDocuments <= 0 {
		l.MaxDocuments = DefaultMaxDocuments
	}
	if l.MaxAliases <= 0 {
		l.MaxAliases = DefaultMaxAliases
	}
	return l
}

func (o Options) validate() error {
	if o.Workspace == "" {
		return exitcode.AsInvalid(fmt.Errorf("manifests: workspace: required"))
	}
	if o.Image.Repository == "" {
		return exitcode.AsInvalid(fmt.Errorf("manifests: image: required"))
	}
	if o.Image.Tag == "" || o.Image.Digest == "" {
		return exitcode.AsInvalid(fmt.Errorf("manifests: image %q: want REPO:TAG@sha256:… (a tag and a digest)", o.Image.Original))
	}
	for i, h := range o.Helm {
		if h.Repository == "" {
			return exitcode.AsInvalid(fmt.Errorf("manifests: helm[%d].repository: required", i))
		}
	}
	return nil
}
