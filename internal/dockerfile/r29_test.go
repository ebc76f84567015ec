package dockerfile

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestR29_FuzzRewriteDockerfileCorpus replays the committed corpus of
// FuzzRewriteDockerfile (testdata/fuzz) through the fuzz target's
// invariants — Pin fails exactly where Parse does; otherwise its output
// parses, only the references change, and it is idempotent — so seeds and
// crashers keep holding where fuzzing never runs.
func TestR29_FuzzRewriteDockerfileCorpus(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzRewriteDockerfile", "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no committed corpus for FuzzRewriteDockerfile (%v)", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			vals := readCorpusFile(t, f)
			if len(vals) != 2 {
				t.Fatalf("%d values, want 2", len(vals))
			}
			which, err := strconv.ParseUint(vals[1], 10, 8)
			if err != nil {
				t.Fatalf("second value %q: %v", vals[1], err)
			}
			src := []byte(vals[0])
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
}

// readCorpusFile decodes a "go test fuzz v1" file: quoted string and
// []byte values are unquoted, numbers and booleans returned as written.
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
