// Package dockerfile reads the base images of a Dockerfile (every stage's
// FROM, COPY --from and RUN --mount=from=, with ARG defaults resolved) and
// pins references to a new digest by rewriting only the bytes of the
// reference.
//
// It has its own small lexer instead of BuildKit's parser: it needs the byte
// offset of every reference and of every ARG default, and it must stay
// tolerant of instructions it does not know. It follows BuildKit's rules for
// parser directives, line continuations (comment and blank lines inside a
// continued instruction are dropped), heredocs and variable expansion.
package dockerfile

import (
	"fmt"
	"strings"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/imageref"
)

// BaseKind says where in a Dockerfile a base image is named.
type BaseKind string

// The kinds of base.
const (
	KindFrom      BaseKind = "from"       // FROM image
	KindCopyFrom  BaseKind = "copy-from"  // COPY --from=image
	KindMountFrom BaseKind = "mount-from" // RUN --mount=...,from=image
)

// ParseOptions tune Parse.
type ParseOptions struct {
	// BuildArgs override the defaults of declared ARGs, like
	// `docker build --build-arg NAME=VALUE`. They also provide the builder's
	// platform arguments (TARGETARCH, ...) when those are used in a
	// reference.
	BuildArgs map[string]string
}

// File is what Parse found in a Dockerfile.
type File struct {
	// Stages are the build stages, one per FROM, in order.
	Stages []Stage
	// Bases are the external images the build reads, in file order. A FROM
	// naming an earlier stage, "scratch", and COPY --from naming a stage (by
	// name or index) are not bases.
	Bases []Base
	// Args are the global ARGs, declared before the first FROM.
	Args []Arg
}

// Stage is one build stage.
type Stage struct {
	Index int
	// Name is the name after AS, as written; "" when the stage has none.
	Name string
	// Line is the 1-based line of the FROM instruction.
	Line int
	// Raw is the image of the FROM as written; Ref is it after ARG expansion.
	Raw, Ref string
	// Platform is the --platform value as written.
	Platform string
	// FromStage is the index of the earlier stage this stage builds on, or
	// -1 when it builds on an image (or scratch).
	FromStage int
}

// Base is a reference to an external image.
type Base struct {
	// Raw is the reference as written ("${BASE}:7").
	Raw string
	// Ref is the reference after ARG expansion.
	Ref string
	// Line is the 1-based line of the instruction naming the base.
	Line int
	// Kind says which instruction names it.
	Kind BaseKind
	// Stage is the index of the stage the instruction belongs to, and
	// StageName that stage's name ("" when it has none).
	Stage     int
	StageName string
	// Platform is the --platform value of the instruction, as written.
	Platform string
	// Unresolved is non-empty when a variable in the reference had no value;
	// it says which. Ref is then the expansion with that variable empty.
	Unresolved string
}

// Arg is a global ARG.
type Arg struct {
	Name string
	// Default is the default as written (quotes kept); HasDefault says
	// whether one was given ("ARG X=" has an empty default).
	Default    string
	HasDefault bool
	// Value is the effective value: the build argument when given, else the
	// expanded default. Set is false when the ARG has no value at all.
	Value string
	Set   bool
	// Line is the 1-based line of the ARG instruction.
	Line int
}

// platformArgs are set by the builder, per platform, without a declaration.
var platformArgs = map[string]bool{
	"BUILDPLATFORM": true, "BUILDOS": true, "BUILDARCH": true, "BUILDVARIANT": true,
	"TARGETPLATFORM": true, "TARGETOS": true, "TARGETARCH": true, "TARGETVARIANT": true,
	"TARGETSTAGE": true,
}

// site is a base together with what Pin needs to rewrite it.
type site struct {
	ins *instruction
	raw text // the reference word as written
	val text // the expanded reference
	// repo is, for an unresolved reference, its normalized repository
	// when that does not depend on the variables without a value (as in
	// "golang:${VERSION}"); "" when it does or cannot be told.
	repo string
}

// parsed is a Parse result with the positions Pin needs.
type parsed struct {
	file  *File
	lex   *lexed
	sites []site // parallel to file.Bases
	args  []argSite
}

// argSite is an ARG declaration with a default, global or in a stage.
type argSite struct {
	name string
	def  text // the default as written
	val  text // the expanded default
}

// Parse reads the stages, bases and global ARGs of a Dockerfile. It is
// tolerant: unknown instructions are ignored. A FROM without an image, or an
// invalid escape directive, is an error wrapped with exitcode.AsInvalid.
func Parse(src []byte, opts ParseOptions) (*File, error) {
	if err := checkSize(src); err != nil {
		return nil, err
	}
	p, err := parse(src, opts)
	if err != nil {
		return nil, err
	}
	return p.file, nil
}

func checkSize(src []byte) error {
	if len(src) > MaxSize {
		return exitcode.AsInvalid(fmt.Errorf("parsing dockerfile: larger than %d bytes", MaxSize))
	}
	return nil
}

// parse parses src of any size; the public entry points bound the size.
func parse(src []byte, opts ParseOptions) (*parsed, error) {
	l, err := lex(src)
	if err != nil {
		return nil, fmt.Errorf("parsing dockerfile: %w", err)
	}
	p := &parsed{file: &File{}, lex: l}
	b := builder{p: p, opts: opts, global: map[string]variable{}}
	b.collectStageNames()
	for i := range l.instructions {
		if err := b.instruction(&l.instructions[i]); err != nil {
			return nil, fmt.Errorf("parsing dockerfile: %w", err)
		}
	}
	return p, nil
}

type builder struct {
	p          *parsed
	opts       ParseOptions
	global     map[string]variable
	stage      map[string]variable // ARGs declared in the current stage
	stageNames map[string]int      // every stage's AS name, lowercase, to its first index
}

func (b *builder) collectStageNames() {
	b.stageNames = map[string]int{}
	index := 0
	for _, ins := range b.p.lex.instructions {
		if ins.keyword != "FROM" {
			continue
		}
		_, args := flags(ins.words)
		name := ""
		if len(args) >= 3 && strings.EqualFold(string(args[1].b), "AS") {
			name = strings.ToLower(string(args[2].b))
		}
		if _, dup := b.stageNames[name]; name != "" && !dup {
			b.stageNames[name] = index
		}
		index++
	}
}

// flags splits leading --name=value words from the arguments.
func flags(words []text) (map[string][]text, []text) {
	fl := map[string][]text{}
	for len(words) > 0 && strings.HasPrefix(string(words[0].b), "--") {
		w := words[0]
		name, _, _ := strings.Cut(string(w.b[2:]), "=")
		name = strings.ToLower(name)
		if eq := strings.IndexByte(string(w.b), '='); eq >= 0 {
			fl[name] = append(fl[name], w.slice(eq+1, len(w.b)))
		}
		words = words[1:]
	}
	return fl, words
}

func lastFlag(fl map[string][]text, name string) (text, bool) {
	v := fl[name]
	if len(v) == 0 {
		return text{}, false
	}
	return v[len(v)-1], true
}

func (b *builder) instruction(ins *instruction) error {
	stages := len(b.p.file.Stages)
	switch ins.keyword {
	case "ARG":
		b.arg(ins, stages == 0)
	case "FROM":
		return b.from(ins)
	case "COPY":
		if stages == 0 {
			return nil
		}
		fl, _ := flags(ins.words)
		if from, ok := lastFlag(fl, "from"); ok {
			platform, _ := lastFlag(fl, "platform")
			b.external(ins, from, KindCopyFrom, platform.String())
		}
	case "RUN":
		if stages == 0 {
			return nil
		}
		fl, _ := flags(ins.words)
		for _, m := range fl["mount"] {
			if from, ok := mountFrom(m); ok {
				b.external(ins, from, KindMountFrom, "")
			}
		}
	}
	return nil
}

// mountFrom finds the from= field of a --mount value.
func mountFrom(m text) (text, bool) {
	start := 0
	for i := 0; i <= len(m.b); i++ {
		if i < len(m.b) && m.b[i] != ',' {
			continue
		}
		field := m.slice(start, i)
		start = i + 1
		key, _, ok := strings.Cut(string(field.b), "=")
		if ok && strings.EqualFold(strings.TrimSpace(key), "from") {
			return field.slice(len(key)+1, len(field.b)), true
		}
	}
	return text{}, false
}

func (b *builder) lookupGlobal(name string) variable {
	if v, ok := b.global[name]; ok {
		return v
	}
	return b.undeclared(name)
}

func (b *builder) undeclared(name string) variable {
	if platformArgs[name] {
		if v, ok := b.opts.BuildArgs[name]; ok {
			return variable{set: true, val: external(v)}
		}
		return variable{reason: fmt.Sprintf("%s is set by the builder for each platform", name)}
	}
	return variable{reason: fmt.Sprintf("%s is not a declared ARG", name)}
}

func (b *builder) lookupStage(name string) variable {
	if v, ok := b.stage[name]; ok {
		return v
	}
	if _, ok := b.global[name]; ok && !platformArgs[name] {
		return variable{reason: fmt.Sprintf("ARG %s is declared before the first FROM but not again in this stage, so it has no value here", name)}
	}
	return b.undeclared(name)
}

// external is a value that does not come from the source.
func external(s string) text {
	t := text{b: []byte(s), offs: make([]int, len(s))}
	for i := range t.offs {
		t.offs[i] = -1
	}
	return t
}

func (b *builder) expand(w text, lookup scope) (text, string) {
	e := &expander{esc: b.p.lex.escape, lookup: lookup}
	v := e.expand(w)
	return v, strings.Join(e.unresolved, "; ")
}

func (b *builder) arg(ins *instruction, global bool) {
	lookup := b.lookupStage
	vars := b.stage
	if global {
		lookup, vars = b.lookupGlobal, b.global
	}
	if vars == nil {
		return // an ARG inside ONBUILD or similar before any stage scope exists
	}
	for _, w := range ins.words {
		name, _, hasDefault := strings.Cut(string(w.b), "=")
		if name == "" || strings.HasPrefix(name, "#") {
			break
		}
		var v variable
		a := Arg{Name: name, HasDefault: hasDefault, Line: ins.line}
		if hasDefault {
			a.Default = string(w.b[len(name)+1:])
		}
		if bv, ok := b.opts.BuildArgs[name]; ok {
			v = variable{set: true, val: external(bv)}
		} else if hasDefault {
			def := w.slice(len(name)+1, len(w.b))
			val, reason := b.expand(def, lookup)
			v = variable{set: reason == "", val: val, reason: reason}
			b.p.args = append(b.p.args, argSite{name: name, def: def, val: val})
		} else if g, ok := b.global[name]; ok && !global {
			v = g
		} else if platformArgs[name] {
			v = b.undeclared(name)
		} else {
			v = variable{reason: fmt.Sprintf("ARG %s has no default value", name)}
		}
		vars[name] = v
		if global {
			a.Value, a.Set = v.val.String(), v.set
			b.p.file.Args = append(b.p.file.Args, a)
		}
	}
}

func (b *builder) from(ins *instruction) error {
	fl, args := flags(ins.words)
	if len(args) == 0 || strings.HasPrefix(string(args[0].b), "#") {
		return exitcode.AsInvalid(fmt.Errorf("line %d: FROM needs an image", ins.line))
	}
	platform, _ := lastFlag(fl, "platform")
	st := Stage{
		Index:     len(b.p.file.Stages),
		Line:      ins.line,
		Raw:       args[0].String(),
		Platform:  platform.String(),
		FromStage: -1,
	}
	if len(args) >= 3 && strings.EqualFold(string(args[1].b), "AS") {
		st.Name = args[2].String()
	}
	val, unresolved := b.expand(args[0], b.lookupGlobal)
	st.Ref = val.String()
	b.p.file.Stages = append(b.p.file.Stages, st)
	b.stage = map[string]variable{}
	if unresolved == "" {
		if i, ok := b.stageNames[strings.ToLower(st.Ref)]; ok && i < st.Index {
			b.p.file.Stages[st.Index].FromStage = i
			return nil
		}
		if strings.EqualFold(st.Ref, "scratch") {
			return nil
		}
	}
	b.add(ins, args[0], val, KindFrom, st.Platform, unresolved, b.lookupGlobal)
	return nil
}

// external records a COPY --from or RUN --mount from= value unless it names
// a stage.
func (b *builder) external(ins *instruction, w text, kind BaseKind, platform string) {
	val, unresolved := b.expand(w, b.lookupStage)
	if unresolved == "" {
		ref := strings.ToLower(val.String())
		if ref == "" || isDigits(ref) {
			return
		}
		if _, ok := b.stageNames[ref]; ok {
			return
		}
	}
	b.add(ins, w, val, kind, platform, unresolved, b.lookupStage)
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// repoWithout expands w twice, giving the variables without a value two
// different placeholder values, and returns the repository when both
// expansions agree on it.
func (b *builder) repoWithout(w text, lookup scope) string {
	var repos [2]string
	for i, placeholder := range []string{"x0", "y1"} {
		e := &expander{esc: b.p.lex.escape, lookup: func(name string) variable {
			if v := lookup(name); v.set {
				return v
			}
			return variable{set: true, val: external(placeholder)}
		}}
		r, err := imageref.Parse(e.expand(w).String())
		if err != nil || len(e.unresolved) > 0 {
			return ""
		}
		repos[i] = r.Name()
	}
	if repos[0] != repos[1] {
		return ""
	}
	return repos[0]
}

func (b *builder) add(ins *instruction, raw, val text, kind BaseKind, platform, unresolved string, lookup scope) {
	repo := ""
	if unresolved != "" {
		repo = b.repoWithout(raw, lookup)
	}
	st := b.p.file.Stages[len(b.p.file.Stages)-1]
	b.p.file.Bases = append(b.p.file.Bases, Base{
		Raw:        raw.String(),
		Ref:        val.String(),
		Line:       ins.line,
		Kind:       kind,
		Stage:      st.Index,
		StageName:  st.Name,
		Platform:   platform,
		Unresolved: unresolved,
	})
	b.p.sites = append(b.p.sites, site{ins: ins, raw: raw, val: val, repo: repo})
}
