package manifests

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imagecascade/cascade/internal/fuzzcorpus"
	"github.com/imagecascade/cascade/internal/imageref"
)

// TestR29_FuzzRewriteYAMLCorpus replays FuzzRewriteYAML's inputs — the
// committed crashers of testdata/fuzz/FuzzRewriteYAML and the YAML files of
// the golden corpus, its seeds — through the target's invariants: no panic;
// on error the input is returned untouched; the output parses, differs
// only inside reported values, and a second rewrite changes nothing.
func TestR29_FuzzRewriteYAMLCorpus(t *testing.T) {
	t.Parallel()
	files := fuzzcorpus.Files(t, "FuzzRewriteYAML")
	type input struct {
		src           []byte
		kustomization bool
	}
	inputs := map[string]input{}
	for _, f := range files {
		vals := fuzzcorpus.Read(t, f)
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
	out, objects, skipped, _, err := RewriteYAML(src, opts)
	if err != nil {
		if !bytes.Equal(out, src) {
			t.Fatalf("error %v, but the output differs from the input", err)
		}
		return
	}
	checkPrefilterAgrees(t, src, opts, out, objects, skipped)
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

// checkPrefilterAgrees: parsing only the documents that might name the
// image (the default file set) gives the same bytes and changes as parsing
// them all, and no skip the full parse does not report.
func checkPrefilterAgrees(t *testing.T, src []byte, opts RewriteOptions, out []byte, objects []ObjectResult, skipped []Skip) {
	t.Helper()
	opts.Prefilter = true
	pout, pobjects, pskipped, _, err := RewriteYAML(src, opts)
	if err != nil {
		t.Fatalf("with the prefilter: %v; without it, no error", err)
	}
	if !bytes.Equal(pout, out) {
		t.Fatalf("with the prefilter the output differs:\n%s\n--- without:\n%s", pout, out)
	}
	if diff := cmp.Diff(objects, pobjects); diff != "" {
		t.Fatalf("with the prefilter the changes differ (-without +with):\n%s", diff)
	}
	for _, s := range pskipped {
		if !slices.Contains(skipped, s) {
			t.Fatalf("with the prefilter, skip %+v is not one of %+v", s, skipped)
		}
	}
}
