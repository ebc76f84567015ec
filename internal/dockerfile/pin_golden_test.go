package dockerfile

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imagecascade/cascade/internal/imageref"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/pin")

// defaultPinImage is the updated image of a golden case without an image file.
const defaultPinImage = "registry.example.com/acme/httpd-base:latest@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

// TestPinGolden pins testdata/pin/<case>/Dockerfile to the case's image
// (default defaultPinImage) and compares the result byte for byte with
// testdata/pin/<case>/expected.
func TestPinGolden(t *testing.T) {
	t.Parallel()
	dirs, err := filepath.Glob(filepath.Join("testdata", "pin", "*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) == 0 {
		t.Fatal("no golden cases in testdata/pin")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			t.Parallel()
			src, err := os.ReadFile(filepath.Join(dir, "Dockerfile"))
			if err != nil {
				t.Fatal(err)
			}
			image := defaultPinImage
			if b, err := os.ReadFile(filepath.Join(dir, "image")); err == nil {
				image = strings.TrimSpace(string(b))
			}
			got, _, _ := checkPin(t, src, imageref.MustParse(image))
			want := filepath.Join(dir, "expected")
			if *update {
				if err := os.WriteFile(want, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			wantB, err := os.ReadFile(want)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(wantB, got) {
				t.Errorf("Pin output mismatch (-want +got):\n%s", cmp.Diff(string(wantB), string(got)))
			}
		})
	}
}

// checkPin runs Pin and checks the promises every rewrite keeps: the output
// parses; undoing the edits gives back the input byte for byte; the edits
// only add or replace a digest (and the implied :latest of a bare name); pinning the output again changes nothing.
func checkPin(t testing.TB, src []byte, u imageref.Ref) ([]byte, []Edit, []Skip) {
	t.Helper()
	out, edits, skips, err := Pin(src, u)
	if err != nil {
		t.Fatalf("Pin: %v", err)
	}
	if _, err := Parse(out, ParseOptions{}); err != nil {
		t.Fatalf("output does not parse: %v\n%s", err, out)
	}
	if len(edits) == 0 && !bytes.Equal(out, src) {
		t.Fatalf("no edits but the output differs")
	}
	if got := undo(t, out, edits); !bytes.Equal(got, src) {
		t.Fatalf("undoing the edits does not give the input back (-want +got):\n%s", cmp.Diff(string(src), string(got)))
	}
	for _, e := range edits {
		if !bytes.Equal(src[e.Offset:e.Offset+len(e.Old)], []byte(e.Old)) {
			t.Fatalf("edit %+v: Old is not the source at Offset", e)
		}
		kept := e.Old
		if i := strings.LastIndex(kept, "@sha256:"); i >= 0 && len(kept)-i == len("@sha256:")+64 {
			kept = kept[:i]
		}
		// A digest held alone (ARG sha=sha256:…) is replaced in place.
		if strings.HasPrefix(e.Old, "sha256:") && len(e.Old) == len("sha256:")+64 && e.New == string(u.Digest) {
			continue
		}
		// A bare REPO also gains the tag it follows (REPO:latest@NEW).
		if e.New != kept+"@"+string(u.Digest) && e.New != kept+":"+u.Tag+"@"+string(u.Digest) {
			t.Fatalf("edit %+v does more than set the digest", e)
		}
	}
	again, edits2, _, err := Pin(out, u)
	if err != nil {
		t.Fatalf("Pin of the output: %v", err)
	}
	if len(edits2) != 0 || !bytes.Equal(again, out) {
		t.Fatalf("Pin is not idempotent: second pass made %+v", edits2)
	}
	return out, edits, skips
}

// undo rebuilds the input from the output by putting each edit's Old text
// back in place of its New text.
func undo(t testing.TB, out []byte, edits []Edit) []byte {
	t.Helper()
	var b bytes.Buffer
	shift := 0 // how much longer the output is than the input so far
	prev := 0
	for _, e := range edits {
		at := e.Offset + shift
		if at < prev || at+len(e.New) > len(out) || string(out[at:at+len(e.New)]) != e.New {
			t.Fatalf("edit %+v: New is not in the output at its place", e)
		}
		b.Write(out[prev:at])
		b.WriteString(e.Old)
		prev = at + len(e.New)
		shift += len(e.New) - len(e.Old)
	}
	b.Write(out[prev:])
	return b.Bytes()
}
