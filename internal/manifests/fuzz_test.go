package manifests

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
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
	// Shapes of issue 16: kustomize entries holding whole references or
	// digests in newTag, a comment after an entry, kinds without a pod
	// template, image volumes, Compose, JSON, malformed digests.
	f.Add([]byte("images:\n- name: app\n  newName: registry.example.com/acme/app:1.0@"+oldDigest+"\n- name: registry.example.com/acme/app:1.0\n  newTag: \"1.0\"\n"), true)
	f.Add([]byte("images:\n- name: registry.example.com/acme/app\n  newTag: 1.0@"+oldDigest+"\n- name: registry.example.com/acme/app\n  newTag: \"1.0\"\n  # keep\nresources: []\n"), true)
	f.Add([]byte("apiVersion: v1\nkind: ConfigMap\ndata:\n  image: registry.example.com/acme/app:1.0\n---\napiVersion: v1\nkind: Pod\nspec:\n  volumes:\n  - name: v\n    image: {reference: registry.example.com/acme/app:1.0}\n"), false)
	f.Add([]byte("services:\n  web:\n    image: registry.example.com/acme/app:1.0@sha256:abc\n  api:\n    image: registry.example.com/acme/app:1.0\n"), false)
	f.Add([]byte("{\"apiVersion\": \"v1\", \"kind\": \"Pod\", \"spec\": {\"containers\": [{\"name\": \"a\",\n\t\"image\": \"registry.example.com/acme/app:1.0\"}]}}\n"), false)
	f.Fuzz(func(t *testing.T, src []byte, kustomization bool) {
		start := time.Now()
		defer func() {
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("took %v for %d bytes", d, len(src))
			}
		}()
		checkRewriteYAML(t, src, kustomization)
	})
}
