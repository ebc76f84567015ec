package manifests

import (
	"bytes"
	"strings"
	"unicode/utf8"

	"github.com/imagecascade/cascade/internal/imageref"
)

// Most files of a workspace do not mention the updated image at all, and
// parsing them is nearly all of an update's cost. In the default file set
// (a search, not a selection) a YAML file is therefore parsed only when it
// might name the image or when parseYAML might refuse it.

// canSkipParse reports whether src, a YAML file of the default file set,
// can be left unparsed: it cannot name image. Such a file is neither
// changed nor reported, whatever it holds: a file that would not parse, or
// that a limit would refuse, is only reported (skipped, with its reason)
// when it might name the image, since in the default file set no file but
// those updated may change the run's outcome.
func canSkipParse(src []byte, image imageref.Ref, _ Limits) bool {
	return !mayName(src, image)
}

// mayName reports whether src could hold a reference to image's
// repository. Every spelling of a repository (nginx, library/nginx,
// docker.io/library/nginx; a Helm repository split from its registry; a
// kustomization name; an ImageStreamTag stream) contains its last path
// component verbatim (lowercase, by the reference grammar) as a whole
// component: not preceded or followed by a character that would extend it
// (app-a is not in app-a-migrations or my-app-a). Only an escape in a
// double-quoted scalar (or in JSON inside one, such as the triggers
// annotation) could spell it otherwise: a backslash anywhere means
// "maybe". Folded line breaks become spaces, which no reference holds. A
// file in UTF-16 (which cascade refuses to parse, but reports when it might
// name the image) spells it with a NUL byte beside each character: both byte
// orders are looked for too.
func mayName(src []byte, image imageref.Ref) bool {
	if bytes.IndexByte(src, '\\') >= 0 {
		return true
	}
	last := []byte(image.Repository[strings.LastIndexByte(image.Repository, '/')+1:])
	if containsComponent(src, last) {
		return true
	}
	if bytes.IndexByte(src, 0) < 0 {
		return false
	}
	le, be := make([]byte, 0, 2*len(last)), make([]byte, 0, 2*len(last))
	for _, c := range last {
		le, be = append(le, c, 0), append(be, 0, c)
	}
	return bytes.Contains(src, le) || bytes.Contains(src, be)
}

// containsComponent reports whether last occurs in src as a whole
// repository path component.
func containsComponent(src, last []byte) bool {
	for i := 0; ; {
		j := bytes.Index(src[i:], last)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(last)
		if (start == 0 || !isComponentByte(src[start-1])) && (end == len(src) || !isComponentByte(src[end])) {
			return true
		}
		i = start + 1
	}
}

// isComponentByte reports whether c can continue a repository path
// component (any letter, to be safe: uppercase is invalid there).
func isComponentByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
}

// mayExceed is a cheap over-approximation of parseYAML refusing src for
// exceeding a limit or being ambiguous: invalid UTF-8, nesting that could
// pass MaxDepth, more markers than MaxDocuments, or anything that could be
// an alias. Duplicate keys cannot be seen without parsing; a file that
// cannot name the image is not refused for them.
func mayExceed(src []byte, lim Limits) bool {
	if !utf8.Valid(src) {
		return true
	}
	if bytes.Count(src, []byte("---"))+bytes.Count(src, []byte("..."))+1 > lim.MaxDocuments {
		return true
	}
	// Indentation-free nesting is what flowDepth bounds; each further level
	// costs a column of indentation at least every second level (indentless
	// sequences).
	indent, run := lineShape(src)
	// flowDepth is at most every flow opener plus the longest compact run:
	// when even that bound fits, the exact (slower) scan is not needed.
	if bound := bytes.Count(src, []byte("[")) + bytes.Count(src, []byte("{")) + run; 2*(indent+1)+bound+2 > lim.MaxDepth &&
		2*(indent+1)+flowDepth(src)+2 > lim.MaxDepth {
		return true
	}
	return mayAlias(src)
}

// lineShape returns the largest number of leading spaces of a line and the
// longest run of compact block indicators ("- ", "? ", ": ") after a line's
// leading blanks, as flowDepth counts them.
func lineShape(src []byte) (indent, run int) {
	for len(src) > 0 {
		n := 0
		for n < len(src) && src[n] == ' ' {
			n++
		}
		indent = max(indent, n)
		i := n
		for i < len(src) && (src[i] == ' ' || src[i] == '\t') {
			i++
		}
		r := 0
		for i+1 < len(src) && (src[i] == '-' || src[i] == '?' || src[i] == ':') && (src[i+1] == ' ' || src[i+1] == '\t') {
			r++
			i += 2
			for i < len(src) && (src[i] == ' ' || src[i] == '\t') {
				i++
			}
		}
		run = max(run, r)
		j := bytes.IndexByte(src[i:], '\n')
		if j < 0 {
			break
		}
		src = src[i+j+1:]
	}
	return indent, run
}

// mayAlias reports whether src has a '*' where an alias could start: outside
// comments and quoted scalars, at the start of a line or after a blank or a
// flow indicator, followed by a character that can begin an anchor name. A
// quote that is never closed makes it answer "maybe": the scan cannot tell
// what it hid.
func mayAlias(src []byte) bool {
	if bytes.IndexByte(src, '*') < 0 {
		return false
	}
	var quote byte
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
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
		case c == '*':
			prevOK := i == 0 || bytes.IndexByte([]byte(" \t\r\n[{,"), src[i-1]) >= 0
			nextOK := i+1 < len(src) && bytes.IndexByte([]byte(" \t\r\n[]{},"), src[i+1]) < 0
			if prevOK && nextOK {
				return true
			}
		}
	}
	return quote != 0
}

// startsQuoted reports whether the quote at src[i] can begin a quoted
// scalar. YAML starts one only where a node starts: at the start of a line
// (after indentation), after a flow indicator or ':', after a block
// indicator ('-' or '?', then a blank), or after a node property (a tag
// "!…" or an anchor "&…", then a blank). Anywhere else — after a plain
// scalar's text, even past a space, as in `a: 5 "` — it is part of that
// plain scalar.
func startsQuoted(src []byte, i int) bool {
	j := i
	for j > 0 && (src[j-1] == ' ' || src[j-1] == '\t') {
		j--
	}
	if j == 0 || src[j-1] == '\n' || src[j-1] == '\r' {
		return true
	}
	blank := j < i
	switch src[j-1] {
	case '[', '{', ',', ':':
		return true
	case '-', '?':
		if blank && (j == 1 || isBlankOrBreak(src[j-2])) {
			return true
		}
	}
	if !blank {
		return false
	}
	k := j - 1
	for k > 0 && !isBlankOrBreak(src[k-1]) {
		k--
	}
	return src[k] == '!' || src[k] == '&'
}
