package manifests

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imagecascade/cascade/internal/imageref"
)

// r18Features are the YAML features row R18 lists; the golden corpus must
// hold each of them in a file that gets rewritten, or the row proves
// nothing about it.
var r18Features = []struct {
	name string
	re   *regexp.Regexp
}{
	{"comments everywhere", regexp.MustCompile(`(?m)^\s*#.*\n(?:.*\n)*?.*\S\s+#\s`)},
	{"blank lines", regexp.MustCompile(`\n[ \t]*\r?\n`)},
	{"single-quoted value", regexp.MustCompile(`:\s*'[^'\n]+'`)},
	{"double-quoted value", regexp.MustCompile(`:\s*"[^"\n]+"`)},
	{"flow map", regexp.MustCompile(`[:\-\[]\s*\{[^}\n]*:`)},
	{"indentless list", nil},
	{"multi-doc with comments around ---", regexp.MustCompile(`(?m)^#.*\r?\n---.*\r?\n#`)},
	{"CRLF", regexp.MustCompile(`\r\n`)},
	{"BOM", regexp.MustCompile("^\ufeff")},
	{"no final newline", regexp.MustCompile(`[^\n]\z`)},
}

// TestR18_GoldenCorpusByteIdentical runs the YAML cases of the golden
// corpus (testdata/golden) as row R18: the workspace after Update equals
// the expected files byte for byte, and — checked here independently of
// the corpus's expected files — putting every reported old value back in
// place of its new one gives the original file exactly. It also checks
// that each feature R18 lists occurs in a rewritten file of the corpus.
func TestR18_GoldenCorpusByteIdentical(t *testing.T) {
	t.Parallel()
	cases, err := os.ReadDir("testdata/golden")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string][]string{}
	for _, c := range cases {
		dir := filepath.Join("testdata/golden", c.Name())
		if !c.IsDir() || c.Name() == "dockerfile" {
			continue
		}
		image := defaultImage
		if b, err := os.ReadFile(filepath.Join(dir, "image")); err == nil {
			image = strings.TrimSpace(string(b))
		}
		ws := t.TempDir()
		copyTree(t, filepath.Join(dir, "original"), ws)
		res, err := Update(context.Background(), Options{Workspace: ws, Image: imageref.MustParse(image)})
		if err != nil {
			t.Fatalf("%s: Update: %v", c.Name(), err)
		}
		orig := readTree(t, filepath.Join(dir, "original"))
		want := readTree(t, filepath.Join(dir, "expected"))
		got := readTree(t, ws)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: workspace after Update (-want +got):\n%s", c.Name(), diff)
		}
		for _, f := range res.Files {
			if !f.Changed() || f.Format == "dockerfile" {
				continue
			}
			before, after := []byte(orig[f.Path]), []byte(got[f.Path])
			assertOnlyValuesChanged(t, f, before, after)
			if ok, bad := onlyChangedLinesDiffer(f, before, after); ok && bad != 0 {
				t.Errorf("%s/%s: line %d differs but no change is reported on it", c.Name(), f.Path, bad)
			}
			for _, ft := range r18Features {
				if ft.re == nil && hasIndentlessList(before) || ft.re != nil && ft.re.Match(before) {
					seen[ft.name] = append(seen[ft.name], c.Name()+"/"+f.Path)
				}
			}
		}
	}
	for _, ft := range r18Features {
		if len(seen[ft.name]) == 0 {
			t.Errorf("no rewritten file of the golden corpus has %s", ft.name)
		} else {
			t.Logf("%s: %v", ft.name, seen[ft.name])
		}
	}
}

// onlyChangedLinesDiffer compares the files line by line (their line
// ends included) and returns the first differing line that carries no
// reported change, or 0. ok is false for files with an inserted line (a
// kustomization digest), where lines shift.
func onlyChangedLinesDiffer(f FileResult, before, after []byte) (ok bool, bad int) {
	changed := map[int]bool{}
	for _, o := range f.Objects {
		for _, c := range o.Changes {
			if c.Old == "" {
				return false, 0
			}
			changed[c.Line] = true
		}
	}
	bl, al := splitLines(before), splitLines(after)
	if len(bl) != len(al) {
		return true, min(len(bl), len(al)) + 1
	}
	for i := range bl {
		if bl[i] != al[i] && !changed[i+1] {
			return true, i + 1
		}
	}
	return true, 0
}

// TestR19_AliasesMergesAnchors: an image field that is an alias or comes
// from a << merge is never expanded or edited — it is skipped with a
// reason; an anchor's definition is edited only when the anchored node is
// itself the image field being updated.
func TestR19_AliasesMergesAnchors(t *testing.T) {
	t.Parallel()
	const (
		ref    = "registry.example.com/acme/app:1.0"
		pinned = ref + "@" + newDigest
		pod    = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n"
	)
	tests := []struct {
		name, src, want string
		skipReasons     []string
	}{{
		name:        "image field defines the anchor, alias elsewhere",
		src:         pod + "  - name: a\n    image: &img " + ref + "\n  - name: b\n    image: *img\n",
		want:        pod + "  - name: a\n    image: &img " + pinned + "\n  - name: b\n    image: *img\n",
		skipReasons: []string{"alias *img is not expanded"},
	}, {
		name:        "anchor outside any image field",
		src:         "x-defaults:\n  app: &app " + ref + "\n---\n" + pod + "  - name: a\n    image: *app\n",
		want:        "x-defaults:\n  app: &app " + ref + "\n---\n" + pod + "  - name: a\n    image: *app\n",
		skipReasons: []string{"alias *app is not expanded"},
	}, {
		name:        "image under a merge key",
		src:         pod + "  - &c\n    name: base\n    image: " + ref + "\n  - <<: *c\n    name: a\n",
		want:        pod + "  - &c\n    name: base\n    image: " + pinned + "\n  - <<: *c\n    name: a\n",
		skipReasons: []string{"merge key; merges are not expanded"},
	}, {
		// The anchored map is a generic YAML document whose own image
		// field is the target: its definition is pinned in place and the
		// merge that uses it is left as written, not expanded.
		name:        "anchor defined in an image field of another document, merged",
		src:         "x-c: &c {name: base, image: " + ref + "}\n---\n" + pod + "  - <<: *c\n    name: a\n",
		want:        "x-c: &c {name: base, image: " + pinned + "}\n---\n" + pod + "  - <<: *c\n    name: a\n",
		skipReasons: []string{"merge key; merges are not expanded"},
	}, {
		name: "merge with its own image field",
		src:  pod + "  - &c\n    name: base\n    image: " + ref + "\n  - <<: *c\n    name: a\n    image: " + ref + "\n",
		want: pod + "  - &c\n    name: base\n    image: " + pinned + "\n  - <<: *c\n    name: a\n    image: " + pinned + "\n",
	}}
	image := imageref.MustParse(defaultImage)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, objects, skips, _, err := RewriteYAML([]byte(tt.src), RewriteOptions{Image: image})
			if err != nil {
				t.Fatalf("RewriteYAML: %v", err)
			}
			if diff := cmp.Diff(tt.want, string(out)); diff != "" {
				t.Errorf("RewriteYAML (-want +got):\n%s", diff)
			}
			if strings.Count(string(out), "*") != strings.Count(tt.src, "*") || strings.Count(string(out), "&") != strings.Count(tt.src, "&") {
				t.Errorf("anchors or aliases added or removed")
			}
			assertOnlyValuesChanged(t, FileResult{Path: "r19.yaml", Objects: objects}, []byte(tt.src), out)
			if len(skips) != len(tt.skipReasons) {
				t.Fatalf("skips = %+v, want %d with reasons %q", skips, len(tt.skipReasons), tt.skipReasons)
			}
			for i, s := range skips {
				if !strings.Contains(s.Reason, tt.skipReasons[i]) || s.Ref != ref {
					t.Errorf("skip %d = %+v, want ref %q and a reason with %q", i, s, ref, tt.skipReasons[i])
				}
			}
		})
	}
}

// hasIndentlessList reports whether a "key:" line is followed by a "- "
// item at the key's own indentation.
func hasIndentlessList(b []byte) bool {
	lines := strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n")
	for i := 0; i+1 < len(lines); i++ {
		l := lines[i]
		key := strings.TrimLeft(l, " ")
		if !strings.HasSuffix(key, ":") || strings.HasPrefix(key, "-") || strings.HasPrefix(key, "#") {
			continue
		}
		ind := l[:len(l)-len(key)]
		if strings.HasPrefix(lines[i+1], ind+"- ") {
			return true
		}
	}
	return false
}
