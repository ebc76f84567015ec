package b6

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/random"
)

// TestHarness runs the start-up loop on two tiny commands and measures an
// OCI layout written here: the alternation, the table and the verdicts.
func TestHarness(t *testing.T) {
	t.Parallel()
	cmds := []Command{{Name: "cascade", Args: []string{"/bin/true"}}, {Name: "true", Args: []string{"/bin/sh", "-c", "exit 0"}}}
	starts, err := TimeStartup(context.Background(), cmds, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range starts {
		if len(s.Wall) != 3 || len(s.CPU) != 3 {
			t.Fatalf("%s: %d wall and %d CPU samples, want 3", s.Name, len(s.Wall), len(s.CPU))
		}
	}
	dir := filepath.Join(t.TempDir(), "oci")
	img, err := random.Image(1000, 2)
	if err != nil {
		t.Fatal(err)
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "cascade")
	if err := os.WriteFile(bin, make([]byte, 1234), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := measureLayout(dir, bin)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := img.Manifest()
	want := m.Config.Size + m.Layers[0].Size + m.Layers[1].Size
	if got.Bytes != want || got.Layers != 2 || got.Binary != 1234 {
		t.Errorf("measured %+v, want %d bytes in 2 layers, binary 1234", got, want)
	}
	var out bytes.Buffer
	if err := Table(&out, starts, 3, &got); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"B6 cascade version ≤ 30 ms", "B6 image ≤ 40 MB", "PASS", "2 layers"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, out.String())
		}
	}
	if v := Verdicts(starts, &got); len(v) != 2 || !v[1].Pass {
		t.Errorf("verdicts %+v", v)
	}
}
