package manifests

import (
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imagecascade/cascade/internal/imageref"
)

func TestMayName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, image, src string
		want             bool
	}{
		{"full reference", "registry.example.com/acme/app:1.0", "image: registry.example.com/acme/app:1.0\n", true},
		{"docker hub short name", "docker.io/library/nginx:1.27", "image: nginx\n", true},
		{"docker hub library path", "nginx:1.27", "image: library/nginx:1.27\n", true},
		{"helm repository split from registry", "registry.example.com/acme/app:1.0", "image:\n  registry: registry.example.com\n  repository: acme/app\n", true},
		{"imagestream trigger", "registry.example.com/acme/app:1.0", `triggers: '[{"from":{"kind":"ImageStreamTag","name":"app:1.0"}}]'`, true},
		{"at the end of the file", "registry.example.com/acme/app:1.0", "image: app", true},
		{"quoted", "registry.example.com/acme/app:1.0", `image: "app"`, true},
		{"longer repository", "registry.example.com/acme/app:1.0", "image: registry.example.com/acme/app-api:1.0\n", false},
		{"prefixed repository", "registry.example.com/acme/app:1.0", "image: registry.example.com/acme/my-app:1.0\n", false},
		{"underscore suffix", "registry.example.com/acme/shifts:1.0", "image: shifts_api\n", false},
		{"absent", "registry.example.com/acme/app:1.0", "image: nginx:1.27\n", false},
		{"an escape could spell it", "registry.example.com/acme/app:1.0", `image: "registry.example.com/acme/\x61pp:1.0"` + "\n", true},
		{"a later whole occurrence", "registry.example.com/acme/app:1.0", "a: app-api\nb: apps\nc: [app]\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := mayName([]byte(tt.src), imageref.MustParse(tt.image)); got != tt.want {
				t.Errorf("mayName(%q, %s) = %v, want %v", tt.src, tt.image, got, tt.want)
			}
		})
	}
}

func TestMayExceed(t *testing.T) {
	t.Parallel()
	lim := Limits{}.withDefaults()
	tests := []struct {
		name, src string
		want      bool
	}{
		{"plain manifest", podYAML, false},
		{"cron schedule and globs in quotes", "schedule: \"*/5 * * * *\"\npaths: ['**/*.yaml']\n# see **/x\n", false},
		{"arithmetic in a plain scalar", "expr: a*b\n", false},
		{"alias", "a: &x 1\nb: *x\n", true},
		{"alias in a flow sequence", "a: [*x]\n", true},
		{"alias after a sequence dash", "- *x\n", true},
		{"a quote inside a plain scalar hides nothing", "a: &x 1\nb: 5 \"\nc: *x\n", true},
		{"a quote after a word hides nothing", "a: it's\nb: *x\n", true},
		{"'' inside a single-quoted scalar", "a: ['it''s #', *x]\n", true},
		{"a quote never closed", "a: \"x\nb: *y\n", true},
		{"alias-like text in quotes after a tag", "a: !!str \"*x\"\n", false},
		{"alias-like text in quotes after an anchor", "a: &b '*x'\n", false},
		{"alias-like text in a flow sequence of quotes", "a: [\"*x\", '*y']\n", false},
		{"not UTF-8", "\xff\xfea\x00:\x00\n", true},
		{"flow nesting", strings.Repeat("[", 120) + strings.Repeat("]", 120), true},
		{"compact nesting", strings.Repeat("- ", 120) + "x\n", true},
		{"deep indentation", "a:\n" + strings.Repeat(" ", 60) + "b: c\n", true},
		{"many documents", strings.Repeat("---\na: b\n", lim.MaxDocuments), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := mayExceed([]byte(tt.src), lim); got != tt.want {
				t.Errorf("mayExceed(%q) = %v, want %v", tt.src, got, tt.want)
			}
		})
	}
}

// FuzzCanSkipParse: a file the default file set leaves unparsed would have
// changed nothing and reported nothing as skipped (whether it parses or
// not does not matter: in the default file set a file that cannot be
// parsed is skipped too).
func FuzzCanSkipParse(f *testing.F) {
	_ = filepath.WalkDir("testdata/golden", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Base(filepath.Dir(p)) != "expected" && isYAML(p) {
			if b, err := os.ReadFile(p); err == nil {
				for i := range len(prefilterImages) {
					f.Add(b, isKustomizationFile(p), uint8(i))
				}
			}
		}
		return nil
	})
	f.Add([]byte("a: &a [*a]\n"), false, uint8(0))
	f.Add([]byte("image: \"registry.example.com/acme/\\x61pp:1.0\"\n"), false, uint8(0))
	f.Fuzz(func(t *testing.T, src []byte, kustomization bool, which uint8) {
		image := imageref.MustParse(prefilterImages[int(which)%len(prefilterImages)])
		lim := Limits{MaxFileBytes: 1 << 20}.withDefaults()
		if !canSkipParse(src, image, lim) {
			return
		}
		out, objects, skipped, _, err := RewriteYAML(src, RewriteOptions{Image: image, Kustomization: kustomization, Limits: lim})
		if string(out) != string(src) || len(objects) > 0 || len(skipped) > 0 {
			t.Fatalf("skipped unparsed, but RewriteYAML changes %+v, skips %+v", objects, skipped)
		}
		_ = err
	})
}

var prefilterImages = []string{
	defaultImage,
	"nginx:1.27@" + newDigest,
	"registry.example.com/acme/unrelated:1.0@" + newDigest,
	"registry.example.com/acme/app-a:latest@" + newDigest,
}

// TestLineShapeBoundsFlowDepth: the cheap bound mayExceed tries first —
// every flow opener plus the longest compact run — is never below
// flowDepth, so skipping the exact scan can never let a deep file through.
func TestLineShapeBoundsFlowDepth(t *testing.T) {
	t.Parallel()
	alphabet := []byte("-?: \t\n[]{}\"'#\\ax")
	rng := rand.New(rand.NewPCG(1, 2))
	fixed := []string{"- - - - x\n", " \t - - [[{x}]]\n", "a: [\n  - - [b]\n]\n", "\"\\\n- - - x\"\n", "# [[[[\n- - x\n", "? - : - x\n"}
	for i := range 20000 {
		var src []byte
		if i < len(fixed) {
			src = []byte(fixed[i])
		} else {
			src = make([]byte, 1+rng.IntN(60))
			for j := range src {
				src[j] = alphabet[rng.IntN(len(alphabet))]
			}
		}
		_, run := lineShape(src)
		bound := strings.Count(string(src), "[") + strings.Count(string(src), "{") + run
		if d := flowDepth(src); d > bound {
			t.Fatalf("flowDepth(%q) = %d over the bound %d", src, d, bound)
		}
	}
}
