package config

import (
	"fmt"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

var configType = reflect.TypeFor[Config]()

// schemaCheck walks the YAML node tree against the Config types before
// decoding, so that unknown keys, duplicate keys and values of the wrong
// shape are reported with their field path and line (the decoder only knows
// lines). It also remembers where each path was written, to give
// validation errors a line and to tell a key written as 0 or null from one
// left out.
type schemaCheck struct {
	errs []error
	// tooBig is set when a mapping has more than maxMappingKeys keys: the
	// decoder's duplicate-key check is quadratic, so decoding is skipped.
	tooBig bool
	lines  map[string]int  // path → line of its key (or list item)
	nulls  map[string]bool // paths written with a null value
	byLine map[int]string  // line → first path written on it
}

// maxMappingKeys bounds the keys of any one mapping. No valid config comes
// near it (images are a list; GitHub takes 25 inputs), and it keeps the
// decoder's quadratic duplicate-key check cheap.
const maxMappingKeys = 256

func newSchemaCheck() *schemaCheck {
	return &schemaCheck{lines: map[string]int{}, nulls: map[string]bool{}, byLine: map[int]string{}}
}

func (s *schemaCheck) add(path string, line int, format string, args ...any) {
	s.errs = append(s.errs, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...), Line: line})
}

func (s *schemaCheck) record(path string, line int, value *yaml.Node) {
	s.lines[path] = line
	if _, ok := s.byLine[line]; !ok {
		s.byLine[line] = path
	}
	if isNull(value) {
		s.nulls[path] = true
	}
}

// explicit reports whether path was written with a non-null value.
func (s *schemaCheck) explicit(path string) bool {
	_, ok := s.lines[path]
	return ok && !s.nulls[path]
}

// lineOf returns the line of path or of its nearest written parent.
func (s *schemaCheck) lineOf(path string) int {
	for path != "" {
		if l, ok := s.lines[path]; ok {
			return l
		}
		path = parentPath(path)
	}
	return 0
}

// parentPath drops the last element of a field path: "a.b[2]" → "a.b",
// "a.b" → "a", "a[k.x]" → "a".
func parentPath(p string) string {
	if strings.HasSuffix(p, "]") {
		if i := strings.LastIndexByte(p, '['); i >= 0 {
			return p[:i]
		}
	}
	if i := strings.LastIndexByte(p, '.'); i >= 0 {
		return p[:i]
	}
	return ""
}

// fillPresentEmpties turns "rebase:" and "emptyDir:" written without a
// value (null) into the empty struct the author meant: the decoder leaves a
// null pointer nil, which would read as "not set".
func (s *schemaCheck) fillPresentEmpties(c *Config) {
	for i := range c.Images {
		rb := &c.Images[i].Rebuild
		p := fmt.Sprintf("images[%d].rebuild", i)
		if rb.Rebase == nil && s.nulls[p+".rebase"] {
			rb.Rebase = &Rebase{}
		}
		if rb.Tekton == nil {
			continue
		}
		for j := range rb.Tekton.Workspaces {
			w := &rb.Tekton.Workspaces[j]
			if w.EmptyDir == nil && s.nulls[fmt.Sprintf("%s.tekton.workspaces[%d].emptyDir", p, j)] {
				w.EmptyDir = &EmptyDir{}
			}
		}
	}
}

func isNull(n *yaml.Node) bool {
	return n != nil && n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("a scalar (%s)", n.ShortTag())
	}
	return "something else"
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// walk checks n against t at path. Aliases are not followed (the decoder
// bounds their expansion); null fits anything.
func (s *schemaCheck) walk(n *yaml.Node, t reflect.Type, path string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode || isNull(n) {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			s.add(path, n.Line, "want a mapping, got %s", kindName(n))
			return
		}
		fields := yamlFields(t)
		s.mapping(n, path, func(key string, line int) (string, reflect.Type, bool) {
			f, ok := fields[key]
			if !ok {
				msg := "unknown field"
				for name := range fields {
					if strings.EqualFold(name, key) {
						msg += fmt.Sprintf(" (did you mean %s?)", name)
					}
				}
				s.add(joinPath(path, key), line, "%s", msg)
				return "", nil, false
			}
			return joinPath(path, key), f, true
		})
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			s.add(path, n.Line, "want a mapping, got %s", kindName(n))
			return
		}
		s.mapping(n, path, func(key string, _ int) (string, reflect.Type, bool) {
			return fmt.Sprintf("%s[%s]", path, key), t.Elem(), true
		})
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			s.add(path, n.Line, "want a list, got %s", kindName(n))
			return
		}
		for i, item := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			s.record(p, item.Line, item)
			s.walk(item, t.Elem(), p)
		}
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			s.add(path, n.Line, "want a string, got %s", kindName(n))
		}
	case reflect.Int:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
			s.add(path, n.Line, "want an integer, got %s", kindName(n))
		}
	case reflect.Interface:
		// Passed through as written (volumeClaimTemplate); only bounded.
		s.bound(n, path)
	default:
		s.add(path, n.Line, "unsupported field type %s", t)
	}
}

// mapping walks the pairs of a mapping node; child resolves a key to its
// path and type, or reports it and returns false. Duplicate keys are errors
// and merge keys ("<<") are left to the decoder.
func (s *schemaCheck) mapping(n *yaml.Node, path string, child func(key string, line int) (string, reflect.Type, bool)) {
	if len(n.Content)/2 > maxMappingKeys {
		s.tooBig = true
		s.add(path, n.Line, "more than %d keys", maxMappingKeys)
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			s.add(path, k.Line, "keys must be strings, got %s", kindName(k))
			continue
		}
		if k.Value == "<<" && k.ShortTag() == "!!merge" {
			continue
		}
		p, t, ok := child(k.Value, k.Line)
		if !ok {
			continue
		}
		if first, dup := seen[k.Value]; dup {
			s.add(p, k.Line, "duplicate key (first at line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		s.record(p, k.Line, v)
		s.walk(v, t, p)
	}
}

// bound checks the size of every mapping under n, a value passed through
// without a schema.
func (s *schemaCheck) bound(n *yaml.Node, path string) {
	if n.Kind == yaml.MappingNode && len(n.Content)/2 > maxMappingKeys {
		s.tooBig = true
		s.add(path, n.Line, "more than %d keys", maxMappingKeys)
		return
	}
	if n.Kind == yaml.AliasNode {
		return
	}
	for _, c := range n.Content {
		s.bound(c, path)
		if s.tooBig {
			return
		}
	}
}

// yamlFields maps the yaml key of each field of struct type t to the
// field's type.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}
