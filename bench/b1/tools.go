package b1

import (
	"context"
	"fmt"
	"regexp"
	"strings"
)

// Binaries locates the contenders; an empty path leaves that tool out.
type Binaries struct {
	Cascade, Floor, Sed, Yq, Kustomize string
	// Expected is the expected tree, which the floor is given.
	Expected string
}

// Each script gets the tree as $1 and runs in it. The list of files to
// touch is computed inside the timed command, as a CI script would:
//
//   - sed: one grep over the YAML files for a tracking reference (REPO,
//     REPO:latest or REPO:latest@sha256:…, followed by a character that
//     cannot continue a name), then one sed -i over the files found,
//     replacing each by REPO:latest@NEW. Kustomizations are left to
//     kustomize, whose job they are.
//   - yq: the same file list, one yq -i per file (the loop a script
//     writes), setting every string scalar that is a tracking reference.
//   - kustomize: one kustomize edit set image in the folder of each
//     kustomization whose images name the repository.
var (
	refRE  = regexp.QuoteMeta(Repository) + `(:` + Tag + `)?(@sha256:[0-9a-f]{64})?`
	sedRE  = refRE + `([^-._:@/[:alnum:]]|$)`
	listed = `grep -rlZ -E --include='*.yaml' --include='*.yml' -e "$B1_SED_RE" . | grep -zv '/kustomization\.yaml$'`
)

// Tools returns the contenders whose binaries are set, cascade first, then
// the floor (b1.Floor; bench/cmd/b1floor).
func (b Binaries) Tools() []Tool {
	var tools []Tool
	if b.Cascade != "" {
		tools = append(tools, Tool{Name: "cascade", Script: `exec "$B1_CASCADE" update --image "$B1_IMAGE" --workspace "$1" >/dev/null`})
	}
	if b.Floor != "" {
		tools = append(tools, Tool{Name: "floor", Script: `exec "$B1_FLOOR" --expected "$B1_EXPECTED" "$1"`})
	}
	if b.Sed != "" {
		tools = append(tools, Tool{Name: "sed", Script: listed + ` | xargs -0 -r "$B1_SED" -i -E -e "s#$B1_SED_RE#$B1_IMAGE\3#g"`})
	}
	if b.Yq != "" {
		tools = append(tools, Tool{Name: "yq", Script: listed + ` | xargs -0 -r -n1 "$B1_YQ" -i "$B1_YQ_EXPR"`})
	}
	if b.Kustomize != "" {
		tools = append(tools, Tool{Name: "kustomize", Script: `grep -rlZ -E --include=kustomization.yaml -e "name: $B1_REPO_RE[[:space:]]*$" . |
while IFS= read -r -d '' f; do (cd "${f%/*}" && "$B1_KUSTOMIZE" edit set image "$B1_IMAGE") || exit 1; done`})
	}
	return tools
}

// Env is the environment the scripts read.
func (b Binaries) Env() []string {
	yqExpr := fmt.Sprintf(`(.. | select(tag == "!!str" and test("^%s$"))) |= "%s"`, strings.ReplaceAll(refRE, `\`, `\\`), Image())
	return []string{
		"B1_CASCADE=" + b.Cascade, "B1_FLOOR=" + b.Floor, "B1_EXPECTED=" + b.Expected, "B1_SED=" + b.Sed, "B1_YQ=" + b.Yq, "B1_KUSTOMIZE=" + b.Kustomize,
		"B1_IMAGE=" + Image(), "B1_REPO=" + Repository, "B1_REPO_RE=" + regexp.QuoteMeta(Repository),
		"B1_SED_RE=" + sedRE, "B1_YQ_EXPR=" + yqExpr,
	}
}

// InProcess is a Tool that runs fn (cascade's CLI entry point, in tests)
// with the arguments of the cascade script.
func InProcess(fn func(ctx context.Context, args []string) error) Tool {
	return Tool{Name: "cascade", Func: func(ctx context.Context, tree string) error {
		return fn(ctx, []string{"update", "--image", Image(), "--workspace", tree})
	}}
}
