package manifests

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/imagecascade/cascade/internal/imageref"
)

// TestR29_FuzzRewriteYAMLCorpus replays FuzzRewriteYAML's inputs — the
// committed crashers of testdata/fuzz/FuzzRewriteYAML and the YAML files of
// the golden corpus, its seeds — through the target's invariants: no panic;
// on error the input is returned untouched; the output parses, differs
// only inside reported values, and a second rewrite changes nothing.
func TestR29_FuzzRewriteYAMLCorpus(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzRewriteYAML", "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no committed corpus for FuzzRewriteYAML (%v)", err)
	}
	type input struct {
		src           []byte
		kustomization bool
	}
	inputs := map[string]input{}
	for _, f := range files {
		vals := readCorpusFile(t, f)
		if len(vals) != 2 {
			t.Fatalf("%s: %d values, want 2", f, len(vals))
		}
		inputs[filepath.Base(f)] = input{[]byte(vals[0]), vals[1] == "true"}
	}
	seeds := 0
	_ = filepath.WalkDir("testdata/golden", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Base(filepath.Dir(p)) != "expected" && isYAML(p) {
			if b, err := os.ReadFile(p); err == nil {
				inputs[p] = input{b, isKustomizationFile(p)}
				seeds++
			}
		}
		return nil
	})
	if seeds == 0 {
		t.Fatal("no golden YAML seeds found")
	}
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			checkRewriteYAML(t, in.src, in.kustomization)
		})
	}
}

// checkRewriteYAML is FuzzRewriteYAML's invariant.
func checkRewriteYAML(t *testing.T, src []byte, kustomization bool) {
	t.Helper()
	opts := RewriteOptions{Image: imageref.MustParse(defaultImage), Kustomization: kustomization, Limits: Limits{MaxFileBytes: 1 << 20}}
	out, objects, _, _, err := RewriteYAML(src, opts)
	if err != nil {
		if !bytes.Equal(out, src) {
			t.Fatalf("error %v, but the output differs from the input", err)
		}
		return
	}
	if bytes.Equal(out, src) {
		if len(objects) > 0 {
			t.Fatalf("changes reported but output equals input: %+v", objects)
		}
		return
	}
	if _, err := parseYAML(out, opts.Limits.withDefaults()); err != nil {
		t.Fatalf("output does not parse: %v\n%s", err, out)
	}
	assertOnlyValuesChanged(t, FileResult{Path: "fuzz.yaml", Objects: objects}, src, out)
	again, objects2, _, _, err := RewriteYAML(out, opts)
	if err != nil {
		t.Fatalf("second rewrite: %v", err)
	}
	if !bytes.Equal(again, out) || len(objects2) > 0 {
		t.Fatalf("second rewrite changed the output again: %+v\n%s\n---\n%s", objects2, out, again)
	}
}

// readCorpusFile decodes a "go test fuzz v1" file: quoted string and
// []byte values are unquoted, numbers and booleans returned as written.
func readCorpusFile(t *testing.T, name string) []string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) == 0 || lines[0] != "go test fuzz v1" {
		t.Fatalf("%s: not a fuzz corpus file", name)
	}
	var vals []string
	for _, l := range lines[1:] {
		typ, lit, ok := strings.Cut(l, "(")
		if !ok || !strings.HasSuffix(lit, ")") {
			t.Fatalf("%s: unsupported line %q", name, l)
		}
		lit = strings.TrimSuffix(lit, ")")
		if typ == "string" || typ == "[]byte" {
			v, err := strconv.Unquote(lit)
			if err != nil {
				t.Fatalf("%s: %q: %v", name, l, err)
			}
			lit = v
		}
		vals = append(vals, lit)
	}
	return vals
}
