package dockerfile

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/imageref"
)

// Edit is one change Pin made: at Offset in the original source, the bytes
// Old were replaced by New. Old is the literal run of the reference that
// holds the change (the whole reference when it is written out, the ARG
// default when it comes from one), so that a report can show it.
type Edit struct {
	// Line is the 1-based line of Offset.
	Line   int
	Offset int
	Old    string
	New    string
	// Field is "syntax" for the syntax parser directive, "" for a base.
	Field string
}

// Skip is a reference to the updated repository (or one Pin could not
// resolve) that Pin left alone, and why.
type Skip struct {
	Line   int
	Ref    string
	Reason string
	// Field is "syntax" for the syntax parser directive, "" for a base.
	Field string
}

// ReasonIgnored is the Skip reason for references under the marker comment.
const ReasonIgnored = "cascade:ignore"

var markerRE = regexp.MustCompile(`#\s*cascade:ignore\b`)

// change is an edit before it is widened for reporting: src[off:off+len(old)]
// becomes repl.
type change struct {
	off      int
	old      string
	repl     string
	runStart int   // start of the literal run holding the change
	sites    []int // the bases it pins, ascending
	// directive is set for the change of the syntax parser directive.
	directive bool
}

func (c change) end() int { return c.off + len(c.old) }

// Pin moves the references of a Dockerfile that track the updated image to
// its digest (docs/contract.md, "Manifests"): FROM, COPY --from and RUN
// --mount=from= references, and the global ARG defaults they expand from.
// REPO:TAG and REPO:TAG@old become REPO:TAG@NEW, REPO@old becomes REPO@NEW,
// REPO counts as REPO:latest; another tag of the repository is skipped with
// a reason, other repositories are never touched. Only the bytes of the
// reference change.
//
// ARGs are followed semantically, by what the reference expands to, not by
// where its last byte is written. A new pin is written into an ARG default
// only when that default is itself a reference to the image (ARG
// BASE=node:18, FROM ${BASE}); when the tag or part of it comes from an ARG
// (FROM rust:${VARIANT}, FROM node:${V}-alpine) the digest is appended to
// the reference in its own instruction. An old digest is replaced where it
// is written, in an ARG too (ARG sha=sha256:…, FROM x@$sha; ARG
// H="@sha256:…"), when that ARG feeds only references that move with it;
// otherwise the reference is skipped with the use that prevents it. The result is parsed again and must name the same bases
// apart from the pinned ones, else Pin returns an error and no output.
// updated must carry a digest; src is returned unchanged when nothing moves.
func Pin(src []byte, updated imageref.Ref) ([]byte, []Edit, []Skip, error) {
	if updated.Repository == "" {
		return nil, nil, nil, exitcode.AsInvalid(fmt.Errorf("pinning dockerfile: updated image %q has no repository", updated.Original))
	}
	if _, err := imageref.ParseDigest(string(updated.Digest)); err != nil {
		return nil, nil, nil, exitcode.AsInvalid(fmt.Errorf("pinning dockerfile to %q: the updated image needs a digest: %w", updated.Original, err))
	}
	if err := checkSize(src); err != nil {
		return nil, nil, nil, err
	}
	p, err := parse(src, ParseOptions{})
	if err != nil {
		return nil, nil, nil, err
	}
	pl := &pinner{p: p, updated: updated}
	var set changeSet
	for i := range p.file.Bases {
		if c, ok := pl.base(i); ok {
			set.add(c)
		}
	}
	if c, ok := pl.directive(); ok {
		set.add(c)
	}
	changes := pl.dropShared(set.list)
	sort.SliceStable(pl.skips, func(i, j int) bool { return pl.skips[i].Line < pl.skips[j].Line })
	if len(changes) == 0 {
		return src, nil, pl.skips, nil
	}
	out, edits := pl.apply(changes)
	if err := pl.verify(out, changes); err != nil {
		return nil, nil, nil, fmt.Errorf("pinning dockerfile to %s: %w; nothing changed", updated.WithDigest(updated.Digest), unverifiedError{err})
	}
	return out, edits, pl.skips, nil
}

// ErrUnverified matches (errors.Is) an error of Pin whose rewrite failed
// verification: the Dockerfile names the updated image and parsed, but the
// bytes Pin would write do not parse to exactly the intended change.
// Pin's other errors are about the input (it does not parse, or is too
// large).
var ErrUnverified = errors.New("rewrite failed verification")

type unverifiedError struct{ error }

func (e unverifiedError) Unwrap() error        { return e.error }
func (e unverifiedError) Is(target error) bool { return target == ErrUnverified }

type pinner struct {
	p       *parsed
	updated imageref.Ref
	skips   []Skip
}

func (pl *pinner) skip(i int, reason string) {
	b := pl.p.file.Bases[i]
	ref := b.Ref
	if b.Unresolved != "" || ref == "" {
		ref = b.Raw
	}
	pl.skips = append(pl.skips, Skip{Line: b.Line, Ref: ref, Reason: reason})
}

// base decides what happens to base i: a change, a skip, or nothing.
func (pl *pinner) base(i int) (change, bool) {
	b := pl.p.file.Bases[i]
	s := pl.p.sites[i]
	if b.Unresolved != "" {
		// Report it unless its repository is known and another one.
		if s.repo == "" || s.repo == pl.updated.Name() {
			pl.skip(i, b.Unresolved)
		}
		return change{}, false
	}
	r, err := imageref.Parse(b.Ref)
	if err != nil {
		if reason := imageref.MalformedDigest(b.Ref, pl.updated); reason != "" {
			pl.skip(i, reason)
		}
		return change{}, false
	}
	if !r.SameRepository(pl.updated) {
		return change{}, false
	}
	if pl.ignored(s.ins) || len(s.raw.offs) > 0 && pl.ignoredLine(pl.lineOf(s.raw.offs[0])) {
		pl.skip(i, ReasonIgnored)
		return change{}, false
	}
	u := pl.updated
	switch {
	case r.Tag == "" && r.Digest != "":
		// A digest-only pin of the repository follows every new digest.
	case u.Tag == "":
		pl.skip(i, fmt.Sprintf("tag %s cannot be pinned to a digest of an untagged image", r.EffectiveTag()))
		return change{}, false
	case r.EffectiveTag() != u.Tag:
		pl.skip(i, fmt.Sprintf("tag %s is not the updated tag %s", r.EffectiveTag(), u.Tag))
		return change{}, false
	}
	if r.Digest == u.Digest {
		return change{}, false
	}
	c, reason := pl.locate(s.val, r)
	if reason != "" {
		pl.skip(i, reason)
		return change{}, false
	}
	if ins := pl.instructionAt(c.off); ins != nil && ins != s.ins {
		if pl.ignored(ins) || pl.ignoredLine(pl.lineOf(c.off)) {
			pl.skip(i, ReasonIgnored)
			return change{}, false
		}
		if reason := pl.argDefaultTracks(c); reason != "" {
			// The last byte of the reference comes from an ARG that holds
			// only part of it (a tag, a version): the digest goes at the
			// end of the reference as written in its own instruction, as
			// it does for node:${VERSION}-alpine.
			a, ok := pl.appendToWord(s, r)
			if !ok || c.old != "" {
				pl.skip(i, reason)
				return change{}, false
			}
			c = a
		}
	}
	c.sites = []int{i}
	return c, true
}

// directive decides what happens to the syntax parser directive
// ("# syntax=docker/dockerfile:1", the BuildKit frontend image): pinned by
// the rules of a base, in place, or skipped with a reason.
func (pl *pinner) directive() (change, bool) {
	d := pl.p.lex.syntax
	if d.line == 0 {
		return change{}, false
	}
	src := pl.p.lex.src
	val := string(src[d.start:d.end])
	skip := func(reason string) {
		pl.skips = append(pl.skips, Skip{Line: d.line, Ref: val, Reason: reason, Field: "syntax"})
	}
	r, err := imageref.Parse(val)
	if err != nil {
		if reason := imageref.MalformedDigest(val, pl.updated); reason != "" {
			skip(reason)
		}
		return change{}, false
	}
	if !r.SameRepository(pl.updated) {
		return change{}, false
	}
	if pl.marked(d.line) {
		skip(ReasonIgnored)
		return change{}, false
	}
	u := pl.updated
	switch {
	case r.Tag == "" && r.Digest != "":
	case u.Tag == "":
		skip(fmt.Sprintf("tag %s cannot be pinned to a digest of an untagged image", r.EffectiveTag()))
		return change{}, false
	case r.EffectiveTag() != u.Tag:
		skip(fmt.Sprintf("tag %s is not the updated tag %s", r.EffectiveTag(), u.Tag))
		return change{}, false
	}
	if r.Digest == u.Digest {
		return change{}, false
	}
	if r.Digest != "" {
		old := string(r.Digest)
		if !strings.HasSuffix(val, old) {
			skip("the digest of the directive could not be located")
			return change{}, false
		}
		return change{off: d.end - len(old), old: old, repl: string(u.Digest), runStart: d.start, directive: true}, true
	}
	repl := "@" + string(u.Digest)
	if r.Tag == "" {
		repl = ":" + u.Tag + repl
	}
	return change{off: d.end, repl: repl, runStart: d.start, directive: true}, true
}

// appendToWord is the change that appends the pin to reference word
// s.raw as written, after its last byte: "rust:${VARIANT}" becomes
// "rust:${VARIANT}@sha256:…". The word's own bytes are what other
// references could share, so they are its run.
func (pl *pinner) appendToWord(s site, r imageref.Ref) (change, bool) {
	n := len(s.raw.offs)
	if n == 0 || s.raw.offs[0] < 0 || s.raw.offs[n-1] < 0 || r.Digest != "" {
		return change{}, false
	}
	repl := "@" + string(pl.updated.Digest)
	if r.Tag == "" {
		repl = ":" + pl.updated.Tag + repl
	}
	return change{off: s.raw.offs[n-1] + 1, repl: repl, runStart: s.raw.offs[0]}, true
}

// locate finds the source bytes to change in the expanded reference v: the
// old digest, or the point after its last byte.
func (pl *pinner) locate(v text, r imageref.Ref) (change, string) {
	src := pl.p.lex.src
	d := string(pl.updated.Digest)
	if r.Digest != "" {
		old := string(r.Digest)
		k := len(v.b) - len(old)
		if k < 1 || string(v.b[k:]) != old {
			return change{}, "the digest of the reference could not be located"
		}
		off := v.offs[k]
		for j := k; j < len(v.b); j++ {
			if v.offs[j] != off+(j-k) {
				return change{}, "the digest of the reference is not written in one piece"
			}
		}
		if string(src[off:off+len(old)]) != old {
			return change{}, "the digest of the reference is not written in one piece"
		}
		return change{off: off, old: old, repl: d, runStart: pl.runStart(v, k)}, ""
	}
	last := len(v.b) - 1
	if last < 0 || v.offs[last] < 0 {
		return change{}, "the reference does not end in the Dockerfile's text"
	}
	repl := "@" + d
	if r.Tag == "" {
		// A bare REPO follows REPO:latest; the pin keeps saying so
		// (REPO:latest@NEW), as manifests do, so that a later update of
		// another tag never moves it.
		repl = ":" + pl.updated.Tag + repl
	}
	return change{off: v.offs[last] + 1, repl: repl, runStart: pl.runStart(v, last)}, ""
}

// argDefaultTracks checks a change that lands outside the base's own
// instruction, in an ARG default. The change may go there when that
// default is itself a reference to the updated repository (ARG
// BASE=node:18), or when the change replaces a digest held by an ARG that
// feeds nothing but image references (ARG sha=sha256:…, FROM x@$sha; ARG
// HASH="@sha256:…"): dropShared then checks that every reference it feeds
// is one that moves. An ARG holding only a tag or a registry is shared by
// other text too often to carry a digest; the caller appends the digest
// in the reference's own instruction instead.
func (pl *pinner) argDefaultTracks(c change) string {
	for _, a := range pl.p.args {
		if len(a.def.offs) == 0 {
			continue
		}
		first, last := a.def.offs[0], a.def.offs[len(a.def.offs)-1]
		if c.runStart < first || c.runStart > last {
			continue
		}
		if r, err := imageref.Parse(a.val.String()); err == nil && r.SameRepository(pl.updated) {
			return ""
		}
		if c.old == "" {
			return fmt.Sprintf("the digest would go into ARG %s, whose default %q is not a reference to the image", a.name, a.val.String())
		}
		if line, what := pl.otherUse(a.name, map[string]bool{}); line > 0 {
			return fmt.Sprintf("its digest is held by ARG %s, which also feeds %s on line %d, not only image references", a.name, what, line)
		}
		return ""
	}
	return "the digest would go outside the reference's instruction"
}

// otherUse finds where ARG name is expanded other than in a base's
// reference: it returns the line and instruction keyword of the first such
// use, 0 when there is none. A use in another ARG's default counts through
// that ARG's own uses. The scan is textual ($name, ${name…}) over every
// instruction and heredoc body, so it errs towards finding a use.
func (pl *pinner) otherUse(name string, seen map[string]bool) (int, string) {
	if seen[name] {
		return 0, ""
	}
	seen[name] = true
	l := pl.p.lex
	src := l.src
	for k := range l.instructions {
		ins := &l.instructions[k]
		end := ins.endLine
		if ins.heredocTo > end {
			end = ins.heredocTo
		}
		if end < 1 || end > len(l.lines) {
			continue
		}
		from, to := ins.start, l.lines[end-1].end
		for off := from; off < to; off++ {
			if src[off] != '$' || !expands(src[off+1:to], name) || l.comments[pl.lineOf(off)] {
				continue
			}
			if pl.inBaseWord(ins, off) {
				continue
			}
			if ins.keyword == "ARG" {
				if via := pl.argDefaultAt(off); via != "" {
					if line, what := pl.otherUse(via, seen); line > 0 {
						return line, what
					}
					continue
				}
			}
			return pl.lineOf(off), ins.keyword
		}
	}
	return 0, ""
}

// expands reports whether b, the bytes after a '$', names variable name.
func expands(b []byte, name string) bool {
	if len(b) > 0 && b[0] == '{' {
		b = b[1:]
	}
	return len(b) >= len(name) && string(b[:len(name)]) == name && (len(b) == len(name) || !isNameChar(b[len(name)]))
}

// inBaseWord reports whether source offset off lies in the reference word
// of a base named by instruction ins.
func (pl *pinner) inBaseWord(ins *instruction, off int) bool {
	for _, s := range pl.p.sites {
		if n := len(s.raw.offs); s.ins == ins && n > 0 && s.raw.offs[0] <= off && off <= s.raw.offs[n-1] {
			return true
		}
	}
	return false
}

// argDefaultAt is the name of the ARG whose default holds source offset
// off, "" when none does.
func (pl *pinner) argDefaultAt(off int) string {
	for _, a := range pl.p.args {
		if n := len(a.def.offs); n > 0 && a.def.offs[0] <= off && off <= a.def.offs[n-1] {
			return a.name
		}
	}
	return ""
}

// runStart is the source offset where the literal run of v holding index k
// starts.
func (pl *pinner) runStart(v text, k int) int {
	for k > 0 && v.offs[k-1] >= 0 && v.offs[k-1] == v.offs[k]-1 {
		k--
	}
	return v.offs[k]
}

// changeSet gathers changes, merging those that several bases need.
type changeSet struct {
	list  []change
	index map[changeKey]int
}

type changeKey struct {
	off, runStart int
	old, repl     string
}

func (cs *changeSet) add(c change) {
	key := changeKey{off: c.off, runStart: c.runStart, old: c.old, repl: c.repl}
	if i, ok := cs.index[key]; ok {
		cs.list[i].sites = append(cs.list[i].sites, c.sites...)
		return
	}
	if cs.index == nil {
		cs.index = map[changeKey]int{}
	}
	cs.index[key] = len(cs.list)
	cs.list = append(cs.list, c)
}

// dropShared drops changes to bytes that other bases (or other changes) use
// too: pinning an ARG default must not move a reference that does not track
// the image. A change covers [runStart, end()], the end included: a byte
// right after the run belongs to the same word.
func (pl *pinner) dropShared(cs []change) []change {
	sort.Slice(cs, func(i, j int) bool { return cs[i].runStart < cs[j].runStart })
	conflicts := make([]string, len(cs))
	for i := 1; i < len(cs); i++ {
		if cs[i].runStart <= cs[i-1].end() {
			conflicts[i-1] = "another reference needs to change the same bytes"
			conflicts[i] = conflicts[i-1]
		}
	}
	for j, s := range pl.p.sites {
		checked := -1
		for _, o := range s.val.offs {
			if o < 0 {
				continue
			}
			// The last change starting at or before o is the only one that
			// can cover it, as changes that overlap are already conflicts.
			k := sort.Search(len(cs), func(k int) bool { return cs[k].runStart > o }) - 1
			if k < 0 || k == checked || o > cs[k].end() || conflicts[k] != "" {
				continue
			}
			checked = k
			if contains(cs[k].sites, j) {
				continue
			}
			b := pl.p.file.Bases[j]
			conflicts[k] = fmt.Sprintf("its bytes are shared with %q on line %d, which would change too", b.Raw, b.Line)
		}
	}
	var kept []change
	for i, c := range cs {
		if conflicts[i] == "" {
			kept = append(kept, c)
			continue
		}
		for _, si := range c.sites {
			pl.skip(si, conflicts[i])
		}
	}
	return kept
}

// contains reports whether the ascending xs holds x.
func contains(xs []int, x int) bool {
	i := sort.SearchInts(xs, x)
	return i < len(xs) && xs[i] == x
}

func (pl *pinner) apply(cs []change) ([]byte, []Edit) {
	src := pl.p.lex.src
	var out bytes.Buffer
	out.Grow(len(src) + len(cs)*80)
	var edits []Edit
	prev := 0
	for _, c := range cs {
		out.Write(src[prev:c.off])
		out.WriteString(c.repl)
		prev = c.end()
		e := Edit{
			Line:   pl.lineOf(c.runStart),
			Offset: c.runStart,
			Old:    string(src[c.runStart:c.end()]),
			New:    string(src[c.runStart:c.off]) + c.repl,
		}
		if c.directive {
			e.Field = "syntax"
		}
		edits = append(edits, e)
	}
	out.Write(src[prev:])
	return out.Bytes(), edits
}

// verify parses the output again: it must have the same instructions,
// stages and bases, with only the pinned bases moved to the new digest.
func (pl *pinner) verify(out []byte, cs []change) error {
	q, err := parse(out, ParseOptions{})
	if err != nil {
		return fmt.Errorf("the result does not parse: %w", err)
	}
	a, b := pl.p, q
	if len(a.lex.instructions) != len(b.lex.instructions) {
		return fmt.Errorf("the result has %d instructions, want %d", len(b.lex.instructions), len(a.lex.instructions))
	}
	for i := range a.lex.instructions {
		x, y := a.lex.instructions[i], b.lex.instructions[i]
		if x.keyword != y.keyword || x.line != y.line || x.endLine != y.endLine || x.heredocTo != y.heredocTo {
			return fmt.Errorf("instruction on line %d changed", x.line)
		}
	}
	pinned := map[int]bool{}
	for _, c := range cs {
		for _, s := range c.sites {
			pinned[s] = true
		}
	}
	want := string(a.lex.src[a.lex.syntax.start:a.lex.syntax.end])
	for _, c := range cs {
		if c.directive {
			want = string(a.lex.src[a.lex.syntax.start:c.off]) + c.repl + string(a.lex.src[c.end():a.lex.syntax.end])
		}
	}
	if got := string(b.lex.src[b.lex.syntax.start:b.lex.syntax.end]); a.lex.syntax.line != b.lex.syntax.line || got != want {
		return fmt.Errorf("the syntax directive is %q, want %q", got, want)
	}
	if len(a.file.Stages) != len(b.file.Stages) {
		return fmt.Errorf("the result has %d stages, want %d", len(b.file.Stages), len(a.file.Stages))
	}
	for i, x := range a.file.Stages {
		y := b.file.Stages[i]
		if x.Name != y.Name || x.Line != y.Line || x.Platform != y.Platform || x.FromStage != y.FromStage {
			return fmt.Errorf("stage %d on line %d changed", i, x.Line)
		}
	}
	if len(a.file.Bases) != len(b.file.Bases) {
		return fmt.Errorf("the result has %d bases, want %d", len(b.file.Bases), len(a.file.Bases))
	}
	for i, x := range a.file.Bases {
		y := b.file.Bases[i]
		if x.Kind != y.Kind || x.Line != y.Line || x.Stage != y.Stage || x.StageName != y.StageName ||
			x.Platform != y.Platform || x.Unresolved != y.Unresolved {
			return fmt.Errorf("base %q on line %d changed", x.Raw, x.Line)
		}
		if !pinned[i] {
			if x.Raw != y.Raw || x.Ref != y.Ref {
				return fmt.Errorf("base %q on line %d changed to %q", x.Ref, x.Line, y.Ref)
			}
			continue
		}
		before, err1 := imageref.Parse(x.Ref)
		after, err2 := imageref.Parse(y.Ref)
		if err1 != nil || err2 != nil || !after.SameRepository(before) || after.Tag != before.EffectiveTag() ||
			after.WrittenName != before.WrittenName || after.Digest != pl.updated.Digest {
			return fmt.Errorf("base %q on line %d became %q", x.Ref, x.Line, y.Ref)
		}
	}
	return nil
}

func (pl *pinner) lineOf(off int) int {
	lines := pl.p.lex.lines
	i := sort.Search(len(lines), func(i int) bool { return lines[i].start > off })
	return i // the 1-based number of the last line starting at or before off
}

func (pl *pinner) instructionAt(off int) *instruction {
	line := pl.lineOf(off)
	ins := pl.p.lex.instructions
	i := sort.Search(len(ins), func(i int) bool { return ins[i].line > line }) - 1
	if i >= 0 && line <= ins[i].endLine {
		return &ins[i]
	}
	return nil
}

// ignored reports whether the instruction carries the marker comment on its
// first line or in the comment block directly above it.
func (pl *pinner) ignored(ins *instruction) bool { return pl.ignoredLine(ins.line) }

// ignoredLine reports whether line (1-based) carries the marker, or the
// comment lines directly above it do.
func (pl *pinner) ignoredLine(line int) bool {
	if pl.marked(line) {
		return true
	}
	for l := line - 1; l >= 1 && pl.p.lex.comments[l]; l-- {
		if pl.marked(l) {
			return true
		}
	}
	return false
}

func (pl *pinner) marked(line int) bool {
	if line < 1 || line > len(pl.p.lex.lines) {
		return false
	}
	return markerRE.Match(pl.p.lex.content(line - 1))
}
