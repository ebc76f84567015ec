package b2

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imagecascade/cascade/internal/plan"
	"github.com/imagecascade/cascade/internal/registry"
)

// genVersion is the generator's version; a registry filled by another is
// filled again.
const genVersion = 1

// Spec sizes a stream.
type Spec struct {
	// Dependents is how many images are built on the base, directly or
	// transitively (2,000 for B2, 10,000 for B5).
	Dependents int `json:"dependents"`
	// Tiers spreads them over depths 1..Tiers, tier t weighing t (a stream
	// widens towards its applications).
	Tiers int `json:"tiers"`
	// MultiArch is the share of dependents that are 2-platform indexes
	// (only where their parent is one too).
	MultiArch float64 `json:"multiArch"`
	// Stale is the chance that an image records an older build of its
	// parent than the one in the registry now.
	Stale float64 `json:"stale"`
	// Seed makes the stream reproducible.
	Seed uint64 `json:"seed"`
}

// B2 is the stream of benchmark B2 (docs/benchmarks.md).
func B2() Spec { return Spec{Dependents: 2000, Tiers: 5, MultiArch: 0.2, Stale: 0.3, Seed: 1} }

// B5 is B2's stream at B5's size, 10,000 images.
func B5() Spec { s := B2(); s.Dependents = 10000; return s }

// Smoke is a small stream that keeps the harness from rotting.
func Smoke() Spec { s := B2(); s.Dependents = 100; return s }

// Platforms of the multi-arch images (the base is one of them).
var Platforms = []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}}

// Node is one image of the stream.
type Node struct {
	// Name is the config name ("t3-00042"); the base is "base".
	Name string
	// Repo is the repository path in the registry ("bench/t3-00042").
	Repo string
	// Tier is the depth: 0 for the base, 1 for images built on it, …
	Tier int
	// Parent indexes Stream.Nodes; -1 for the base.
	Parent int
	// Multi is true for a 2-platform index.
	Multi bool
	// StaleOn lists, per platform, whether that platform manifest records
	// an older build of the parent (single-platform: one entry).
	StaleOn []bool
	// Want is what a correct plan says of it (the base: empty).
	Want Want
	// Digest of its top-level manifest; PlatformDigests of an index's
	// platform manifests, in Platforms order.
	Digest          v1.Hash
	PlatformDigests []v1.Hash

	img v1.Image      // single-platform
	idx v1.ImageIndex // multi-arch
	// layers per platform (single-platform: one entry), for children.
	layers [][]v1.Layer
}

// Want is the verdict and action a correct plan gives a dependent.
type Want struct {
	Status plan.Status
	Action plan.Action
}

// Stream is a generated image stream: the base (Nodes[0]) and its
// dependents in tier order, parents before children.
type Stream struct {
	Spec Spec
	// Host is the registry host the references and annotations name.
	Host  string
	Nodes []*Node
	// TierSizes[t-1] is the number of dependents at depth t.
	TierSizes []int
}

// Ref is the reference of n in the stream's registry.
func (s *Stream) Ref(n *Node) string { return s.Host + "/" + n.Repo + ":latest" }

// Base is the updated image.
func (s *Stream) Base() *Node { return s.Nodes[0] }

// Dependents are the nodes built on the base.
func (s *Stream) Dependents() []*Node { return s.Nodes[1:] }

// Truth counts the dependents by what a correct plan says.
type Truth struct {
	Stale, Current, Dispatch, Cascade, Skip int
	// MultiArch dependents and their platform manifests.
	MultiArch, Platforms int
}

// Truth tallies the stream's expectations.
func (s *Stream) Truth() Truth {
	var t Truth
	for _, n := range s.Dependents() {
		switch n.Want.Status {
		case plan.Stale:
			t.Stale++
		case plan.Current:
			t.Current++
		}
		switch n.Want.Action {
		case plan.ActionDispatch:
			t.Dispatch++
		case plan.ActionCascade:
			t.Cascade++
		case plan.ActionSkip:
			t.Skip++
		}
		if n.Multi {
			t.MultiArch++
			t.Platforms += len(Platforms)
		}
	}
	return t
}

// Allowance is the most registry requests the dependents may cost under
// B2's target (docs/benchmarks.md): one per dependent, plus one per platform
// manifest of a multi-arch one.
func (s *Stream) Allowance() int {
	t := s.Truth()
	return len(s.Dependents()) + t.Platforms
}

const layerPool = 64

// Generate builds the stream for host deterministically from spec: the
// same spec gives the same images, digests and expectations.
func Generate(spec Spec, host string) (*Stream, error) {
	if spec.Dependents < 1 || spec.Tiers < 1 || spec.Dependents < spec.Tiers {
		return nil, fmt.Errorf("spec %+v: want at least one dependent per tier", spec)
	}
	rng := rand.New(rand.NewPCG(spec.Seed, 0xb2))
	pool := make([]v1.Layer, layerPool)
	for i := range pool {
		l, err := layer(rng, i)
		if err != nil {
			return nil, err
		}
		pool[i] = l
	}
	s := &Stream{Spec: spec, Host: host, TierSizes: tierSizes(spec.Dependents, spec.Tiers)}

	base := &Node{Name: "base", Repo: "bench/base", Parent: -1, Multi: true}
	for p := range Platforms {
		base.layers = append(base.layers, []v1.Layer{pool[p]})
	}
	if err := s.build(base, nil, nil); err != nil {
		return nil, err
	}
	s.Nodes = append(s.Nodes, base)

	prev := []int{0} // the tier above, as indexes into Nodes
	for t, size := range s.TierSizes {
		tier := t + 1
		var multiParents []int
		for _, i := range prev {
			if s.Nodes[i].Multi {
				multiParents = append(multiParents, i)
			}
		}
		var this []int
		for k := range size {
			n := &Node{Name: fmt.Sprintf("t%d-%05d", tier, k), Tier: tier}
			n.Repo = "bench/" + n.Name
			n.Multi = len(multiParents) > 0 && rng.Float64() < spec.MultiArch
			if n.Multi {
				n.Parent = multiParents[rng.IntN(len(multiParents))]
			} else {
				n.Parent = prev[rng.IntN(len(prev))]
			}
			parent := s.Nodes[n.Parent]
			plats := 1
			if n.Multi {
				plats = len(Platforms)
			}
			n.StaleOn = make([]bool, plats)
			if rng.Float64() < spec.Stale {
				if plats > 1 && rng.IntN(2) == 0 {
					n.StaleOn[rng.IntN(plats)] = true // one platform left behind
				} else {
					for p := range n.StaleOn {
						n.StaleOn[p] = true
					}
				}
			}
			n.Want = want(parent, n)
			// A single-platform child of an index records, as buildah
			// does, the platform manifest it was built on; one in five
			// records the index digest, as crane and ko do.
			recordIndex := !n.Multi && parent.Multi && rng.IntN(5) == 0
			var extra []v1.Layer
			for range plats {
				extra = append(extra, pool[rng.IntN(layerPool)])
			}
			old := pool[rng.IntN(layerPool)]
			if err := s.buildChild(n, parent, extra, old, recordIndex); err != nil {
				return nil, err
			}
			s.Nodes = append(s.Nodes, n)
			this = append(this, len(s.Nodes)-1)
		}
		prev = this
	}
	return s, nil
}

// want is the verdict of the staleness rules of docs/contract.md: an image whose
// parent is rebuilt is carried by that rebuild's cascade; otherwise it is
// stale when any platform records an older parent build, else current.
func want(parent, n *Node) Want {
	if parent.Want.Action == plan.ActionDispatch || parent.Want.Action == plan.ActionCascade {
		return Want{plan.Stale, plan.ActionCascade}
	}
	for _, st := range n.StaleOn {
		if st {
			return Want{plan.Stale, plan.ActionDispatch}
		}
	}
	return Want{plan.Current, plan.ActionSkip}
}

// tierSizes splits n over tiers, tier t weighing t, each at least 1.
func tierSizes(n, tiers int) []int {
	total := tiers * (tiers + 1) / 2
	sizes := make([]int, tiers)
	left := n
	for t := range tiers {
		sizes[t] = max(1, n*(t+1)/total)
		left -= sizes[t]
	}
	sizes[tiers-1] += left
	return sizes
}

// buildChild makes n's image(s) on parent: the parent's layers (for a
// stale platform, an older build of them: the last layer differs) plus one
// of its own, with the base annotations buildah writes.
func (s *Stream) buildChild(n, parent *Node, extra []v1.Layer, old v1.Layer, recordIndex bool) error {
	plats := len(n.StaleOn)
	var records []string
	for p := range plats {
		pl := p
		if !parent.Multi {
			pl = 0
		}
		layers := append([]v1.Layer(nil), parent.layers[pl]...)
		var built string
		switch {
		case n.StaleOn[p]:
			layers[len(layers)-1] = old
			built = fakeDigest(fmt.Sprintf("%s older build for %s %d", parent.Name, n.Name, p))
		case recordIndex:
			built = parent.Digest.String()
		case parent.Multi:
			built = parent.PlatformDigests[pl].String()
		default:
			built = parent.Digest.String()
		}
		n.layers = append(n.layers, append(layers, extra[p]))
		records = append(records, built)
	}
	return s.build(n, parent, records)
}

// build makes n's manifests from n.layers; records are the base digests
// its platform manifests carry (nil for the base, which records none).
func (s *Stream) build(n, parent *Node, records []string) error {
	anns := func(p int) map[string]string {
		if parent == nil {
			return nil
		}
		return map[string]string{
			registry.BaseNameKey:   s.Ref(parent),
			registry.BaseDigestKey: records[p],
		}
	}
	if !n.Multi {
		img, err := image(n.Name, Platforms[0], n.layers[0], anns(0))
		if err != nil {
			return err
		}
		n.img = img
		n.Digest, err = img.Digest()
		return err
	}
	var adds []mutate.IndexAddendum
	for p, pl := range Platforms {
		img, err := image(n.Name, pl, n.layers[p], anns(p))
		if err != nil {
			return err
		}
		d, err := img.Digest()
		if err != nil {
			return err
		}
		n.PlatformDigests = append(n.PlatformDigests, d)
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &pl}})
	}
	n.idx = mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
	var err error
	n.Digest, err = n.idx.Digest()
	return err
}

// image is one OCI image manifest for platform with the given layers,
// a config naming the image, and annotations.
func image(name string, pl v1.Platform, layers []v1.Layer, anns map[string]string) (v1.Image, error) {
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	adds := make([]mutate.Addendum, len(layers))
	for i, l := range layers {
		adds[i] = mutate.Addendum{Layer: l, MediaType: types.OCILayer}
	}
	img, err := mutate.Append(img, adds...)
	if err != nil {
		return nil, fmt.Errorf("building %s: %w", name, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("building %s: %w", name, err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = pl.OS, pl.Architecture
	cf.Config.Labels = map[string]string{"io.cascade.bench.image": name}
	cf.Config.Cmd = []string{"/bin/" + strings.ReplaceAll(name, "-", "_")}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return nil, fmt.Errorf("building %s: %w", name, err)
	}
	if anns != nil {
		img = mutate.Annotations(img, anns).(v1.Image)
	}
	return img, nil
}

// layer is a small gzipped tar with one file of random bytes.
func layer(rng *rand.Rand, i int) (v1.Layer, error) {
	content := make([]byte, 256+rng.IntN(768))
	for k := range content {
		content[k] = byte(rng.Uint32())
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("layer/%02d", i), Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(content); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return static.NewLayer(buf.Bytes(), types.OCILayer), nil
}

func fakeDigest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(sum[:])
}
