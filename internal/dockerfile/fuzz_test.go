package dockerfile

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/imagecascade/cascade/internal/imageref"
)

// fuzzImages are the updated images FuzzRewriteDockerfile pins to.
var fuzzImages = []imageref.Ref{
	imageref.MustParse(defaultPinImage),
	imageref.MustParse("alpine:3@sha256:" + newHex),
	imageref.MustParse("nginx@sha256:" + newHex),
	imageref.MustParse("localhost:5000/app:latest@sha256:" + newHex),
}

// addGoldenSeeds adds the golden Dockerfiles to the fuzz corpus; the
// committed corpus in testdata/fuzz holds the rest.
func addGoldenSeeds(f *testing.F, add func([]byte)) {
	files, _ := filepath.Glob(filepath.Join("testdata", "pin", "*", "Dockerfile"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		add(b)
	}
}

// FuzzParseDockerfile (R29): Parse never panics, stays within bounds, and
// what it reports is consistent.
func FuzzParseDockerfile(f *testing.F) {
	addGoldenSeeds(f, func(b []byte) { f.Add(b) })
	f.Fuzz(func(t *testing.T, src []byte) {
		file, err := Parse(src, ParseOptions{BuildArgs: map[string]string{"TARGETARCH": "amd64"}})
		if err != nil {
			return
		}
		for _, b := range file.Bases {
			if b.Stage < 0 || b.Stage >= len(file.Stages) || b.Line < 1 {
				t.Fatalf("base %+v out of range (%d stages)", b, len(file.Stages))
			}
		}
		for i, s := range file.Stages {
			if s.Index != i || s.FromStage >= i {
				t.Fatalf("stage %+v inconsistent", s)
			}
		}
	})
}

// FuzzRewriteDockerfile (R29): Pin never panics and never fails on a
// Dockerfile that parses; its output parses; only the reference bytes
// change (undoing the edits gives the input back); it is idempotent.
func FuzzRewriteDockerfile(f *testing.F) {
	addGoldenSeeds(f, func(b []byte) {
		for i := range fuzzImages {
			f.Add(b, uint8(i))
		}
	})
	f.Fuzz(func(t *testing.T, src []byte, which uint8) {
		u := fuzzImages[int(which)%len(fuzzImages)]
		if _, err := Parse(src, ParseOptions{}); err != nil {
			if _, _, _, perr := Pin(src, u); perr == nil {
				t.Fatalf("Pin accepted a Dockerfile Parse rejects: %v", err)
			}
			return
		}
		checkPin(t, src, u)
	})
}
