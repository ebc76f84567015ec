package manifests

import (
	"fmt"

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
}

func (v *verifier) same(a, b *yaml.Node) error {
	if a.Kind != b.Kind || a.Style != b.Style || a.Anchor != b.Anchor {
		return fmt.Errorf("line %d: node kind, style or anchor changed", a.Line)
	}
	if a.HeadComment != b.HeadComment || a.LineComment != b.LineComment || a.FootComment != b.FootComment {
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
