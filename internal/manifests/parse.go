package manifests

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"

	"github.com/imagecascade/cascade/internal/exitcode"
)

// errLimit marks a file refused for exceeding a parse limit, being
// ambiguous (duplicate keys, alias cycles) or not being UTF-8. Selected
// explicitly, such a file is an error (even a JSON file, which is otherwise
// skipped when it does not parse); in the default file set it is skipped
// and reported, like any file that does not parse.
var errLimit = errors.New("refused to parse")

// parseYAML parses every document of src within the limits. Positions of the
// returned nodes are relative to the whole file. Errors are classified
// exitcode.AsInvalid; those wrapping errLimit are hostile or ambiguous input
// rather than mere syntax errors.
func parseYAML(src []byte, lim Limits) ([]*yaml.Node, error) {
	if int64(len(src)) > lim.MaxFileBytes {
		return nil, exitcode.AsInvalid(fmt.Errorf("%w: %d bytes, over the limit of %d", errLimit, len(src), lim.MaxFileBytes))
	}
	if enc := utf16Order(src); enc != "" {
		return nil, exitcode.AsInvalid(fmt.Errorf("%w: encoded as UTF-16%s; cascade reads only UTF-8", errLimit, enc))
	}
	if !utf8.Valid(src) {
		return nil, exitcode.AsInvalid(fmt.Errorf("%w: not UTF-8 (%s)", errLimit, firstInvalid(src)))
	}
	if d := flowDepth(src); d > lim.MaxDepth {
		return nil, exitcode.AsInvalid(fmt.Errorf("%w: nesting deeper than %d", errLimit, lim.MaxDepth))
	}
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var docs []*yaml.Node
	aliases := 0
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, exitcode.AsInvalid(fmt.Errorf("parsing YAML: %w", err))
		}
		if len(docs) == lim.MaxDocuments {
			return nil, exitcode.AsInvalid(fmt.Errorf("%w: more than %d documents", errLimit, lim.MaxDocuments))
		}
		c := checker{lim: lim, aliases: aliases}
		if err := c.check(&doc, 0); err != nil {
			return nil, exitcode.AsInvalid(fmt.Errorf("%w: document %d: %w", errLimit, len(docs)+1, err))
		}
		aliases = c.aliases
		docs = append(docs, &doc)
	}
	return docs, nil
}

// utf16Order detects a UTF-16 stream as YAML does (YAML 1.2, 5.2): by its
// byte order mark, or by a NUL byte beside the first character. It returns
// " (little endian)" or " (big endian)", "" for anything else.
func utf16Order(src []byte) string {
	if len(src) < 2 {
		return ""
	}
	switch {
	case src[0] == 0xff && src[1] == 0xfe, src[0] != 0 && src[1] == 0 && !(len(src) >= 4 && src[2] == 0 && src[3] == 0):
		return " (little endian)"
	case src[0] == 0xfe && src[1] == 0xff, src[0] == 0 && src[1] != 0:
		return " (big endian)"
	}
	return ""
}

// firstInvalid says where src stops being UTF-8: the byte and its line.
func firstInvalid(src []byte) string {
	line := 1
	for i := 0; i < len(src); {
		r, n := utf8.DecodeRune(src[i:])
		if r == utf8.RuneError && n <= 1 {
			return fmt.Sprintf("byte 0x%02X on line %d; a Latin-1 or other 8-bit encoding?", src[i], line)
		}
		if r == '\n' {
			line++
		}
		i += n
	}
	return "invalid byte"
}

// flowDepth is a cheap upper bound of the nesting that costs no
// indentation: flow collections ([ and {) outside quotes and comments, plus
// compact block sequences ("- - - x") at the start of a line. It refuses
// "[[[[…" and "- - - -…" before the parser recurses into them. Nesting by
// indentation costs bytes and is bounded by the file size; checker
// measures the real depth.
func flowDepth(src []byte) int {
	depth, max, run := 0, 0, 0
	var quote byte
	lineStart := true
	for i := 0; i < len(src); i++ {
		c := src[i]
		if lineStart {
			for i < len(src) && (src[i] == ' ' || src[i] == '\t') {
				i++
			}
			run = 0
			for i+1 < len(src) && (src[i] == '-' || src[i] == '?' || src[i] == ':') && (src[i+1] == ' ' || src[i+1] == '\t') {
				run++
				i += 2
				for i < len(src) && (src[i] == ' ' || src[i] == '\t') {
					i++
				}
			}
			lineStart = false
			if depth+run > max {
				max = depth + run
			}
			if i >= len(src) {
				break
			}
			c = src[i]
		}
		switch {
		case c == '\n':
			lineStart = true
		case quote == '"' && c == '\\', quote == '\'' && c == '\'' && i+1 < len(src) && src[i+1] == '\'':
			i++ // an escape, or '' in a single-quoted scalar
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			if startsQuoted(src, i) {
				quote = c
			}
		case c == '#' && (i == 0 || isBlankOrBreak(src[i-1])):
			for i+1 < len(src) && src[i+1] != '\n' {
				i++
			}
		case c == '[' || c == '{':
			depth++
			if depth+run > max {
				max = depth + run
			}
		case c == ']' || c == '}':
			if depth > 0 {
				depth--
			}
		}
	}
	return max
}

// checker enforces the depth, alias and expansion limits and rejects
// duplicate mapping keys, without ever following an alias.
type checker struct {
	lim     Limits
	aliases int
	nodes   int                // nodes visited by check
	sizes   map[*yaml.Node]int // expanded size of nodes, -1 while being measured
}

// smallMapping is the most keys compared pairwise for duplicates; larger
// mappings use a set.
const smallMapping = 8

func (c *checker) check(n *yaml.Node, depth int) error {
	if depth > c.lim.MaxDepth+1 { // the document node adds one level
		return fmt.Errorf("nesting deeper than %d", c.lim.MaxDepth)
	}
	aliases, nodes := c.aliases, c.nodes
	c.nodes++
	if n.Kind == yaml.AliasNode {
		c.aliases++
		if c.aliases > c.lim.MaxAliases {
			return fmt.Errorf("more than %d aliases", c.lim.MaxAliases)
		}
		return nil
	}
	if n.Kind == yaml.MappingNode {
		if err := duplicateKey(n); err != nil {
			return err
		}
	}
	for _, ch := range n.Content {
		if err := c.check(ch, depth+1); err != nil {
			return err
		}
	}
	if depth == 0 {
		// Without an alias, the expanded size is the node count.
		size := c.nodes - nodes
		if c.aliases > aliases {
			var err error
			if size, err = c.expanded(n, 0); err != nil {
				return err
			}
		}
		if size > maxExpandedNodes {
			return fmt.Errorf("aliases would expand to more than %d nodes", maxExpandedNodes)
		}
	}
	return nil
}

// duplicateKey refuses a mapping that defines a scalar key twice (same tag
// and value).
func duplicateKey(n *yaml.Node) error {
	dup := func(k, first *yaml.Node) error {
		return fmt.Errorf("line %d: key %q already defined at line %d", k.Line, k.Value, first.Line)
	}
	if len(n.Content)/2 <= smallMapping {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				continue
			}
			for j := 0; j < i; j += 2 {
				if p := n.Content[j]; p.Kind == yaml.ScalarNode && p.Value == k.Value && p.Tag == k.Tag {
					return dup(k, p)
				}
			}
		}
		return nil
	}
	seen := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if k.Kind != yaml.ScalarNode {
			continue
		}
		key := k.Tag + "\x00" + k.Value
		if first, ok := seen[key]; ok {
			return dup(k, first)
		}
		seen[key] = k
	}
	return nil
}

// expanded is the node count of n with aliases expanded, computed without
// expanding them (memoized per node) and capped just over the limit.
func (c *checker) expanded(n *yaml.Node, depth int) (int, error) {
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return 1, nil
		}
		n = n.Alias
	}
	if c.sizes == nil {
		c.sizes = map[*yaml.Node]int{}
	}
	if s, ok := c.sizes[n]; ok {
		if s < 0 {
			return 0, fmt.Errorf("alias cycle at line %d", n.Line)
		}
		return s, nil
	}
	if depth > 4*c.lim.MaxDepth {
		return 0, fmt.Errorf("aliases nest deeper than %d", 4*c.lim.MaxDepth)
	}
	c.sizes[n] = -1
	size := 1
	for _, ch := range n.Content {
		s, err := c.expanded(ch, depth+1)
		if err != nil {
			return 0, err
		}
		size += s
		if size > maxExpandedNodes {
			size = maxExpandedNodes + 1
		}
	}
	c.sizes[n] = size
	return size, nil
}
