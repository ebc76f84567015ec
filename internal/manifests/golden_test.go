package manifests

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imagecascade/cascade/internal/imageref"
)

var update = flag.Bool("update", false, "rewrite the expected files of the golden corpus")

const (
	oldDigest = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	newDigest = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	// defaultImage is the updated image of a golden case without an
	// "image" file.
	defaultImage = "registry.example.com/acme/app:1.0@" + newDigest
)

// TestGolden runs every case of testdata/golden: the files of original/
// are copied to a workspace, Update runs with the case's image (file
// "image", default defaultImage), and the workspace must then equal
// expected/ byte for byte; the report must equal result.json. Every
// byte that differs from the original must lie inside a reported value.
func TestGolden(t *testing.T) {
	t.Parallel()
	cases, err := os.ReadDir("testdata/golden")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		if !c.IsDir() {
			continue
		}
		dir := filepath.Join("testdata/golden", c.Name())
		t.Run(c.Name(), func(t *testing.T) {
			t.Parallel()
			image := defaultImage
			if b, err := os.ReadFile(filepath.Join(dir, "image")); err == nil {
				image = strings.TrimSpace(string(b))
			}
			ws := t.TempDir()
			copyTree(t, filepath.Join(dir, "original"), ws)
			res, err := Update(context.Background(), Options{Workspace: ws, Image: imageref.MustParse(image)})
			if err != nil {
				t.Fatalf("Update: %v", err)
			}
			report, err := json.MarshalIndent(res, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			report = append(report, '\n')
			if *update {
				_ = os.RemoveAll(filepath.Join(dir, "expected"))
				copyTree(t, ws, filepath.Join(dir, "expected"))
				if err := os.WriteFile(filepath.Join(dir, "result.json"), report, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want := readTree(t, filepath.Join(dir, "expected"))
			got := readTree(t, ws)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("workspace after Update (-want +got):\n%s", diff)
			}
			wantReport, _ := os.ReadFile(filepath.Join(dir, "result.json"))
			if diff := cmp.Diff(string(wantReport), string(report)); diff != "" {
				t.Errorf("result.json (-want +got):\n%s", diff)
			}
			orig := readTree(t, filepath.Join(dir, "original"))
			for _, f := range res.Files {
				assertOnlyValuesChanged(t, f, []byte(orig[f.Path]), []byte(got[f.Path]))
			}
			// Idempotent: a second run changes nothing.
			again, err := Update(context.Background(), Options{Workspace: ws, Image: imageref.MustParse(image)})
			if err != nil {
				t.Fatalf("second Update: %v", err)
			}
			if ch := again.Changed(); len(ch) != 0 {
				t.Errorf("second Update changed %v, want nothing:\n%s", ch, again.Diff())
			}
		})
	}
}

// assertOnlyValuesChanged checks, with a byte diff independent of the
// rewriter, that every changed byte run of the file lies inside the
// original text of a reported change (or is an inserted digest line).
func assertOnlyValuesChanged(t *testing.T, f FileResult, orig, got []byte) {
	t.Helper()
	if !f.Changed() {
		if !bytes.Equal(orig, got) {
			t.Errorf("%s: changed on disk but no change reported", f.Path)
		}
		return
	}
	x := newLineIndex(orig)
	type rng struct{ start, end int }
	var allowed []rng
	inserts := 0
	for _, o := range f.Objects {
		for _, c := range o.Changes {
			if c.Old == "" {
				inserts++ // an inserted line, or an empty value set
			}
			off, err := x.offset(c.Line, c.Column)
			if err != nil && c.Old == "" {
				continue // an inserted line past the original's end
			}
			if err != nil {
				t.Fatalf("%s: change at %d:%d: %v", f.Path, c.Line, c.Column, err)
			}
			end := off + len(c.Old)
			if q := byteAt(orig, off); q == '"' || q == '\'' {
				// a quoted value: up to its closing quote
				for end = off + 1; end < len(orig) && orig[end] != q; end++ {
					if q == '"' && orig[end] == '\\' {
						end++
					}
				}
				end++
			}
			allowed = append(allowed, rng{off, end})
			if c.Old != "" && !bytes.Contains(orig[off:min(end, len(orig))], []byte(c.Old)) && !bytes.Contains(orig[off:min(end, len(orig))], []byte{'\\'}) {
				t.Errorf("%s:%d:%d: reported old value %q not found there", f.Path, c.Line, c.Column, c.Old)
			}
		}
	}
	inRange := func(lo, hi int) bool {
		for _, a := range allowed {
			if lo >= a.start && hi <= a.end {
				return true
			}
		}
		return false
	}
	ol, gl := splitLines(orig), splitLines(got)
	off := 0
	for i, j := 0, 0; i < len(ol) || j < len(gl); {
		switch {
		case i < len(ol) && j < len(gl) && ol[i] == gl[j]:
			off += len(ol[i])
			i, j = i+1, j+1
		case j < len(gl) && inserts > 0 && strings.Contains(gl[j], "digest: sha256:") && (i == len(ol) || j+1 < len(gl) && gl[j+1] == ol[i]):
			inserts--
			j++
		case i == len(ol)-1 && j == len(gl)-2 && inserts > 0 && strings.TrimRight(gl[j], "\r\n") == ol[i] && strings.Contains(gl[j+1], "digest: sha256:"):
			// a digest line appended to a file without a final newline
			inserts--
			i, j = i+1, j+2
		case i < len(ol) && j < len(gl):
			for _, e := range lineEdits(ol[i], gl[j]) {
				if !inRange(off+e.start, off+e.end) {
					t.Errorf("%s:%d: bytes %d..%d of the line changed outside any reported value:\n-%q\n+%q", f.Path, i+1, e.start, e.end, ol[i], gl[j])
				}
			}
			off += len(ol[i])
			i, j = i+1, j+1
		default:
			t.Errorf("%s: line counts differ beyond reported insertions near line %d", f.Path, i+1)
			return
		}
	}
}

func splitLines(b []byte) []string {
	var out []string
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			out = append(out, string(b))
			break
		}
		out = append(out, string(b[:i+1]))
		b = b[i+1:]
	}
	return out
}

type byteEdit struct{ start, end int } // a run of a (deleted, or an insertion point when empty)

// lineEdits is a byte-level LCS diff of two lines: the runs of a that are
// deleted and the points of a where bytes are inserted.
func lineEdits(a, b string) []byteEdit {
	n, m := len(a), len(b)
	if n*m > 1<<22 { // long lines: one run between the common prefix and suffix
		p := 0
		for p < n && p < m && a[p] == b[p] {
			p++
		}
		s := 0
		for s < n-p && s < m-p && a[n-1-s] == b[m-1-s] {
			s++
		}
		return []byteEdit{{p, n - s}}
	}
	l := make([][]int32, n+1)
	for i := range l {
		l[i] = make([]int32, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				l[i][j] = l[i+1][j+1] + 1
			} else {
				l[i][j] = max(l[i+1][j], l[i][j+1])
			}
		}
	}
	var out []byteEdit
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && a[i] == b[j]:
			i, j = i+1, j+1
		case j < m && (i == n || l[i][j+1] >= l[i+1][j]):
			out = append(out, byteEdit{i, i})
			j++
		default:
			out = append(out, byteEdit{i, i + 1})
			i++
		}
	}
	return out
}

func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// byteAt is b[i], or 0 past the end (a change inserted at the end of a file
// without a final newline).
func byteAt(b []byte, i int) byte {
	if i < len(b) {
		return b[i]
	}
	return 0
}
