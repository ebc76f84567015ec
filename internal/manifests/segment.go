package manifests

import (
	"bytes"
	"fmt"
	"sort"

	yaml "go.yaml.in/yaml/v3"
)

// A multi-document file (a bundle: Service, ConfigMaps, Deployments) often
// names the updated image in one document of many. In the default file set
// only the documents that might name it are parsed, and after a rewrite only
// the documents that changed are parsed again to verify them.

// segment is a stretch of a YAML stream that starts at the beginning of
// the stream or at a document start marker ("---" at the start of a line,
// followed by a blank or the end of the line). In YAML such a line always
// starts a document — it ends any block, plain or quoted scalar before it —
// and documents share nothing (anchors are per document; %TAG directives,
// which could be, make segments refuse to split), so each segment parses
// alone exactly as it does in the stream.
type segment struct {
	start, end int
	// docs are its parsed documents (usually one); parsed is false for a
	// segment left unparsed because it cannot name the image.
	docs   []*yaml.Node
	parsed bool
}

// segments splits src at its document start markers. It returns nil when
// there is nothing to split (a single document) or when src has a
// directive (a line starting with '%'), which applies to the document after
// it.
func segments(src []byte) []segment {
	var segs []segment
	start := 0
	for off := 0; off < len(src); {
		switch {
		case src[off] == '%':
			return nil
		case off > 0 && isDocumentStart(src[off:]):
			segs = append(segs, segment{start: start, end: off})
			start = off
		}
		nl := bytes.IndexByte(src[off:], '\n')
		if nl < 0 {
			break
		}
		off += nl + 1
	}
	if len(segs) == 0 {
		return nil
	}
	return append(segs, segment{start: start, end: len(src)})
}

func isDocumentStart(b []byte) bool {
	return len(b) >= 3 && b[0] == '-' && b[1] == '-' && b[2] == '-' &&
		(len(b) == 3 || b[3] == ' ' || b[3] == '\t' || b[3] == '\r' || b[3] == '\n')
}

// parseSegments parses src. With filter (the default file set), a file of
// several documents is parsed a segment at a time and a segment that
// cannot name image, nor exceed a limit, is left unparsed — as a whole
// file is by canSkipParse. Node lines are those of the whole file.
func parseSegments(src []byte, x *lineIndex, lim Limits, filter func([]byte) bool) ([]segment, error) {
	var segs []segment
	if filter != nil && !mayExceed(src, lim) {
		segs = segments(src)
	}
	if segs == nil {
		docs, err := parseYAML(src, lim)
		if err != nil {
			return nil, err
		}
		return []segment{{start: 0, end: len(src), docs: docs, parsed: true}}, nil
	}
	for i := range segs {
		s := &segs[i]
		part := src[s.start:s.end]
		if !filter(part) {
			continue
		}
		docs, err := parseYAML(part, lim)
		if err != nil {
			return nil, err
		}
		if line := x.lineOf(s.start); line > 1 {
			for _, d := range docs {
				shiftLines(d, line-1)
			}
		}
		s.docs, s.parsed = docs, true
	}
	return segs, nil
}

// shiftLines adds delta to the line of n and of every node under it.
func shiftLines(n *yaml.Node, delta int) {
	n.Line += delta
	for _, c := range n.Content {
		shiftLines(c, delta)
	}
}

// lineOf is the 1-based line of byte offset off.
func (x *lineIndex) lineOf(off int) int {
	return sort.Search(len(x.starts), func(i int) bool { return x.starts[i] > off })
}

// verifySegments checks updated against the original segments: a
// single-segment file is parsed again whole; otherwise updated must split
// into as many segments, the unparsed ones byte for byte the same, and only
// the parsed ones that changed are parsed again and compared.
func verifySegments(src []byte, orig []segment, updated []byte, lim Limits, want expectation) error {
	v := verifier{want: want}
	parts := [][]byte{updated}
	if len(orig) > 1 {
		ns := segments(updated)
		if len(ns) != len(orig) {
			return fmt.Errorf("the rewritten file has %d document markers, want %d", len(ns)-1, len(orig)-1)
		}
		parts = parts[:0]
		for _, s := range ns {
			parts = append(parts, updated[s.start:s.end])
		}
	}
	n := 0 // documents before this segment, for messages
	for i, s := range orig {
		was := src[s.start:s.end]
		switch {
		case !s.parsed:
			if !bytes.Equal(parts[i], was) {
				return fmt.Errorf("the rewritten file changed a document that was not parsed (at byte %d)", s.start)
			}
			continue
		case len(orig) > 1 && bytes.Equal(parts[i], was):
			n += len(s.docs)
			continue
		}
		docs, err := parseYAML(parts[i], lim)
		if err != nil {
			return fmt.Errorf("the rewritten file does not parse: %w", err)
		}
		if len(docs) != len(s.docs) {
			return fmt.Errorf("the rewritten file has %d documents where there were %d", len(docs), len(s.docs))
		}
		for j := range s.docs {
			if err := v.same(s.docs[j], docs[j]); err != nil {
				return fmt.Errorf("document %d of the rewritten file: %w", n+j+1, err)
			}
		}
		n += len(s.docs)
	}
	if v.values != len(want.values) || v.appends != len(want.appends) {
		return fmt.Errorf("the rewritten file has %d of %d value changes and %d of %d insertions", v.values, len(want.values), v.appends, len(want.appends))
	}
	return nil
}
