package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"

	"go.yaml.in/yaml/v3"

	"github.com/imagecascade/cascade/internal/exitcode"
)

// DefaultFile is the config's file name, looked for in the workspace and
// then in its .github folder.
const DefaultFile = "cascade.yaml"

// MaxFileSize is the largest config file cascade reads (4 MiB); anything
// larger is refused before parsing. A stream of 10,000 images (B5 of
// docs/benchmarks.md) written as the example is, one block per image, is
// ~1.7 MB; 4 MiB leaves room for ~25,000 and still bounds the parse.
const MaxFileSize = 4 << 20

// ErrNotFound is wrapped by Find when no explicit path was given and the
// workspace has no config. Commands that can run without a config (update)
// test for it with errors.Is.
var ErrNotFound = errors.New("no config found")

// Find returns the config file to load: explicit when it is set (a
// relative one is relative to the workspace), else the first of
// <workspace>/cascade.yaml and <workspace>/.github/cascade.yaml that
// exists. Not finding one is invalid input (exit 2) naming, as an absolute
// path, where it looked.
func Find(workspace, explicit string) (string, error) {
	if workspace == "" {
		workspace = "."
	}
	if explicit != "" {
		// A relative --config is relative to the workspace, like every
		// other path cascade reads.
		path := explicit
		if !filepath.IsAbs(path) {
			path = filepath.Join(workspace, path)
		}
		where := path
		if abs, err := filepath.Abs(path); err == nil {
			where = abs
		}
		fi, err := os.Stat(path)
		if errors.Is(err, fs.ErrNotExist) {
			return "", exitcode.AsInvalid(fmt.Errorf("finding config: %s does not exist (a relative --config is relative to the workspace)", where))
		}
		if err != nil {
			return "", exitcode.AsInvalid(fmt.Errorf("finding config %s: %w", where, err))
		}
		if fi.IsDir() {
			return "", exitcode.AsInvalid(fmt.Errorf("finding config: %s is a directory", where))
		}
		return path, nil
	}
	candidates := []string{
		filepath.Join(workspace, DefaultFile),
		filepath.Join(workspace, ".github", DefaultFile),
	}
	for _, c := range candidates {
		fi, err := os.Stat(c)
		switch {
		case err == nil && !fi.IsDir():
			return c, nil
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			return "", exitcode.AsInvalid(fmt.Errorf("finding config: %w", err))
		}
	}
	abs := func(p string) string {
		if a, err := filepath.Abs(p); err == nil {
			return a
		}
		return p
	}
	return "", exitcode.AsInvalid(fmt.Errorf("%w: looked for %s and %s (or pass --config)", ErrNotFound, abs(candidates[0]), abs(candidates[1])))
}

// Load reads, parses and validates the config file at path. Every error is
// invalid input (exit 2).
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, exitcode.AsInvalid(fmt.Errorf("reading config: %w", err))
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return nil, exitcode.AsInvalid(fmt.Errorf("reading config: %w", err))
	} else if !fi.Mode().IsRegular() {
		return nil, exitcode.AsInvalid(fmt.Errorf("reading config %s: not a regular file", path))
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, exitcode.AsInvalid(fmt.Errorf("reading config: %w", err))
	}
	return Parse(data, path)
}

// Parse decodes data, the text of a cascade.yaml named source in messages,
// strictly (unknown keys are errors), applies defaults and validates the
// result. All problems are reported at once as FieldErrors annotated with
// their line, and classified as invalid input (exit 2).
func Parse(data []byte, source string) (*Config, error) {
	if len(data) > MaxFileSize {
		return nil, exitcode.AsInvalid(fmt.Errorf("parsing config %s: larger than %d bytes", source, MaxFileSize))
	}
	doc, err := parseNode(data)
	if err != nil {
		return nil, exitcode.AsInvalid(fmt.Errorf("parsing config %s: %w", source, err))
	}
	sc := newSchemaCheck()
	sc.walk(doc, configType, "")
	if sc.tooBig {
		return nil, exitcode.AsInvalid(fmt.Errorf("invalid config %s:\n%w", source, errors.Join(sc.errs...)))
	}

	// The schema check has walked every node, so without aliases and merge
	// keys (which it does not follow) an unknown key is already reported:
	// the tree is decoded as it is. With either, the file is decoded again,
	// strictly, so that a key reached only through them is checked too.
	c := &Config{}
	var typeErrs *yaml.TypeError
	decode := doc.Decode
	if indirect(doc) {
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		decode = dec.Decode
	}
	if err := decode(c); err != nil && !errors.As(err, &typeErrs) {
		return nil, exitcode.AsInvalid(fmt.Errorf("parsing config %s: %w", source, err))
	}
	// The schema check explains structural problems with paths; the
	// decoder's messages only carry lines, so they are a fallback for
	// anything it did not catch.
	if typeErrs != nil && len(sc.errs) == 0 {
		for _, msg := range typeErrs.Errors {
			sc.errs = append(sc.errs, sc.decoderError(msg))
		}
	}

	sc.fillPresentEmpties(c)
	decoded := c.Limits
	c.ApplyDefaults()
	// An explicit limit is kept, even 0, so that Validate can refuse it
	// rather than silently raising a safety bound to its default.
	if sc.explicit("limits.maxDispatches") {
		c.Limits.MaxDispatches = decoded.MaxDispatches
	}
	if sc.explicit("limits.maxDepth") {
		c.Limits.MaxDepth = decoded.MaxDepth
	}

	errs := sc.errs
	bad := map[string]bool{}
	for _, e := range FieldErrors(errors.Join(errs...)) {
		bad[e.Path] = true
	}
	for _, fe := range FieldErrors(c.Validate()) {
		if bad[fe.Path] {
			continue // already explained by the schema check
		}
		if fe.Line == 0 {
			fe.Line = sc.lineOf(fe.Path)
		}
		errs = append(errs, fe)
	}
	if len(errs) > 0 {
		return nil, exitcode.AsInvalid(fmt.Errorf("invalid config %s:\n%w", source, errors.Join(errs...)))
	}
	return c, nil
}

// parseNode parses the single YAML document in data into its content node.
func parseNode(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty document")
		}
		return nil, err
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("line %d: more than one YAML document", extra.Line)
	}
	if root.Kind != yaml.DocumentNode || len(root.Content) != 1 {
		return nil, errors.New("empty document")
	}
	doc := root.Content[0]
	if doc.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: the config must be a mapping (version, images, ...)", doc.Line)
	}
	return doc, nil
}

// indirect reports whether an alias or a merge key ("<<") occurs at or
// under n.
func indirect(n *yaml.Node) bool {
	if n.Kind == yaml.AliasNode || n.Kind == yaml.ScalarNode && n.Tag == "!!merge" {
		return true
	}
	for _, c := range n.Content {
		if indirect(c) {
			return true
		}
	}
	return false
}

var decoderLineRE = regexp.MustCompile(`^line (\d+): (.*)$`)

// decoderError turns one of yaml's "line N: ..." messages into a
// FieldError at the first path written on that line.
func (s *schemaCheck) decoderError(msg string) *FieldError {
	m := decoderLineRE.FindStringSubmatch(msg)
	if m == nil {
		return &FieldError{Msg: msg}
	}
	line, _ := strconv.Atoi(m[1])
	return &FieldError{Path: s.byLine[line], Msg: m[2], Line: line}
}
