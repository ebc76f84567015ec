package cli

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/imagecascade/cascade/internal/exitcode"
)

// ruleKind is what a flag's value is held to.
type ruleKind int

const (
	// ruleInt: an integer within [min, max] (max 0: no upper bound).
	ruleInt ruleKind = iota
	// ruleEnum: one of values, compared without regard to case and
	// stored in lower case.
	ruleEnum
	// ruleDuration: a duration, never negative; positive too when min is 1.
	ruleDuration
	// ruleText: free text the command itself parses (a reference, a path,
	// JSON); named here so that every flag is classified.
	ruleText
)

// flagRule is the one rule a flag's value — from the command line or from
// its CASCADE_ variable alike — must meet.
type flagRule struct {
	kind     ruleKind
	min, max int
	values   []string
	// unset: the default that stands for "not given" and need not meet
	// the rule (checkFlags checks only values given).
	unset string
	// why: for ruleText, who checks the value; for the others, a hint
	// added to the message.
	why string
}

// flagRules holds every flag that takes a value, keyed by "COMMAND/FLAG"
// (the command's name, or * for any command). Boolean flags need no
// rule: their parser takes only true/false (and 1/0, t/f). A flag not
// in this table fails TestEveryFlagHasARule.
var flagRules = map[string]flagRule{
	// Global.
	"*/log-level":             {kind: ruleEnum, values: []string{"debug", "info", "warn", "error"}},
	"*/timeout":               {kind: ruleDuration},
	"*/registry-retry-budget": {kind: ruleDuration},

	// Output formats, per command.
	"plan/output":    {kind: ruleEnum, values: []string{"text", "json", "markdown"}},
	"run/output":     {kind: ruleEnum, values: []string{"text", "json", "markdown"}},
	"update/output":  {kind: ruleEnum, values: []string{"text", "json", "markdown"}},
	"import/output":  {kind: ruleEnum, values: []string{"text", "json", "markdown"}},
	"history/output": {kind: ruleEnum, values: []string{"text", "json"}},
	"graph/output":   {kind: ruleEnum, values: []string{"mermaid", "dot", "json"}},

	// Write-back.
	"*/write": {kind: ruleEnum, values: []string{"none", "commit", "pull-request"}},

	// Limits.
	"*/max-dispatches": {kind: ruleInt, min: 1, unset: "0", why: "leave it unset to use limits.maxDispatches"},
	"history/limit":    {kind: ruleInt, min: 1, max: maxHistoryLimit},
	"*/claim-settle":   {kind: ruleDuration, min: 1},

	// Free text, checked where it is used.
	"*/image":           {kind: ruleText, why: "a reference, parsed by imageref (exit 2)"},
	"*/digest":          {kind: ruleText, why: "a digest, parsed by imageref (exit 2)"},
	"*/config":          {kind: ruleText, why: "a path, relative to the workspace"},
	"*/workspace":       {kind: ruleText, why: "a folder"},
	"*/paths":           {kind: ruleText, why: "globs inside the workspace (exit 5 outside)"},
	"*/branch":          {kind: ruleText, why: "a branch name, checked by git"},
	"*/repository":      {kind: ruleText, why: "owner/name, checked by writeFlags.validate"},
	"*/base":            {kind: ruleText, why: "a branch name, checked by the GitHub API"},
	"*/github-api-url":  {kind: ruleText, why: "a URL, checked by githubapi and the outbound policy"},
	"*/kubeconfig":      {kind: ruleText, why: "a path, loaded by client-go"},
	"*/cascade-context": {kind: ruleText, why: "JSON, parsed by incomingCascade (exit 2)"},
	"*/tekton-results":  {kind: ruleText, why: "a folder"},
}

// ruleFor returns the rule of a command's flag.
func ruleFor(cmd, flag string) (flagRule, bool) {
	if r, ok := flagRules[cmd+"/"+flag]; ok {
		return r, true
	}
	r, ok := flagRules["*/"+flag]
	return r, ok
}

// envAnnotation marks a flag whose value came from its CASCADE_ variable
// (set by envFallback), so that a refusal names the variable.
const envAnnotation = "cascade-env"

// checkFlags holds every flag given — on the command line or through its
// CASCADE_ variable — to its rule in flagRules. Every violation is listed
// in one message, each as "--FLAG VALUE: what is wanted"; the result is
// invalid input (exit 2), checked before the command does anything.
// Defaults are not checked (TestEveryFlagHasARule checks them once).
func checkFlags(cmd *cobra.Command) error {
	var errs []string
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if !f.Changed {
			return
		}
		r, ok := ruleFor(cmd.Name(), f.Name)
		if !ok {
			return
		}
		norm, msg := r.check(f.Value.String())
		if msg != "" {
			src := ""
			if env := f.Annotations[envAnnotation]; len(env) > 0 {
				src = " (from " + env[0] + ")"
			}
			errs = append(errs, fmt.Sprintf("--%s %s%s: %s", f.Name, f.Value.String(), src, msg))
			return
		}
		if norm != f.Value.String() {
			_ = f.Value.Set(norm)
		}
	})
	if len(errs) > 0 {
		return exitcode.AsInvalid(errors.New(strings.Join(errs, "; ")))
	}
	return nil
}

// check returns the value as the command should see it (an enum in lower
// case), or what is wrong with it.
func (r flagRule) check(v string) (string, string) {
	hint := ""
	if r.why != "" {
		hint = " (" + r.why + ")"
	}
	switch r.kind {
	case ruleInt:
		n, err := strconv.Atoi(v)
		if err != nil {
			return v, "want an integer"
		}
		if n < r.min || (r.max > 0 && n > r.max) {
			return v, "want " + r.describe() + hint
		}
	case ruleEnum:
		for _, a := range r.values {
			if strings.EqualFold(v, a) {
				return a, ""
			}
		}
		return v, "want " + r.describe() + hint
	case ruleDuration:
		d, err := time.ParseDuration(v)
		if err != nil {
			return v, "want a duration such as 30s or 5m"
		}
		if d < 0 {
			return v, "must not be negative" + hint
		}
		if r.min > 0 && d == 0 {
			return v, "must be positive" + hint
		}
	}
	return v, ""
}

// describe says in words what the rule allows (also used by the docs test).
func (r flagRule) describe() string {
	switch r.kind {
	case ruleInt:
		if r.max > 0 {
			return fmt.Sprintf("%d to %d", r.min, r.max)
		}
		return fmt.Sprintf("%d or more", r.min)
	case ruleEnum:
		if len(r.values) == 1 {
			return r.values[0]
		}
		return "one of " + strings.Join(r.values, ", ")
	case ruleDuration:
		if r.min > 0 {
			return "a positive duration"
		}
		return "a duration, 0 or more"
	}
	return "text: " + r.why
}

// unparsable is the message for a value a flag's own parser refused (not
// an integer, not a duration, not a boolean), in the same shape as a rule's.
func unparsable(cmd string, f *pflag.Flag, v, src string) string {
	want := "want a " + f.Value.Type()
	switch f.Value.Type() {
	case "int":
		want = "want an integer"
		if r, ok := ruleFor(cmd, f.Name); ok && r.kind == ruleInt {
			want += ", " + r.describe()
		}
	case "duration":
		want = "want a duration such as 30s or 5m"
	case "bool":
		want = "want true or false"
	}
	return fmt.Sprintf("--%s %s%s: %s", f.Name, v, src, want)
}

// flagError turns a value the flag parser refused into invalid input
// (exit 2) with unparsable's message; cobra's other usage errors pass
// through (Run classifies them).
func flagError(cmd *cobra.Command, err error) error {
	var iv *pflag.InvalidValueError
	if errors.As(err, &iv) {
		return exitcode.AsInvalid(errors.New(unparsable(cmd.Name(), iv.GetFlag(), iv.GetValue(), "")))
	}
	return err
}
