package imageref

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestR29_FuzzParseRefCorpus replays the committed corpus of FuzzParseRef
// (seeds and crashers in testdata/fuzz/FuzzParseRef) through the fuzz
// target's invariant, so a crasher stays fixed even where fuzzing never
// runs.
func TestR29_FuzzParseRefCorpus(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzParseRef", "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no committed corpus for FuzzParseRef (%v)", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			vals := readCorpusFile(t, f)
			if len(vals) != 1 {
				t.Fatalf("%d values, want 1", len(vals))
			}
			checkParseRef(t, vals[0])
		})
	}
}

// readCorpusFile decodes a "go test fuzz v1" file of quoted string or
// []byte values.
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
		if !ok || !strings.HasSuffix(lit, ")") || typ != "string" && typ != "[]byte" {
			t.Fatalf("%s: unsupported line %q", name, l)
		}
		v, err := strconv.Unquote(strings.TrimSuffix(lit, ")"))
		if err != nil {
			t.Fatalf("%s: %q: %v", name, l, err)
		}
		vals = append(vals, v)
	}
	return vals
}
