package b1_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imagecascade/cascade/bench/b1"
	"github.com/imagecascade/cascade/internal/cli"
)

// cascade runs the real CLI in-process, as the benchmark's script runs the
// binary.
func cascade(ctx context.Context, args []string) error {
	var out, errs bytes.Buffer
	if code := cli.Run(ctx, args, cli.Streams{Out: &out, Err: &errs}); code != 0 {
		return fmt.Errorf("cascade %s: exit %d: %s", strings.Join(args, " "), code, errs.String())
	}
	return nil
}

// TestHarnessAgainstCascade runs B1 end to end on a tiny tree against
// cascade alone (no peers needed): the expected tree the generator writes
// is exactly what cascade makes of the original, and the table renders.
func TestHarnessAgainstCascade(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	spec := b1.Spec{Files: 60, Targets: 12, Seed: 7, Padding: 0.3}
	wl, err := b1.Generate(dir, spec)
	if err != nil {
		t.Fatal(err)
	}
	if wl.MinimalBytes == 0 || wl.Bytes == 0 {
		t.Fatalf("empty workload: %+v", wl)
	}
	res, err := b1.Run(context.Background(), b1.Options{Workload: wl, Tools: []b1.Tool{b1.InProcess(cascade)}, Runs: 2, Work: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	c := res[0].Correct
	if !c.OnlyValues() || c.FilesChanged != spec.Targets || c.BytesChanged != wl.MinimalBytes {
		t.Errorf("cascade on the B1 tree: %+v, want %d files and %d bytes changed, nothing missed or wrong", c, spec.Targets, wl.MinimalBytes)
	}
	var table bytes.Buffer
	if err := b1.Table(&table, wl, 2, res); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "PASS  B1 diff = only the changed values") {
		t.Errorf("table:\n%s", table.String())
	}
}

// TestFloorWritesTheExpectedTree: the floor contender, told the answer,
// leaves exactly the expected tree (and its parse refuses what is not
// YAML, so it cannot skip the parsing unnoticed).
func TestFloorWritesTheExpectedTree(t *testing.T) {
	t.Parallel()
	spec := b1.Spec{Files: 60, Targets: 12, Seed: 7, Padding: 0.3}
	wl, err := b1.Generate(t.TempDir(), spec)
	if err != nil {
		t.Fatal(err)
	}
	floor := b1.Tool{Name: "floor", Func: func(ctx context.Context, tree string) error { return b1.Floor(ctx, tree, wl.Expected, true) }}
	res, err := b1.Run(context.Background(), b1.Options{Workload: wl, Tools: []b1.Tool{b1.InProcess(cascade), floor}, Runs: 1, Work: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if c := res[1].Correct; !c.OnlyValues() || c.FilesChanged != spec.Targets || c.BytesChanged != wl.MinimalBytes {
		t.Errorf("floor on the B1 tree: %+v, want %d files and %d bytes changed, nothing missed or wrong", c, spec.Targets, wl.MinimalBytes)
	}
	var table bytes.Buffer
	if err := b1.Table(&table, wl, 1, res); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "floor") {
		t.Errorf("table has no floor row:\n%s", table.String())
	}

	broken := t.TempDir()
	if err := os.WriteFile(filepath.Join(broken, "x.yaml"), []byte("image: "+b1.Repository+"\n  bad: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := b1.Floor(context.Background(), broken, broken, false); err == nil {
		t.Error("the floor parsed invalid YAML naming the image without an error")
	}
}

// TestGenerateIsDeterministic: the same spec writes the same trees.
func TestGenerateIsDeterministic(t *testing.T) {
	t.Parallel()
	spec := b1.Spec{Files: 30, Targets: 5, Seed: 3, Padding: 0.2}
	a, err := b1.Generate(t.TempDir(), spec)
	if err != nil {
		t.Fatal(err)
	}
	b, err := b1.Generate(t.TempDir(), spec)
	if err != nil {
		t.Fatal(err)
	}
	for _, pair := range [][2]string{{a.Original, b.Original}, {a.Expected, b.Expected}} {
		c, err := b1.Compare(pair[0], pair[0], pair[1])
		if err != nil {
			t.Fatal(err)
		}
		if c.FilesChanged != 0 || c.Extra != 0 || c.Wrong != 0 {
			t.Errorf("%s and %s differ: %+v", pair[0], pair[1], c)
		}
	}
}

// TestCompareCountsBytes checks the correctness columns on a hand-made
// tree: a missed file, a reformatted one and a stray temporary file.
func TestCompareCountsBytes(t *testing.T) {
	t.Parallel()
	orig, want, got := t.TempDir(), t.TempDir(), t.TempDir()
	write := func(dir string, files map[string]string) {
		for name, content := range files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(orig, map[string]string{"a.yaml": "image: x:1\n", "b.yaml": "image: x:1\n", "c.yaml": "k: v\n"})
	write(want, map[string]string{"a.yaml": "image: x:2\n", "b.yaml": "image: x:2\n", "c.yaml": "k: v\n"})
	write(got, map[string]string{"a.yaml": "image: x:1\n", "b.yaml": "image: \"x:2\"\n", "c.yaml": "k: v\n", ".tmp": ""})
	c, err := b1.Compare(orig, want, got)
	if err != nil {
		t.Fatal(err)
	}
	wantC := b1.Correctness{FilesChanged: 1, BytesChanged: 3, Missed: 1, Wrong: 1, BytesOff: 2, Extra: 1}
	if c != wantC {
		t.Errorf("Compare = %+v, want %+v", c, wantC)
	}
}
