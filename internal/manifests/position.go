package manifests

import (
	"bytes"
	"fmt"
	"unicode/utf8"
)

var utf8BOM = []byte("\xef\xbb\xbf")

// lineIndex maps the 1-based line and column of go.yaml.in/yaml/v3 marks to
// byte offsets. The parser counts columns in characters (a tab or a
// multi-byte character is one column), treats CRLF as one line break and
// also breaks lines at a lone CR, NEL (U+0085), LS (U+2028) and PS (U+2029).
// A leading UTF-8 byte order mark is consumed before counting starts.
type lineIndex struct {
	src    []byte
	starts []int
}

func newLineIndex(src []byte) *lineIndex {
	start := 0
	if bytes.HasPrefix(src, utf8BOM) {
		start = len(utf8BOM)
	}
	starts := make([]int, 1, bytes.Count(src, []byte{'\n'})+2)
	starts[0] = start
	if bytes.IndexByte(src, '\r') < 0 && bytes.IndexByte(src, 0xC2) < 0 && bytes.IndexByte(src, 0xE2) < 0 {
		// Only LF can break lines (no CR, no lead byte of NEL, LS or PS).
		return &lineIndex{src: src, starts: lfStarts(src, starts)}
	}
	return &lineIndex{src: src, starts: breakStarts(src, starts)}
}

// lfStarts appends to starts the offset after each LF of src past
// starts[0].
func lfStarts(src []byte, starts []int) []int {
	for i := starts[0]; ; {
		j := bytes.IndexByte(src[i:], '\n')
		if j < 0 {
			return starts
		}
		i += j + 1
		starts = append(starts, i)
	}
}

// breakStarts appends to starts the offset after each line break of src
// past starts[0], every break the parser counts.
func breakStarts(src []byte, starts []int) []int {
	for i := starts[0]; i < len(src); {
		n := lineBreakLen(src, i)
		if n > 0 {
			i += n
			starts = append(starts, i)
			continue
		}
		i++
	}
	return starts
}

// lineBreakLen returns the length of the line break at src[i], 0 if none.
func lineBreakLen(src []byte, i int) int {
	switch c := src[i]; {
	case c == '\r':
		if i+1 < len(src) && src[i+1] == '\n' {
			return 2
		}
		return 1
	case c == '\n':
		return 1
	case c == 0xC2 && i+1 < len(src) && src[i+1] == 0x85:
		return 2
	case c == 0xE2 && i+2 < len(src) && src[i+1] == 0x80 && (src[i+2] == 0xA8 || src[i+2] == 0xA9):
		return 3
	}
	return 0
}

// offset returns the byte offset of a 1-based line and column.
func (x *lineIndex) offset(line, column int) (int, error) {
	if line < 1 || line > len(x.starts) || column < 1 {
		return 0, fmt.Errorf("position %d:%d outside the file", line, column)
	}
	off := x.starts[line-1]
	for c := 1; c < column; c++ {
		if off >= len(x.src) || lineBreakLen(x.src, off) > 0 {
			return 0, fmt.Errorf("position %d:%d past the end of its line", line, column)
		}
		_, size := utf8.DecodeRune(x.src[off:])
		off += size
	}
	return off, nil
}

// lineEnd returns the offset of the line break ending the line holding off
// (len(src) on the last line without one), and the break itself.
func (x *lineIndex) lineEnd(off int) (int, string) {
	for i := off; i < len(x.src); i++ {
		if n := lineBreakLen(x.src, i); n > 0 {
			return i, string(x.src[i : i+n])
		}
	}
	return len(x.src), ""
}

// lineStart returns the offset at which the line holding off starts.
func (x *lineIndex) lineStart(off int) int {
	start := x.starts[0]
	for _, s := range x.starts {
		if s > off {
			break
		}
		start = s
	}
	return start
}

// newline is the file's line break style: that of its first line, "\n" when
// it has none.
func (x *lineIndex) newline() string {
	if _, nl := x.lineEnd(0); nl != "" {
		return nl
	}
	return "\n"
}
