package manifests

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// span is the byte range of a scalar's text in the source: the characters
// between the quotes for a quoted scalar, the whole token for a plain one.
type span struct {
	start, end int
	style      yaml.Style // 0 (plain), yaml.SingleQuotedStyle or yaml.DoubleQuotedStyle
}

// errNotEditable marks scalars that are written in a form cascade does not
// rewrite (block scalars, multi-line or escaped quoted strings). They are
// reported as skipped.
var errNotEditable = errors.New("not editable in place")

// locate finds the bytes of scalar n. The node's position points at its
// anchor or tag when it has one, so those are stepped over first. The span is
// only returned when its text decodes to exactly n.Value.
func (x *lineIndex) locate(n *yaml.Node) (span, error) {
	if n.Kind != yaml.ScalarNode {
		return span{}, fmt.Errorf("%w: not a scalar", errNotEditable)
	}
	if n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return span{}, fmt.Errorf("%w: block scalar", errNotEditable)
	}
	off, err := x.offset(n.Line, n.Column)
	if err != nil {
		return span{}, err
	}
	src := x.src
	off = skipProperties(src, off)
	if off >= len(src) {
		return span{}, fmt.Errorf("value of line %d not found", n.Line)
	}
	switch {
	case n.Style&yaml.DoubleQuotedStyle != 0:
		if src[off] != '"' {
			return span{}, fmt.Errorf("line %d: double-quoted value not found", n.Line)
		}
		end := off + 1
		for ; end < len(src) && src[end] != '"'; end++ {
			if src[end] == '\\' {
				end++
			}
		}
		if end >= len(src) {
			return span{}, fmt.Errorf("line %d: unterminated double-quoted value", n.Line)
		}
		if text := string(src[off+1 : end]); text != n.Value && !decodesTo(src[off:end+1], n.Value) {
			return span{}, fmt.Errorf("%w: double-quoted value with line breaks", errNotEditable)
		}
		return span{start: off + 1, end: end, style: yaml.DoubleQuotedStyle}, nil
	case n.Style&yaml.SingleQuotedStyle != 0:
		if src[off] != '\'' {
			return span{}, fmt.Errorf("line %d: single-quoted value not found", n.Line)
		}
		end := off + 1
		for end < len(src) {
			if src[end] == '\'' {
				if end+1 < len(src) && src[end+1] == '\'' {
					end += 2
					continue
				}
				break
			}
			end++
		}
		if end >= len(src) {
			return span{}, fmt.Errorf("line %d: unterminated single-quoted value", n.Line)
		}
		if text := strings.ReplaceAll(string(src[off+1:end]), "''", "'"); text != n.Value {
			return span{}, fmt.Errorf("%w: single-quoted value with line breaks", errNotEditable)
		}
		return span{start: off + 1, end: end, style: yaml.SingleQuotedStyle}, nil
	default:
		end := off + len(n.Value)
		if n.Value == "" || end > len(src) || string(src[off:end]) != n.Value || (end < len(src) && !endsPlain(src[end])) {
			return span{}, fmt.Errorf("%w: plain value spanning lines", errNotEditable)
		}
		return span{start: off, end: end}, nil
	}
}

// endsPlain reports whether c may follow the last character of a plain
// scalar: a blank, a line break, or a flow indicator.
func endsPlain(c byte) bool {
	switch c {
	case ' ', '\t', '\r', '\n', ',', ']', '}':
		return true
	}
	return c >= 0x80 // NEL, LS, PS; a plain continuation would have failed the text check
}

// skipProperties steps over an anchor (&a), a tag (!t, !!str, !<…>) and
// the blanks, line breaks and comments after them.
func skipProperties(src []byte, off int) int {
	for off < len(src) && (src[off] == '&' || src[off] == '!') {
		for off < len(src) && !isBlankOrBreak(src[off]) && !strings.ContainsRune(",[]{}", rune(src[off])) {
			off++
		}
		for off < len(src) {
			switch {
			case isBlankOrBreak(src[off]):
				off++
			case src[off] == '#':
				for off < len(src) && src[off] != '\n' && src[off] != '\r' {
					off++
				}
			default:
				goto next
			}
		}
	next:
	}
	return off
}

func isBlankOrBreak(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// encode writes value in the given quoting style.
func encode(value string, style yaml.Style) string {
	switch style {
	case yaml.DoubleQuotedStyle:
		return strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(value)
	case yaml.SingleQuotedStyle:
		return strings.ReplaceAll(value, "'", "''")
	}
	return value
}

// decodesTo reports whether a one-line double-quoted token with escapes
// decodes to value. The whole token is then rewritten with the new value
// escaped as needed.
func decodesTo(token []byte, value string) bool {
	if bytes.ContainsAny(token, "\r\n") {
		return false
	}
	var s string
	return yaml.Unmarshal(token, &s) == nil && s == value
}
