package dockerfile

import (
	"github.com/imagecascade/cascade/internal/fuzzcorpus"
	"path/filepath"
	"strconv"
	"testing"
)

// TestR29_FuzzRewriteDockerfileCorpus replays the committed corpus of
// FuzzRewriteDockerfile (testdata/fuzz) through the fuzz target's
// invariants — Pin fails exactly where Parse does; otherwise its output
// parses, only the references change, and it is idempotent — so seeds and
// crashers keep holding where fuzzing never runs.
func TestR29_FuzzRewriteDockerfileCorpus(t *testing.T) {
	t.Parallel()
	files := fuzzcorpus.Files(t, "FuzzRewriteDockerfile")
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			vals := fuzzcorpus.Read(t, f)
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
