package manifests

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/imagecascade/cascade/internal/imageref"
)

// FuzzRewriteYAML (R29): RewriteYAML never panics; what it writes parses,
// differs from the input only inside the reported values (or an inserted
// digest line), and a second rewrite changes nothing.
func FuzzRewriteYAML(f *testing.F) {
	_ = filepath.WalkDir("testdata/golden", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Base(filepath.Dir(p)) != "expected" && (isYAML(p)) {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b, isKustomizationFile(p))
			}
		}
		return nil
	})
	f.Add([]byte("image: registry.example.com/acme/app:1.0\n"), false)
	f.Add([]byte("images:\n- name: registry.example.com/acme/app\n  newTag: \"1.0\""), true)
	f.Add([]byte("a: &x registry.example.com/acme/app:1.0\nimage: *x\n"), false)
	f.Add([]byte("\ufeffimage: {repository: registry.example.com/acme/app, tag: '1.0'}\r\n"), false)
	image := imageref.MustParse(defaultImage)
	f.Fuzz(func(t *testing.T, src []byte, kustomization bool) {
		start := time.Now()
		defer func() {
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("took %v for %d bytes", d, len(src))
			}
		}()
		opts := RewriteOptions{Image: image, Kustomization: kustomization, Limits: Limits{MaxFileBytes: 1 << 20}}
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
	})
}
