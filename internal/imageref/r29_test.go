package imageref

import (
	"github.com/imagecascade/cascade/internal/fuzzcorpus"
	"path/filepath"
	"testing"
)

// TestR29_FuzzParseRefCorpus replays the committed corpus of FuzzParseRef
// (seeds and crashers in testdata/fuzz/FuzzParseRef) through the fuzz
// target's invariant, so a crasher stays fixed even where fuzzing never
// runs.
func TestR29_FuzzParseRefCorpus(t *testing.T) {
	t.Parallel()
	files := fuzzcorpus.Files(t, "FuzzParseRef")
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			vals := fuzzcorpus.Read(t, f)
			if len(vals) != 1 {
				t.Fatalf("%d values, want 1", len(vals))
			}
			checkParseRef(t, vals[0])
		})
	}
}
