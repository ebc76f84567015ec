package dockerfile

import "fmt"

// Limits that keep expansion linear on hostile input: ARG defaults may refer
// to earlier ARGs, so values could otherwise double at each declaration.
const (
	maxValue = 16 << 10
	maxDepth = 32
)

// variable is the value of a build argument in a scope.
type variable struct {
	set    bool   // false: declared without a value
	val    text   // the value, with the source offsets of its bytes
	reason string // why it has no value, when !set
}

// scope resolves variable names; a missing name is reported by the caller.
type scope func(name string) variable

// expander expands the variables of one word the way BuildKit's shell lexer
// does for the forms Dockerfiles use: $VAR, ${VAR}, ${VAR:-word},
// ${VAR-word}, ${VAR:+word}, ${VAR+word}; single and double quotes; the
// escape character. Every output byte keeps the source offset it came from.
type expander struct {
	esc        byte
	lookup     scope
	unresolved []string
	seen       map[string]bool
}

func (e *expander) fail(reason string) {
	if e.seen[reason] {
		return
	}
	if e.seen == nil {
		e.seen = map[string]bool{}
	}
	e.seen[reason] = true
	e.unresolved = append(e.unresolved, reason)
}

// expand expands a whole word.
func (e *expander) expand(w text) text {
	var out text
	e.word(w, 0, false, 0, &out)
	return out
}

func (e *expander) emit(out *text, c byte, off int) {
	if len(out.b) >= maxValue {
		e.fail("value too long")
		return
	}
	out.add(c, off)
}

// word expands w from i until its end or, when inBraces, an unquoted '}'.
// It returns the index where it stopped.
func (e *expander) word(w text, i int, inBraces bool, depth int, out *text) int {
	n := len(w.b)
	for i < n {
		c := w.b[i]
		switch {
		case inBraces && c == '}':
			return i
		case c == e.esc:
			if i+1 < n {
				e.emit(out, w.b[i+1], w.offs[i+1])
				i += 2
			} else {
				e.emit(out, c, w.offs[i])
				i++
			}
		case c == '\'':
			i++
			for i < n && w.b[i] != '\'' {
				e.emit(out, w.b[i], w.offs[i])
				i++
			}
			i++
		case c == '"':
			i++
			for i < n && w.b[i] != '"' {
				c := w.b[i]
				switch {
				case c == e.esc && i+1 < n && (w.b[i+1] == '"' || w.b[i+1] == '$' || w.b[i+1] == e.esc):
					e.emit(out, w.b[i+1], w.offs[i+1])
					i += 2
				case c == '$':
					i = e.dollar(w, i, depth, out)
				default:
					e.emit(out, c, w.offs[i])
					i++
				}
			}
			i++
		case c == '$':
			i = e.dollar(w, i, depth, out)
		default:
			e.emit(out, c, w.offs[i])
			i++
		}
	}
	return n
}

func isNameStart(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isNameChar(c byte) bool  { return isNameStart(c) || c >= '0' && c <= '9' }

// dollar expands the substitution starting at w.b[i] == '$' and returns the
// index after it.
func (e *expander) dollar(w text, i, depth int, out *text) int {
	n := len(w.b)
	if i+1 >= n {
		e.emit(out, '$', w.offs[i])
		return i + 1
	}
	if isNameStart(w.b[i+1]) {
		j := i + 1
		for j < n && isNameChar(w.b[j]) {
			j++
		}
		e.plain(string(w.b[i+1:j]), out)
		return j
	}
	if w.b[i+1] != '{' {
		e.emit(out, '$', w.offs[i])
		return i + 1
	}
	if depth >= maxDepth {
		e.fail("substitution nested too deeply")
		return n
	}
	j := i + 2
	for j < n && isNameChar(w.b[j]) {
		j++
	}
	name := string(w.b[i+2 : j])
	if name == "" || j >= n {
		e.fail(fmt.Sprintf("bad substitution %q", w.b[i:j]))
		return e.skipBraces(w, j, depth)
	}
	if w.b[j] == '}' {
		e.plain(name, out)
		return j + 1
	}
	colon := w.b[j] == ':'
	op := j
	if colon {
		op++
	}
	if op >= n || (w.b[op] != '-' && w.b[op] != '+' && w.b[op] != '?') {
		e.fail(fmt.Sprintf("unsupported substitution in %q", w.b[i:]))
		return e.skipBraces(w, j, depth)
	}
	// Expand the alternative word in a separate expander: its problems only
	// count when it is used.
	alt := &expander{esc: e.esc, lookup: e.lookup}
	var word text
	end := alt.word(w, op+1, true, depth+1, &word)
	if end >= n {
		e.fail(fmt.Sprintf("missing '}' in %q", w.b[i:]))
		return n
	}
	v := e.lookup(name)
	useWord := false
	switch w.b[op] {
	case '-':
		useWord = !v.set || colon && len(v.val.b) == 0
		if !useWord {
			e.value(v, out)
		}
	case '+':
		useWord = v.set && (!colon || len(v.val.b) > 0)
	case '?':
		if !v.set || colon && len(v.val.b) == 0 {
			e.fail(v.why(name))
		} else {
			e.value(v, out)
		}
	}
	if useWord {
		for _, r := range alt.unresolved {
			e.fail(r)
		}
		e.value(variable{set: true, val: word}, out)
	}
	return end + 1
}

func (v variable) why(name string) string {
	if v.reason != "" {
		return v.reason
	}
	return fmt.Sprintf("ARG %s has no value", name)
}

func (e *expander) plain(name string, out *text) {
	v := e.lookup(name)
	if !v.set {
		e.fail(v.why(name))
		return
	}
	e.value(v, out)
}

func (e *expander) value(v variable, out *text) {
	if len(out.b)+len(v.val.b) > maxValue {
		e.fail("value too long")
		return
	}
	out.addText(v.val)
}

// skipBraces skips to after the '}' closing a substitution whose body starts
// at i.
func (e *expander) skipBraces(w text, i, depth int) int {
	var discard text
	alt := &expander{esc: e.esc, lookup: func(string) variable { return variable{set: true} }}
	end := alt.word(w, i, true, depth+1, &discard)
	if end >= len(w.b) {
		return end
	}
	return end + 1
}
