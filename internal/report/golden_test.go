package report_test

import (
	"bytes"
	"testing"

	"github.com/imagecascade/cascade/internal/manifests"
	"github.com/imagecascade/cascade/internal/report"
	"github.com/imagecascade/cascade/internal/report/reporttest"
)

// TestGolden renders the one report of reporttest.Run — every status,
// evidence kind, action and dispatch status, a multi-arch dependent,
// refusals, and a manifest update with a change, an inserted digest, a
// skipped reference and a file error — in every format, against
// testdata/golden (go test ./internal/report -update rewrites them).
func TestGolden(t *testing.T) {
	t.Parallel()
	formats := []struct {
		f   report.Format
		ext string
	}{{report.Text, "txt"}, {report.JSON, "json"}, {report.Markdown, "md"}}
	type render func(*bytes.Buffer, *report.Run, report.Format) error
	renderers := []struct {
		name   string
		render render
	}{
		{"plan", func(b *bytes.Buffer, r *report.Run, f report.Format) error { return report.Plan(b, r.Plan, f) }},
		{"run", func(b *bytes.Buffer, r *report.Run, f report.Format) error { return report.RunReport(b, r, f) }},
		{"update", func(b *bytes.Buffer, r *report.Run, f report.Format) error {
			m := r.Manifests
			return report.Update(b, m.Image, &manifests.Result{Files: m.Files}, m.DryRun, m.WriteBack, r.Plan.Workloads, f)
		}},
	}
	for _, rd := range renderers {
		for _, f := range formats {
			name := rd.name + "." + f.ext
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				var b bytes.Buffer
				if err := rd.render(&b, reporttest.Run(), f.f); err != nil {
					t.Fatal(err)
				}
				reporttest.Golden(t, name, b.String())
			})
		}
	}
	for _, command := range []string{"run", "plan"} {
		name := "summary-" + command + ".md"
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := reporttest.Run()
			if command == "plan" {
				r = &report.Run{SchemaVersion: 1, DryRun: true, Plan: r.Plan}
			}
			var b bytes.Buffer
			if err := report.StepSummary(&b, r, command); err != nil {
				t.Fatal(err)
			}
			reporttest.Golden(t, name, b.String())
		})
	}
}
