package report

import (
	"fmt"
	"io"

	"github.com/imagecascade/cascade/internal/plan"
)

// anyDiscovered reports whether a dependent of p was declared outside the
// base's config (internal/discover): then text and Markdown show where
// each one was declared. JSON always carries declaredBy.
func anyDiscovered(p *plan.Plan) bool {
	for _, d := range p.Dependents {
		if d.DeclaredBy != "" && d.DeclaredBy != "config" {
			return true
		}
	}
	return false
}

func declaredHeader(on bool, sep string) string {
	if !on {
		return ""
	}
	if sep == "\t" {
		return "DECLARED BY" + sep
	}
	return "declared by" + sep
}

func declaredRule(on bool) string {
	if !on {
		return ""
	}
	return "---|"
}

func declaredCell(on bool, d plan.Dependent, sep string) string {
	if !on {
		return ""
	}
	return dash(d.DeclaredBy) + sep
}

func mdDeclaredCell(on bool, d plan.Dependent) string {
	if !on {
		return ""
	}
	return "`" + mdCode(dash(d.DeclaredBy)) + "` | "
}

func declaredBlank(on bool, sep string) string {
	if !on {
		return ""
	}
	return sep
}

// skippedDeclarations lists the declarations discovery left out, each with
// its source and field path.
func skippedDeclarations(w io.Writer, p *plan.Plan, md bool) {
	if len(p.SkippedDeclarations) == 0 {
		return
	}
	const heading = "Declarations skipped (not part of this run)"
	if md {
		fmt.Fprintf(w, "\n**%s:**\n", heading)
	} else {
		fmt.Fprintf(w, "\n%s:\n", heading)
	}
	for _, s := range p.SkippedDeclarations {
		where := s.Source
		if s.Path != "" {
			where += ": " + s.Path
		}
		if md {
			fmt.Fprintf(w, "- `%s`: %s\n", mdCode(where), mdCell(s.Reason))
		} else {
			fmt.Fprintf(w, "  - %s: %s\n", where, oneLine(s.Reason))
		}
	}
}
