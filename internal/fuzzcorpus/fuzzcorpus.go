// Package fuzzcorpus reads the committed corpora of Go fuzz targets
// (testdata/fuzz/<Target>/*, "go test fuzz v1" files) so plain tests can
// replay seeds and crashers through a target's invariants where fuzzing
// never runs. Import it only from tests.
package fuzzcorpus

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Files lists the corpus files of target in the package's testdata; an
// empty corpus fails the test.
func Files(t testing.TB, target string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", target, "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no committed corpus for %s (%v)", target, err)
	}
	return files
}

// Read decodes one corpus file: quoted string and []byte values are
// unquoted; numbers and booleans are returned as written.
func Read(t testing.TB, name string) []string {
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
