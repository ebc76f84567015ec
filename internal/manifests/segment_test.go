package manifests

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	yaml "go.yaml.in/yaml/v3"

	"github.com/imagecascade/cascade/internal/imageref"
)

func TestSegments(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  string
		want []string // the segments' text; nil: not split
	}{
		{"one document", "a: 1\n", nil},
		{"leading marker only", "---\na: 1\n", nil},
		{"two documents", "a: 1\n---\nb: 2\n", []string{"a: 1\n", "---\nb: 2\n"}},
		{"marker with content and CRLF", "a: 1\r\n--- |\r\n  x\r\n---\r\nb\r\n", []string{"a: 1\r\n", "--- |\r\n  x\r\n", "---\r\nb\r\n"}},
		{"marker at the end without newline", "a: 1\n---", []string{"a: 1\n", "---"}},
		{"not a marker", "a: 1\n----\nb: ---\n  ---\n---x\n", nil},
		{"document end markers do not split", "a: 1\n...\nb: 2\n", nil},
		{"a directive refuses to split", "a: 1\n---\n%YAML 1.2\n---\nb: 2\n", nil},
		{"comment before the marker stays with the first", "a: 1\n# about b\n--- # b\nb: 2\n", []string{"a: 1\n# about b\n", "--- # b\nb: 2\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			for _, s := range segments([]byte(tt.src)) {
				got = append(got, tt.src[s.start:s.end])
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("segments (-want +got):\n%s", diff)
			}
		})
	}
}

// bundle is a multi-document file naming the image in its third document,
// after a document that does not parse and one with CRLF-free block text.
const bundle = `apiVersion: v1
kind: ConfigMap
data:
  script: |
    echo {{ broken
    exit 1
---
kind: Broken
spec: [unclosed
---
# the workload
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
spec:
  template:
    spec:
      containers:
        - name: app
          image: registry.example.com/acme/app:1.0 # pinned by cascade
        - name: old
          image: registry.example.com/acme/app:0.9
`

// TestPrefilterParsesOnlyNamingDocuments: with the prefilter (the default
// file set) a bundle whose unrelated document does not parse is still
// rewritten, with the lines and columns of the whole file; without it (a
// file selected by --paths) the syntax error is reported.
func TestPrefilterParsesOnlyNamingDocuments(t *testing.T) {
	t.Parallel()
	image := imageref.MustParse(defaultImage)
	if _, _, _, _, err := RewriteYAML([]byte(bundle), RewriteOptions{Image: image}); err == nil {
		t.Fatal("without the prefilter the broken document parsed; the test needs one that does not")
	}
	out, objects, skipped, format, err := RewriteYAML([]byte(bundle), RewriteOptions{Image: image, Prefilter: true})
	if err != nil {
		t.Fatalf("with the prefilter: %v", err)
	}
	want := strings.Replace(bundle, "app:1.0 #", "app:1.0@"+newDigest+" #", 1)
	if diff := cmp.Diff(want, string(out)); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
	if format != "kubernetes" {
		t.Errorf("format %q, want kubernetes", format)
	}
	if len(objects) != 1 || len(objects[0].Changes) != 1 {
		t.Fatalf("objects %+v, want one change", objects)
	}
	if c := objects[0].Changes[0]; c.Line != 21 || c.Column != 18 {
		t.Errorf("change at %d:%d, want 21:18 (the whole file's position)", c.Line, c.Column)
	}
	if len(skipped) != 1 || skipped[0].Line != 23 {
		t.Errorf("skipped %+v, want the 0.9 reference at line 23", skipped)
	}
}

// TestVerifySegmentsRefusesAChangedUnparsedDocument: the verification of a
// segmented file catches a change outside the documents it parsed, a
// marker added or lost, and a parsed document whose change is not the
// expected one.
func TestVerifySegmentsRefusesAChangedUnparsedDocument(t *testing.T) {
	t.Parallel()
	src := []byte("a: 1\n---\nimage: x\n---\nb: 2\n")
	x := newLineIndex(src)
	lim := Limits{}.withDefaults()
	segs, err := parseSegments(src, x, lim, func(b []byte) bool { return strings.Contains(string(b), "image") })
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) != 3 || segs[0].parsed || !segs[1].parsed || segs[2].parsed {
		t.Fatalf("segments %+v: want only the second parsed", segs)
	}
	value := segs[1].docs[0].Content[0].Content[1]
	want := expectation{values: map[*yaml.Node]string{value: "y"}, appends: map[*yaml.Node][2]string{}}
	for name, tc := range map[string]struct {
		updated string
		ok      bool
	}{
		"the expected change":            {"a: 1\n---\nimage: y\n---\nb: 2\n", true},
		"an unparsed document changed":   {"a: 2\n---\nimage: y\n---\nb: 2\n", false},
		"a marker lost":                  {"a: 1\n---\nimage: y\nb: 2\n", false},
		"a marker added":                 {"a: 1\n---\nimage: y\n---\n---\nb: 2\n", false},
		"another value":                  {"a: 1\n---\nimage: z\n---\nb: 2\n", false},
		"the expected change not made":   {"a: 1\n---\nimage: x\n---\nb: 2\n", false},
		"a key changed beside the value": {"a: 1\n---\nimage: y\nc: 3\n---\nb: 2\n", false},
	} {
		err := verifySegments(src, segs, []byte(tc.updated), lim, want)
		if (err == nil) != tc.ok {
			t.Errorf("%s: verifySegments = %v, want ok=%v", name, err, tc.ok)
		}
	}
}

// TestLineStartsFastPath: where only LF can break lines, the IndexByte scan
// finds the same line starts as the scan for every break.
func TestLineStartsFastPath(t *testing.T) {
	t.Parallel()
	for _, src := range []string{"", "a", "\n", "a\nb\n", "\n\n\nx", "\xef\xbb\xbfa: 1\nb: 2", "é\nü\n"} {
		start := 0
		if strings.HasPrefix(src, "\xef\xbb\xbf") {
			start = 3
		}
		fast, slow := lfStarts([]byte(src), []int{start}), breakStarts([]byte(src), []int{start})
		if diff := cmp.Diff(slow, fast); diff != "" {
			t.Errorf("%q (-every break +LF only):\n%s", src, diff)
		}
	}
}
