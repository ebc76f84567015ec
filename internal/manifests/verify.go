package manifests

import (
	"fmt"
	"slices"

	yaml "go.yaml.in/yaml/v3"
)

// expectation is what may differ between the original documents and the
// rewritten ones.
type expectation struct {
	// values maps original scalar nodes to their new value.
	values map[*yaml.Node]string
	// appends maps original mappings to the one key/value pair appended.
	appends map[*yaml.Node][2]string
}

type verifier struct {
	want            expectation
	values, appends int
	// loose is set below an appended mapping: a comment after its last
	// pair (a foot comment of that pair) now follows the appended pair,
	// so there the comments are compared in order over the whole mapping
	// rather than node by node.
	loose bool
}

// commentsOf lists the comments of n and its descendants in order.
func commentsOf(n *yaml.Node, out []string) []string {
	for _, c := range []string{n.HeadComment, n.LineComment} {
		if c != "" {
			out = append(out, c)
		}
	}
	for _, ch := range n.Content {
		out = commentsOf(ch, out)
	}
	if n.FootComment != "" {
		out = append(out, n.FootComment)
	}
	return out
}

func (v *verifier) same(a, b *yaml.Node) error {
	if a.Kind != b.Kind || a.Style != b.Style || a.Anchor != b.Anchor {
		return fmt.Errorf("line %d: node kind, style or anchor changed", a.Line)
	}
	if !v.loose && (a.HeadComment != b.HeadComment || a.LineComment != b.LineComment || a.FootComment != b.FootComment) {
		return fmt.Errorf("line %d: comments changed", a.Line)
	}
	if nv, ok := v.want.values[a]; ok {
		v.values++
		if b.Value != nv {
			return fmt.Errorf("line %d: value is %q, want %q", a.Line, b.Value, nv)
		}
		if b.Tag != "!!str" && b.Tag != a.Tag {
			return fmt.Errorf("line %d: value %q is read as %s, want a string", a.Line, b.Value, b.Tag)
		}
	} else if a.Value != b.Value || a.Tag != b.Tag {
		return fmt.Errorf("line %d: value %q changed to %q", a.Line, a.Value, b.Value)
	}
	n := len(a.Content)
	if kv, ok := v.want.appends[a]; ok {
		v.appends++
		if len(b.Content) != n+2 || b.Content[n].Value != kv[0] || b.Content[n+1].Value != kv[1] ||
			b.Content[n].Kind != yaml.ScalarNode || b.Content[n+1].Kind != yaml.ScalarNode || b.Content[n+1].Tag != "!!str" {
			return fmt.Errorf("line %d: inserted %s: %s not found where expected", a.Line, kv[0], kv[1])
		}
		if !v.loose {
			ca, cb := commentsOf(a, nil), commentsOf(b, nil)
			if !slices.Equal(ca, cb) {
				return fmt.Errorf("line %d: comments changed", a.Line)
			}
			v.loose = true
			defer func() { v.loose = false }()
		}
	} else if len(b.Content) != n {
		return fmt.Errorf("line %d: %d children, want %d", a.Line, len(b.Content), n)
	}
	for i := 0; i < n; i++ {
		if err := v.same(a.Content[i], b.Content[i]); err != nil {
			return err
		}
	}
	return nil
}
