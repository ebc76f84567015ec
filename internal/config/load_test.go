package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/imagecascade/cascade/internal/exitcode"
)

func TestExampleParsesAndValidates(t *testing.T) {
	t.Parallel()
	c := exampleConfig(t)
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate(example) = %v", err)
	}
	var kinds []string
	for _, img := range c.Images {
		kinds = append(kinds, img.Name+"="+img.Rebuild.Kind())
	}
	want := []string{"httpd-base=github", "app-a=tekton", "app-b=github", "app-c=webhook", "static-site=rebase"}
	if diff := cmp.Diff(want, kinds); diff != "" {
		t.Errorf("images (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(DefaultLimits(), c.Limits); diff != "" {
		t.Errorf("limits (-want +got):\n%s", diff)
	}
	appB, ok := c.ImageByName("app-b")
	if !ok {
		t.Fatal("ImageByName(app-b) not found")
	}
	wantGH := &GitHub{Repository: "acme/app-b", Workflow: "build.yml", Ref: "main", Inputs: map[string]string{"base-image": "{{ .Base.Ref }}"}}
	if diff := cmp.Diff(wantGH, appB.Rebuild.GitHub); diff != "" {
		t.Errorf("app-b github (-want +got):\n%s", diff)
	}
	if _, ok := c.ImageByName("app"); ok {
		t.Error("ImageByName(app) found an image; names match exactly")
	}
	// Example returns a copy: the embedded bytes cannot be changed through it.
	b := Example()
	b[0] = 'X'
	if Example()[0] == 'X' {
		t.Error("Example() shares its backing array")
	}
}

func TestParseDefaults(t *testing.T) {
	t.Parallel()
	const in = `version: 1
images:
  - name: a
    image: registry.example.com/a
    rebuild: {github: {repository: acme/a}}
  - name: b
    image: registry.example.com/b
    rebuild: {github: {repository: acme/b, workflow: build.yml}}
  - name: c
    image: registry.example.com/c
    rebuild:
      rebase:
  - name: d
    image: registry.example.com/d
    rebuild:
      tekton:
        namespace: ci
        pipeline: build
        workspaces:
          - name: scratch
            emptyDir:
limits:
  maxDepth: 3
`
	c, err := Parse([]byte(in), "cascade.yaml")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got := c.Images[0].Rebuild.GitHub.Event; got != DefaultEvent {
		t.Errorf("event = %q, want %q", got, DefaultEvent)
	}
	if got := c.Images[0].Rebuild.GitHub.Ref; got != "" {
		t.Errorf("repository_dispatch ref = %q, want empty", got)
	}
	if g := c.Images[1].Rebuild.GitHub; g.Ref != DefaultRef || g.Event != "" || !g.IsWorkflowDispatch() {
		t.Errorf("workflow_dispatch = %+v, want ref %q and no event", g, DefaultRef)
	}
	if c.Images[2].Rebuild.Rebase == nil {
		t.Error("`rebase:` with no value did not count as set")
	}
	if c.Images[3].Rebuild.Tekton.Workspaces[0].EmptyDir == nil {
		t.Error("`emptyDir:` with no value did not count as set")
	}
	if diff := cmp.Diff(Limits{MaxDispatches: DefaultMaxDispatches, MaxDepth: 3}, c.Limits); diff != "" {
		t.Errorf("limits (-want +got):\n%s", diff)
	}
}

func TestApplyDefaults(t *testing.T) {
	t.Parallel()
	c := &Config{Images: []Image{{Rebuild: Rebuild{GitHub: &GitHub{}}}, {Rebuild: Rebuild{Rebase: &Rebase{}}}}}
	c.ApplyDefaults()
	want := &Config{
		Images: []Image{{Rebuild: Rebuild{GitHub: &GitHub{Event: DefaultEvent}}}, {Rebuild: Rebuild{Rebase: &Rebase{}}}},
		Limits: Limits{MaxDispatches: 50, MaxDepth: 10},
	}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("ApplyDefaults (-want +got):\n%s", diff)
	}
}

// header is a valid start that test inputs extend with one more image.
const header = `version: 1
images:
  - name: base
    image: registry.example.com/base
    rebuild: {rebase: {}}
`

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    []string // field paths, in order
		wantMsg string   // a substring of the error
	}{
		{
			name: "unknown top-level key",
			in:   header + "imagez: []\n",
			want: []string{"imagez"}, wantMsg: "imagez: unknown field (line 6)",
		},
		{
			name: "unknown key in a flow mapping",
			in: header + `  - name: app
    image: registry.example.com/app
    rebuild:
      github: {repository: acme/app, evnt: x}
`,
			want: []string{"images[1].rebuild.github.evnt"}, wantMsg: "images[1].rebuild.github.evnt: unknown field (line 9)",
		},
		{
			name: "wrong case is unknown, with a hint",
			in: header + `  - name: app
    image: registry.example.com/app
    rebuild:
      tekton: {namespace: ci, pipeline: p, serviceaccount: b}
`,
			want: []string{"images[1].rebuild.tekton.serviceaccount"}, wantMsg: "did you mean serviceAccount?",
		},
		{
			name: "unknown key and a validation error together",
			in: header + `  - name: app
    image: registry.example.com/app
    rebuild:
      tekton: {namespace: ci, pipline: p}
`,
			want:    []string{"images[1].rebuild.tekton.pipline", "images[1].rebuild.tekton.pipeline"},
			wantMsg: "images[1].rebuild.tekton.pipeline: required (or pipelineRef) (line 9)",
		},
		{
			name: "duplicate key",
			in:   header + "limits: {maxDepth: 3, maxDepth: 4}\n",
			want: []string{"limits.maxDepth"}, wantMsg: "duplicate key",
		},
		{
			name: "scalar where a list belongs",
			in: header + `  - name: app
    image: registry.example.com/app
    from: registry.example.com/base
    rebuild: {rebase: {}}
`,
			want: []string{"images[1].from"}, wantMsg: "images[1].from: want a list, got a scalar (!!str) (line 8)",
		},
		{
			name: "string where an integer belongs is not also required",
			in:   strings.Replace(header, "version: 1", "version: one", 1),
			want: []string{"version"}, wantMsg: "version: want an integer",
		},
		{
			name: "list where a mapping belongs",
			in:   header + "limits: [1, 2]\n",
			want: []string{"limits"}, wantMsg: "want a mapping, got a list",
		},
		{
			name: "explicit zero limit is refused, not defaulted",
			in:   header + "limits: {maxDispatches: 0}\n",
			want: []string{"limits.maxDispatches"}, wantMsg: "limits.maxDispatches: must be at least 1, got 0 (line 6)",
		},
		{
			name: "template error names the field",
			in: header + `  - name: app
    image: registry.example.com/app
    rebuild:
      github:
        repository: acme/app
        workflow: build.yml
        inputs:
          base: "{{ .Base.Nope }}"
`,
			want:    []string{"images[1].rebuild.github.inputs[base]"},
			wantMsg: "can't evaluate field Nope",
		},
		{name: "syntax error", in: header + "limits: {maxDepth: 3\n", wantMsg: "parsing config cascade.yaml: yaml: line"},
		{name: "empty", in: "", wantMsg: "empty document"},
		{name: "comments only", in: "# nothing\n", wantMsg: "empty document"},
		{name: "two documents", in: header + "---\nversion: 1\n", wantMsg: "line 6: more than one YAML document"},
		{name: "top-level list", in: "- a\n", wantMsg: "must be a mapping"},
		{
			name:    "alias bomb",
			in:      header + aliasBomb(),
			wantMsg: "parsing config cascade.yaml",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Parse([]byte(tt.in), "cascade.yaml")
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", c)
			}
			if diff := cmp.Diff(tt.want, paths(err)); diff != "" {
				t.Errorf("paths (-want +got):\n%s\nerror: %v", diff, err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not contain %q", err, tt.wantMsg)
			}
			if got := exitcode.Of(err); got != exitcode.Invalid {
				t.Errorf("exitcode.Of = %d, want %d", got, exitcode.Invalid)
			}
		})
	}
}

// aliasBomb is a "billion laughs" image whose volumeClaimTemplate (passed
// through as written, so the schema check does not look inside) expands to
// 10^10 strings.
func aliasBomb() string {
	var b strings.Builder
	b.WriteString("  - name: bomb\n    image: registry.example.com/bomb\n    rebuild:\n      tekton:\n")
	b.WriteString("        namespace: ci\n        pipeline: p\n        workspaces:\n          - name: w\n")
	b.WriteString("            volumeClaimTemplate:\n")
	b.WriteString("              l0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&b, "              l%d: &a%d [", i, i)
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*a%d", i-1)
		}
		b.WriteString("]\n")
	}
	return b.String()
}

func TestParseHostileInputIsBounded(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"alias bomb", header + aliasBomb(), "excessive aliasing"},
		{"deep nested", header + "limits: " + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + "\n", "limits: want a mapping, got a list"},
		{"too deep", header + "limits: " + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + "\n", "exceeded max depth of 10000"},
		{"many docs", strings.Repeat("---\na: 1\n", 10000), "more than one YAML document"},
		{"many keys", manyKeys("", 30000), "hostile.yaml:\nmore than 256 keys (line 1)"},
		{"many keys passed through", header + `  - name: t
    image: registry.example.com/t
    rebuild:
      tekton:
        namespace: ci
        pipeline: p
        workspaces:
          - name: w
            volumeClaimTemplate: {spec: ` + manyFlowKeys(30000) + `}
`, "images[1].rebuild.tekton.workspaces[0].volumeClaimTemplate[spec]: more than 256 keys (line 14)"},
		{"many inputs", header + `  - name: g
    image: registry.example.com/g
    rebuild:
      github:
        repository: a/b
        workflow: w.yml
        inputs: ` + manyFlowKeys(30000) + `
`, "images[1].rebuild.github.inputs: more than 256 keys (line 12)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Not parallel: these are the heavy inputs, and the time bound
			// is about this test's own work.
			start := time.Now()
			_, err := Parse([]byte(tt.in), "hostile.yaml")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse = %.300v, want an error containing %q", err, tt.want)
			}
			if got := exitcode.Of(err); got != exitcode.Invalid {
				t.Errorf("exitcode.Of = %d, want %d", got, exitcode.Invalid)
			}
			// Generous for loaded machines and -race: what it catches is
			// superlinear work (the decoder's duplicate-key check made a
			// 1 MiB mapping take minutes), not a slow parser.
			if d := time.Since(start); d > 30*time.Second {
				t.Errorf("Parse took %v", d)
			}
		})
	}
}

// manyKeys is a block mapping of n keys, each line indented by indent.
func manyKeys(indent string, n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "%sk%d: 1\n", indent, i)
	}
	return b.String()
}

// manyFlowKeys is a flow mapping of n keys.
func manyFlowKeys(n int) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		fmt.Fprintf(&b, "k%d: 1, ", i)
	}
	b.WriteString("}")
	return b.String()
}

func TestParseRefusesOversize(t *testing.T) {
	t.Parallel()
	data := []byte(header + "#" + strings.Repeat("x", MaxFileSize) + "\n")
	_, err := Parse(data, "big.yaml")
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("larger than %d bytes", MaxFileSize)) {
		t.Fatalf("Parse = %v, want a size refusal", err)
	}
	if got := exitcode.Of(err); got != exitcode.Invalid {
		t.Errorf("exitcode.Of = %d, want %d", got, exitcode.Invalid)
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	big := filepath.Join(dir, "big.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	writeFile(t, good, string(Example()))
	writeFile(t, big, header+"#"+strings.Repeat("x", MaxFileSize)+"\n")
	writeFile(t, bad, header+"bogus: 1\n")

	c, err := Load(good)
	if err != nil {
		t.Fatalf("Load(good) = %v", err)
	}
	if len(c.Images) != 5 {
		t.Errorf("Load(good) has %d images, want 5", len(c.Images))
	}

	for _, tt := range []struct{ path, want string }{
		{big, fmt.Sprintf("larger than %d bytes", MaxFileSize)},
		{bad, "bad.yaml:\nbogus: unknown field (line 6)"},
		{filepath.Join(dir, "missing.yaml"), "no such file"},
		{dir, "not a regular file"},
	} {
		_, err := Load(tt.path)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Load(%s) = %v, want an error containing %q", tt.path, err, tt.want)
		}
		if got := exitcode.Of(err); got != exitcode.Invalid {
			t.Errorf("Load(%s): exitcode.Of = %d, want %d", tt.path, got, exitcode.Invalid)
		}
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFind(t *testing.T) {
	t.Parallel()
	both := t.TempDir()
	writeFile(t, filepath.Join(both, "cascade.yaml"), header)
	writeFile(t, filepath.Join(both, ".github", "cascade.yaml"), header)
	githubOnly := t.TempDir()
	writeFile(t, filepath.Join(githubOnly, ".github", "cascade.yaml"), header)
	dirNamed := t.TempDir()
	writeFile(t, filepath.Join(dirNamed, "cascade.yaml", "x"), "")
	writeFile(t, filepath.Join(dirNamed, ".github", "cascade.yaml"), header)
	empty := t.TempDir()
	explicit := filepath.Join(empty, "other.yaml")
	writeFile(t, explicit, header)

	tests := []struct {
		name, workspace, explicit, want string
	}{
		{"workspace root first", both, "", filepath.Join(both, "cascade.yaml")},
		{"then .github", githubOnly, "", filepath.Join(githubOnly, ".github", "cascade.yaml")},
		{"a directory is not a config", dirNamed, "", filepath.Join(dirNamed, ".github", "cascade.yaml")},
		{"explicit wins", both, explicit, explicit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Find(tt.workspace, tt.explicit)
			if err != nil {
				t.Fatalf("Find: %v", err)
			}
			if got != tt.want {
				t.Errorf("Find = %q, want %q", got, tt.want)
			}
		})
	}

	t.Run("not found says where it looked", func(t *testing.T) {
		t.Parallel()
		_, err := Find(empty, "")
		if !errors.Is(err, ErrNotFound) {
			t.Fatalf("Find = %v, want ErrNotFound", err)
		}
		for _, p := range []string{filepath.Join(empty, "cascade.yaml"), filepath.Join(empty, ".github", "cascade.yaml")} {
			if !strings.Contains(err.Error(), p) {
				t.Errorf("error %q does not name %s", err, p)
			}
		}
		if got := exitcode.Of(err); got != exitcode.Invalid {
			t.Errorf("exitcode.Of = %d, want %d", got, exitcode.Invalid)
		}
	})
	t.Run("missing explicit is not ErrNotFound", func(t *testing.T) {
		t.Parallel()
		_, err := Find(both, filepath.Join(empty, "nope.yaml"))
		if err == nil || errors.Is(err, ErrNotFound) {
			t.Fatalf("Find = %v, want an error that is not ErrNotFound", err)
		}
		if got := exitcode.Of(err); got != exitcode.Invalid {
			t.Errorf("exitcode.Of = %d, want %d", got, exitcode.Invalid)
		}
	})
	t.Run("explicit directory", func(t *testing.T) {
		t.Parallel()
		if _, err := Find(both, empty); err == nil || exitcode.Of(err) != exitcode.Invalid {
			t.Errorf("Find(dir) = %v, want an invalid-input error", err)
		}
	})
}

func TestParseMergeKeys(t *testing.T) {
	t.Parallel()
	const in = `version: 1
images:
  - &base {name: a, image: registry.example.com/a, rebuild: {rebase: {}}}
  - <<: *base
    name: b
    image: registry.example.com/b
`
	c, err := Parse([]byte(in), "cascade.yaml")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got := c.Images[1].Rebuild.Kind(); got != "rebase" {
		t.Errorf("merged rebuild kind = %q, want rebase", got)
	}

	// An unknown key arriving through a merge is caught by the decoder and
	// placed by its line.
	_, err = Parse([]byte(in+"  - <<: {name: c, image: registry.example.com/c, bogus: 1}\n    rebuild: {rebase: {}}\n"), "cascade.yaml")
	fes := FieldErrors(err)
	if len(fes) != 1 || fes[0].Path != "images[2]" || fes[0].Line != 7 || !strings.Contains(fes[0].Msg, "field bogus not found") {
		t.Errorf("Parse = %v, want one error at images[2], line 7, about bogus", err)
	}
}

// TestParseUnknownKeyThroughIndirection: a key unknown where it lands is
// refused also when it comes through a merge key with no alias in the file,
// or through an alias of a mapping defined where that key is known.
func TestParseUnknownKeyThroughIndirection(t *testing.T) {
	t.Parallel()
	for name, in := range map[string]string{
		"merge of a flow mapping": `version: 1
images:
  - <<: {name: c, image: registry.example.com/c, bogus: 1}
    rebuild: {rebase: {}}
`,
		"alias of a mapping known elsewhere": `version: 1
images:
  - name: a
    image: registry.example.com/a
    rebuild:
      github: &gh {repository: acme/a, event: built}
  - name: b
    image: registry.example.com/b
    rebuild:
      tekton: *gh
`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(in), "cascade.yaml")
			if err == nil || !strings.Contains(err.Error(), "not found") {
				t.Errorf("Parse = %v, want an unknown-field error", err)
			}
		})
	}
}

// TestParseLargeStream: a stream of thousands of images (B5 of
// docs/benchmarks.md plans 10,000), one block per image as in the example, is
// over 1 MiB and loads.
func TestParseLargeStream(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("version: 1\nimages:\n")
	const n = 6500
	for i := range n {
		fmt.Fprintf(&b, "  - name: app-%05d\n    image: registry.example.com/acme/app-%05d:latest\n", i, i)
		fmt.Fprintf(&b, "    from: [registry.example.com/acme/app-%05d:latest]\n", i/2)
		fmt.Fprintf(&b, "    rebuild: {github: {repository: acme/app-%05d}}\n", i)
	}
	if b.Len() <= 1<<20 {
		t.Fatalf("%d bytes: not over 1 MiB", b.Len())
	}
	c, err := Parse([]byte(b.String()), "stream.yaml")
	if err != nil {
		t.Fatalf("Parse(%d bytes): %.300v", b.Len(), err)
	}
	if len(c.Images) != n {
		t.Errorf("%d images, want %d", len(c.Images), n)
	}
}

// TestFindRelativeConfigInWorkspace: a relative --config is looked up in
// the workspace, not the current directory, and a missing one is named by
// its absolute path.
func TestFindRelativeConfigInWorkspace(t *testing.T) {
	t.Parallel()
	ws := t.TempDir()
	if err := os.WriteFile(filepath.Join(ws, "other.yaml"), []byte("version: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := Find(ws, "other.yaml")
	if err != nil || got != filepath.Join(ws, "other.yaml") {
		t.Errorf("Find = %q, %v; want the workspace's other.yaml", got, err)
	}
	_, err = Find(ws, "missing.yaml")
	if err == nil || !strings.Contains(err.Error(), filepath.Join(ws, "missing.yaml")) {
		t.Errorf("error %v does not name the absolute path looked at", err)
	}
	if abs := filepath.Join(ws, "other.yaml"); true {
		if got, err := Find("/nonexistent", abs); err != nil || got != abs {
			t.Errorf("an absolute --config: %q, %v", got, err)
		}
	}
}
