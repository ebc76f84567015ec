package action

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/imagecascade/cascade/internal/redact"
	"github.com/imagecascade/cascade/internal/report"
	"github.com/imagecascade/cascade/internal/report/reporttest"
)

// TestGoldenOutputs renders the Action outputs and the Tekton results of
// reporttest.Run — every status and dispatch status, a rebased image's plan,
// changed manifests and a pull request — and of a plan alone, against
// testdata/golden (go test ./internal/action -run Golden -update rewrites
// them). One line per output or result: NAME=value.
func TestGoldenOutputs(t *testing.T) {
	t.Parallel()
	reports := []struct {
		name string
		run  func() *report.Run
	}{
		{"run", reporttest.Run},
		{"plan", func() *report.Run {
			return &report.Run{SchemaVersion: 1, DryRun: true, Plan: reporttest.Run().Plan}
		}},
		{"none", func() *report.Run { return nil }},
	}
	for _, r := range reports {
		t.Run("outputs-"+r.name, func(t *testing.T) {
			t.Parallel()
			outs, err := outputs(r.run())
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			for _, o := range outs {
				fmt.Fprintf(&b, "%s=%s\n", o[0], o[1])
			}
			reporttest.Golden(t, "outputs-"+r.name+".txt", b.String())
		})
		t.Run("tekton-"+r.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if err := writeTektonResults(dir, r.run(), redact.New()); err != nil {
				t.Fatal(err)
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			names := make([]string, 0, len(entries))
			for _, e := range entries {
				names = append(names, e.Name())
			}
			sort.Strings(names)
			var b strings.Builder
			for _, n := range names {
				v, err := os.ReadFile(filepath.Join(dir, n))
				if err != nil {
					t.Fatal(err)
				}
				fmt.Fprintf(&b, "%s=%s\n", n, v)
			}
			reporttest.Golden(t, "tekton-"+r.name+".txt", b.String())
		})
	}
}
