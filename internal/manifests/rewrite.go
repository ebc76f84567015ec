package manifests

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/imagecascade/cascade/internal/imageref"
)

// ignoreMarker in a comment on a value's line leaves the value alone.
const ignoreMarker = "cascade:ignore"

// rewriter collects the edits of one YAML file.
type rewriter struct {
	x       *lineIndex
	image   imageref.Ref
	helm    []HelmPaths
	splices []splice
	want    expectation
	claimed map[*yaml.Node]bool
	objects []ObjectResult
	skipped []Skip
	formats map[string]bool
}

// splice replaces src[start:end] with text.
type splice struct {
	start, end int
	text       string
}

func newRewriter(src []byte, image imageref.Ref, helm []HelmPaths) *rewriter {
	return &rewriter{
		x:       newLineIndex(src),
		image:   image,
		helm:    helm,
		want:    expectation{values: map[*yaml.Node]string{}, appends: map[*yaml.Node][2]string{}},
		claimed: map[*yaml.Node]bool{},
		formats: map[string]bool{},
	}
}

// apply returns the source with every splice applied.
func (r *rewriter) apply() []byte {
	sort.Slice(r.splices, func(i, j int) bool { return r.splices[i].start < r.splices[j].start })
	src := r.x.src
	out := make([]byte, 0, len(src)+len(r.splices)*80)
	last := 0
	for _, s := range r.splices {
		out = append(out, src[last:s.start]...)
		out = append(out, s.text...)
		last = s.end
	}
	return append(out, src[last:]...)
}

// format is the file's format for the report: the most specific one seen.
func (r *rewriter) format() string {
	for _, f := range []string{"kustomize", "kubernetes", "helm", "compose"} {
		if r.formats[f] {
			return f
		}
	}
	return "yaml"
}

func (r *rewriter) skip(n *yaml.Node, field, ref, reason string) {
	r.skipped = append(r.skipped, Skip{Line: n.Line, Field: field, Ref: ref, Reason: reason})
}

// ignored reports whether a comment on the line of any of the nodes carries
// the ignore marker.
func (r *rewriter) ignored(nodes ...*yaml.Node) bool {
	for _, n := range nodes {
		if n == nil {
			continue
		}
		off, err := r.x.offset(n.Line, 1)
		if err != nil {
			continue
		}
		end, _ := r.x.lineEnd(off)
		line := string(r.x.src[off:end])
		if i := strings.IndexByte(line, '#'); i >= 0 && strings.Contains(line[i:], ignoreMarker) {
			return true
		}
	}
	return false
}

// setScalar records that scalar n gets value. It does nothing when n
// already holds it or was already edited.
func (r *rewriter) setScalar(o *ObjectResult, field string, n *yaml.Node, value string) {
	if n.Value == value {
		return
	}
	if _, done := r.want.values[n]; done {
		return
	}
	sp, err := r.x.locate(n)
	if err != nil {
		reason := "value not found in the source: " + err.Error()
		if errors.Is(err, errNotEditable) {
			reason = err.Error() + "; left alone"
		}
		r.skip(n, field, n.Value, reason)
		return
	}
	r.splices = append(r.splices, splice{start: sp.start, end: sp.end, text: encode(value, sp.style)})
	r.want.values[n] = value
	o.Changes = append(o.Changes, Change{Line: n.Line, Column: r.column(sp), Field: field, Old: n.Value, New: value})
}

// column is the 1-based character column of a span's first byte (of the
// opening quote for quoted values).
func (r *rewriter) column(sp span) int {
	start := sp.start
	if sp.style != 0 {
		start--
	}
	return len([]rune(string(r.x.src[r.x.lineStart(start):start]))) + 1
}

// pinned is the new value of reference ref for the updated image u (same
// repository), or the reason it is left alone.
func pinned(ref, u imageref.Ref) (value, reason string) {
	d := string(u.Digest)
	switch {
	case ref.Tag == "" && ref.Digest == "":
		if u.Tag != "latest" {
			return "", fmt.Sprintf("no tag (follows latest), updated tag is %q", u.Tag)
		}
		return ref.WrittenName + ":latest@" + d, ""
	case ref.Tag == "":
		return ref.WrittenName + "@" + d, ""
	case ref.Tag != u.Tag:
		return "", fmt.Sprintf("tag %q is not the updated tag %q", ref.Tag, u.Tag)
	}
	return ref.WithDigest(u.Digest), ""
}

// pinRef pins the image reference held by n (an image field) when it
// tracks the updated image.
func (r *rewriter) pinRef(o *ObjectResult, field string, n *yaml.Node) {
	if n.Kind == yaml.AliasNode {
		if a := n.Alias; a != nil && a.Kind == yaml.ScalarNode && r.sameRepo(a.Value) {
			r.skip(n, field, a.Value, fmt.Sprintf("alias *%s is not expanded; its anchor is only pinned where it is itself an image field", n.Value))
		}
		return
	}
	if n.Kind != yaml.ScalarNode {
		return
	}
	ref, err := imageref.Parse(n.Value)
	if err != nil {
		if reason := r.malformed(n.Value); reason != "" {
			r.skip(n, field, n.Value, reason)
		}
		return
	}
	if !ref.SameRepository(r.image) {
		return
	}
	if r.ignored(n) {
		r.skip(n, field, n.Value, "marked "+ignoreMarker)
		return
	}
	value, reason := pinned(ref, r.image)
	if reason != "" {
		r.skip(n, field, n.Value, reason)
		return
	}
	r.setScalar(o, field, n, value)
}

// malformed says why s, which does not parse as a reference, is left
// alone when it names the updated repository with a digest that is not a
// valid sha256 digest; "" when s is something else.
func (r *rewriter) malformed(s string) string {
	return imageref.MalformedDigest(s, r.image)
}

func (r *rewriter) sameRepo(s string) bool {
	ref, err := imageref.Parse(s)
	return err == nil && ref.SameRepository(r.image)
}

// mapGet returns the value of key in mapping m, nil when absent.
func mapGet(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k := m.Content[i]; k.Kind == yaml.ScalarNode && k.Value == key && k.Tag != "!!merge" {
			return m.Content[i+1]
		}
	}
	return nil
}

// mapKey returns the key node of key in mapping m, nil when absent.
func mapKey(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k := m.Content[i]; k.Kind == yaml.ScalarNode && k.Value == key {
			return k
		}
	}
	return nil
}

// scalarValue is the value of a scalar child, "" otherwise.
func scalarValue(m *yaml.Node, key string) string {
	if v := mapGet(m, key); v != nil && v.Kind == yaml.ScalarNode {
		return v.Value
	}
	return ""
}

// mergedValue looks for key in the mappings merged into m with "<<",
// without expanding anything: it returns the node that would supply it.
func mergedValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Tag != "!!merge" {
			continue
		}
		sources := []*yaml.Node{v}
		if v.Kind == yaml.SequenceNode {
			sources = v.Content
		}
		for _, s := range sources {
			if s.Kind == yaml.AliasNode {
				s = s.Alias
			}
			if got := mapGet(s, key); got != nil {
				return got
			}
		}
	}
	return nil
}
