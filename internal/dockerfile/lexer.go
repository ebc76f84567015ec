package dockerfile

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"

	"github.com/imagecascade/cascade/internal/exitcode"
)

// text is a run of bytes derived from the source together with, for each
// byte, its offset in the source (-1 when the byte does not come from the
// source, such as a build argument given on the command line).
type text struct {
	b    []byte
	offs []int
}

func (t *text) add(c byte, off int) {
	t.b = append(t.b, c)
	t.offs = append(t.offs, off)
}

func (t *text) addText(o text) {
	t.b = append(t.b, o.b...)
	t.offs = append(t.offs, o.offs...)
}

func (t text) slice(i, j int) text { return text{b: t.b[i:j], offs: t.offs[i:j]} }

func (t text) String() string { return string(t.b) }

// physLine is one physical line of the source: its content is src[start:end],
// without the line feed and any carriage returns before it.
type physLine struct{ start, end int }

// instruction is one logical line: a keyword and its arguments, joined over
// line continuations, with comment and blank lines inside the continuation
// dropped, as BuildKit does.
type instruction struct {
	keyword   string // upper case
	line      int    // 1-based physical line of the keyword
	endLine   int    // 1-based physical line the instruction (without heredoc bodies) ends on
	start     int    // offset of the keyword
	words     []text // arguments, split on unquoted whitespace, quotes kept
	heredocTo int    // 1-based last line of its heredoc bodies, 0 when none
}

// lexed is the source cut into instructions.
type lexed struct {
	src          []byte
	escape       byte
	lines        []physLine
	comments     map[int]bool // 1-based lines that are comment lines
	instructions []instruction
	// syntax is the value of the first syntax parser directive (the
	// BuildKit frontend image): src[syntax.start:syntax.end] on line
	// syntax.line; line 0 when there is none.
	syntax struct{ line, start, end int }
}

// MaxSize is the largest Dockerfile Parse accepts.
const MaxSize = 4 << 20

var (
	bom         = []byte("\xef\xbb\xbf")
	directiveRE = regexp.MustCompile(`^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`)
	heredocRE   = regexp.MustCompile(`^[0-9]*<<(-?)([^<]*)$`)
)

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v' }

func trimLeft(b []byte) []byte {
	i := 0
	for i < len(b) && isBlank(b[i]) {
		i++
	}
	return b[i:]
}

// lex splits src into physical lines, reads the parser directives and cuts
// the rest into instructions.
func lex(src []byte) (*lexed, error) {
	l := &lexed{src: src, escape: '\\', comments: map[int]bool{}}
	start := 0
	if bytes.HasPrefix(src, bom) {
		start = len(bom)
	}
	for start <= len(src) {
		nl := bytes.IndexByte(src[start:], '\n')
		end := len(src)
		next := len(src) + 1
		if nl >= 0 {
			end = start + nl
			next = end + 1
		}
		content := end
		for content > start && src[content-1] == '\r' {
			content--
		}
		l.lines = append(l.lines, physLine{start: start, end: content})
		start = next
	}
	if err := l.directives(); err != nil {
		return nil, err
	}
	l.cut()
	return l, nil
}

func (l *lexed) content(i int) []byte { return l.src[l.lines[i].start:l.lines[i].end] }

// directives reads the parser directives at the very top of the file. They
// end at the first line that is not a known directive.
func (l *lexed) directives() error {
	seen := map[string]bool{}
	for i := range l.lines {
		trimmed := trimLeft(l.content(i))
		m := directiveRE.FindSubmatch(trimmed)
		if m == nil {
			return nil
		}
		name := strings.ToLower(string(m[1]))
		if name == "syntax" && !seen[name] {
			idx := directiveRE.FindSubmatchIndex(trimmed)
			start := l.lines[i].end - len(trimmed) + idx[4]
			l.syntax.line, l.syntax.start, l.syntax.end = i+1, start, start+idx[5]-idx[4]
		}
		switch name {
		case "escape":
			if !seen[name] {
				switch v := string(m[2]); v {
				case "\\", "`":
					l.escape = v[0]
				default:
					return exitcode.AsInvalid(fmt.Errorf("line %d: invalid escape directive %q: want ` or \\", i+1, v))
				}
			}
		case "syntax", "check":
		default:
			return nil
		}
		seen[name] = true
	}
	return nil
}

// trimContinuation reports whether seg ends with the escape character
// (followed only by blanks) and returns seg without it.
func (l *lexed) trimContinuation(seg []byte) ([]byte, bool) {
	j := len(seg)
	for j > 0 && isBlank(seg[j-1]) {
		j--
	}
	if j > 0 && seg[j-1] == l.escape {
		return seg[:j-1], true
	}
	return seg, false
}

func (l *lexed) cut() {
	i := 0
	for i < len(l.lines) {
		content := l.content(i)
		trimmed := trimLeft(content)
		if len(trimmed) == 0 {
			i++
			continue
		}
		if trimmed[0] == '#' {
			l.comments[i+1] = true
			i++
			continue
		}
		ins := instruction{line: i + 1, start: l.lines[i].end - len(trimmed)}
		var logical text
		seg, cont := l.trimContinuation(trimmed)
		appendSeg(&logical, seg, ins.start)
		i++
		for cont && i < len(l.lines) {
			c := l.content(i)
			t := trimLeft(c)
			if len(t) > 0 && t[0] == '#' {
				l.comments[i+1] = true
				i++
				continue
			}
			if len(t) == 0 {
				i++
				continue
			}
			seg, cont = l.trimContinuation(c)
			appendSeg(&logical, seg, l.lines[i].start)
			i++
		}
		ins.endLine = i
		words := splitWords(logical, l.escape)
		if len(words) > 0 {
			ins.keyword = strings.ToUpper(string(words[0].b))
			ins.words = words[1:]
		}
		switch ins.keyword {
		case "RUN", "COPY", "ADD":
			i = l.skipHeredocs(&ins, i)
		}
		l.instructions = append(l.instructions, ins)
	}
}

func appendSeg(t *text, seg []byte, off int) {
	for k, c := range seg {
		t.add(c, off+k)
	}
}

// skipHeredocs consumes the bodies of the heredocs the instruction opens,
// starting at line index i, and returns the index of the line after them.
// An unterminated heredoc runs to the end of the file.
func (l *lexed) skipHeredocs(ins *instruction, i int) int {
	for _, w := range ins.words {
		m := heredocRE.FindSubmatch(w.b)
		if m == nil {
			continue
		}
		name := unquoteHeredocName(m[2])
		if name == "" {
			continue
		}
		chomp := len(m[1]) > 0
		for i < len(l.lines) {
			c := l.content(i)
			i++
			if chomp {
				c = bytes.TrimLeft(c, "\t")
			}
			if string(c) == name {
				break
			}
		}
		ins.heredocTo = i
	}
	return i
}

func unquoteHeredocName(b []byte) string {
	s := string(b)
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		s = s[1 : len(s)-1]
	}
	if strings.ContainsAny(s, " \t\"'") {
		return ""
	}
	return s
}

// splitWords splits a logical line on blanks that are not quoted or escaped.
// Words keep their quotes and escape characters.
func splitWords(t text, esc byte) []text {
	var words []text
	n := len(t.b)
	i := 0
	for {
		for i < n && isBlank(t.b[i]) {
			i++
		}
		if i >= n {
			return words
		}
		s := i
		var quote byte
	scan:
		for i < n {
			c := t.b[i]
			switch {
			case c == esc && quote != '\'':
				i += 2
				continue
			case quote != 0:
				if c == quote {
					quote = 0
				}
			case c == '"' || c == '\'':
				quote = c
			case isBlank(c):
				break scan
			}
			i++
		}
		if i > n {
			i = n
		}
		words = append(words, t.slice(s, i))
	}
}
