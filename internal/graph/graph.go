// Package graph builds the image dependency graph — which images are built on
// which — and answers which images depend on an updated one, directly and
// transitively, in topological tiers. It is pure: no network, no files.
package graph

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/imageref"
)

// Image is one image of the stream as the graph needs it: its name (unique
// id), its reference, and the references it is built on.
type Image struct {
	Name  string
	Ref   imageref.Ref
	Bases []Base
}

// Base is one build input of an image.
type Base struct {
	Ref imageref.Ref
	// Source says where the base was declared: "from", or
	// "Dockerfile:LINE" for a FROM / COPY --from in the image's Dockerfile.
	Source string
}

// Node is an image in the graph: a configured image, or an external base
// that nobody in the config builds (such as centos:7).
type Node struct {
	// ID is the configured name, or the normalized reference of an
	// external base.
	ID       string
	Ref      imageref.Ref
	External bool
	// Bases are the edges into this node, one per declared base.
	Bases []Edge
}

// Edge says that To is built on From.
type Edge struct {
	From, To string
	// BaseRef is the reference as declared (it may carry a digest pin).
	BaseRef imageref.Ref
	Source  string
}

// Graph is the whole image stream.
type Graph struct {
	nodes      map[string]*Node
	order      []string // configured images in config order, then externals sorted
	dependents map[string][]Edge
}

// CycleError reports a dependency cycle; it is refused for safety (exit 5).
type CycleError struct {
	// Cycle lists the images of the cycle, first repeated at the end.
	Cycle []string
}

func (e *CycleError) Error() string {
	return "dependency cycle: " + strings.Join(e.Cycle, " -> ")
}

// New builds the graph. A base that names a configured image (the same
// repository, and its tag or a digest-only pin) is an edge from that image;
// any other base becomes an external node. A cycle, including an image that
// is its own base, is an error classified as refused (exit 5).
func New(images []Image) (*Graph, error) {
	g := &Graph{nodes: map[string]*Node{}, dependents: map[string][]Edge{}}
	for _, im := range images {
		if _, dup := g.nodes[im.Name]; dup {
			return nil, exitcode.AsInvalid(fmt.Errorf("image %q is configured twice", im.Name))
		}
		g.nodes[im.Name] = &Node{ID: im.Name, Ref: im.Ref}
		g.order = append(g.order, im.Name)
	}
	// The configured images by repository, in config order: a base is
	// looked up, not compared with every image (n² for large streams).
	byRepo := map[string][]int{}
	for i, im := range images {
		byRepo[im.Ref.Name()] = append(byRepo[im.Ref.Name()], i)
	}
	var externals []string
	for _, im := range images {
		to := g.nodes[im.Name]
		seen := map[string]bool{}
		for _, b := range im.Bases {
			from := configuredFor(images, byRepo[b.Ref.Name()], b.Ref)
			if len(from) == 0 {
				id := externalID(b.Ref)
				if _, ok := g.nodes[id]; !ok {
					g.nodes[id] = &Node{ID: id, Ref: b.Ref, External: true}
					externals = append(externals, id)
				}
				from = []string{id}
			}
			for _, f := range from {
				if seen[f] {
					continue
				}
				seen[f] = true
				e := Edge{From: f, To: im.Name, BaseRef: b.Ref, Source: b.Source}
				to.Bases = append(to.Bases, e)
				g.dependents[f] = append(g.dependents[f], e)
			}
		}
	}
	sort.Strings(externals)
	g.order = append(g.order, externals...)
	if c := g.findCycle(); c != nil {
		return nil, exitcode.AsRefused(c)
	}
	return g, nil
}

// configuredFor returns the configured images a base reference names;
// candidates index the images of the base's repository.
func configuredFor(images []Image, candidates []int, base imageref.Ref) []string {
	var out []string
	for _, i := range candidates {
		im := images[i]
		if !base.SameRepository(im.Ref) {
			continue
		}
		if t := base.EffectiveTag(); t == "" || t == im.Ref.EffectiveTag() {
			out = append(out, im.Name)
		}
	}
	return out
}

func externalID(r imageref.Ref) string {
	id := r.Name()
	if t := r.EffectiveTag(); t != "" {
		id += ":" + t
	}
	if r.Digest != "" {
		id += "@" + string(r.Digest)
	}
	return id
}

func (g *Graph) findCycle() *CycleError {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	var found *CycleError
	var visit func(id string) bool
	visit = func(id string) bool {
		color[id] = grey
		stack = append(stack, id)
		for _, e := range g.dependents[id] {
			switch color[e.To] {
			case grey:
				i := slices.Index(stack, e.To)
				cycle := append(slices.Clone(stack[i:]), e.To)
				found = &CycleError{Cycle: cycle}
				return true
			case white:
				if visit(e.To) {
					return true
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[id] = black
		return false
	}
	for _, id := range g.order {
		if color[id] == white && visit(id) {
			return found
		}
	}
	return nil
}

// Node returns the node with the given id.
func (g *Graph) Node(id string) (*Node, bool) {
	n, ok := g.nodes[id]
	return n, ok
}

// Nodes returns every node: configured images in config order, then external
// bases sorted by name.
func (g *Graph) Nodes() []*Node {
	out := make([]*Node, 0, len(g.order))
	for _, id := range g.order {
		out = append(out, g.nodes[id])
	}
	return out
}

// Edges returns every edge, grouped by dependent in node order.
func (g *Graph) Edges() []Edge {
	var out []Edge
	for _, id := range g.order {
		out = append(out, g.nodes[id].Bases...)
	}
	return out
}

// Roots returns the nodes that follow the updated image u: the configured
// images of u's repository and tag, and the external bases that track u.
func (g *Graph) Roots(u imageref.Ref) []*Node {
	var out []*Node
	for _, id := range g.order {
		n := g.nodes[id]
		if !n.Ref.SameRepository(u) {
			continue
		}
		if n.External {
			if n.Ref.Tracks(u) {
				out = append(out, n)
			}
			continue
		}
		if u.Tag == "" || u.Tag == n.Ref.EffectiveTag() {
			out = append(out, n)
		}
	}
	return out
}

// Dependent is an image reached from the updated image.
type Dependent struct {
	Node *Node
	// Depth is the tier: 1 for images built directly on the updated
	// image, n+1 for images whose deepest base in the cascade is at depth n.
	Depth int
	// Parents are the edges from the updated image or from other
	// dependents into this one.
	Parents []Edge
}

// Dependents returns every image built on the roots, directly or
// transitively, ordered by tier (depth) and then by node order. An image
// reached along several paths appears once, at its deepest tier, so it is
// rebuilt after all of its bases in the cascade.
func (g *Graph) Dependents(roots []*Node) []Dependent {
	rootSet := map[string]bool{}
	for _, r := range roots {
		rootSet[r.ID] = true
	}
	// Collect the reachable set.
	reach := map[string]bool{}
	queue := make([]string, 0, len(roots))
	for _, r := range roots {
		queue = append(queue, r.ID)
	}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		for _, e := range g.dependents[id] {
			if !reach[e.To] && !rootSet[e.To] {
				reach[e.To] = true
				queue = append(queue, e.To)
			}
		}
	}
	// Longest-path depth over the acyclic reachable subgraph.
	depth := map[string]int{}
	var depthOf func(id string) int
	depthOf = func(id string) int {
		if rootSet[id] {
			return 0
		}
		if d, ok := depth[id]; ok {
			return d
		}
		best := 0
		for _, e := range g.nodes[id].Bases {
			if rootSet[e.From] || reach[e.From] {
				if d := depthOf(e.From) + 1; d > best {
					best = d
				}
			}
		}
		depth[id] = best
		return best
	}
	var out []Dependent
	for _, id := range g.order {
		if !reach[id] {
			continue
		}
		d := Dependent{Node: g.nodes[id], Depth: depthOf(id)}
		for _, e := range g.nodes[id].Bases {
			if rootSet[e.From] || reach[e.From] {
				d.Parents = append(d.Parents, e)
			}
		}
		out = append(out, d)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Depth < out[j].Depth })
	return out
}
