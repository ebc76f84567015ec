package cli

import (
	"io"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/imagecascade/cascade/internal/redact"
)

// everyFlag calls fn for every flag of every command of the real command
// tree (global flags once per command, as a user meets them).
func everyFlag(t *testing.T, fn func(cmd *cobra.Command, f *pflag.Flag)) {
	t.Helper()
	root, _ := newRoot(Streams{Out: io.Discard, Err: io.Discard}, redact.New())
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c != root {
			seen := map[string]bool{}
			visit := func(f *pflag.Flag) {
				if !seen[f.Name] && f.Name != "help" {
					seen[f.Name] = true
					fn(c, f)
				}
			}
			c.LocalFlags().VisitAll(visit)
			c.InheritedFlags().VisitAll(visit)
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// TestEveryFlagHasARule: every flag that takes a value, of every command,
// has its rule in flagRules, of the kind its type asks for; its default
// meets the rule; an enum's help lists every allowed value; and no rule
// is left over for a flag that no longer exists. A new int or enum flag
// without a rule fails here.
func TestEveryFlagHasARule(t *testing.T) {
	t.Parallel()
	used := map[string]bool{}
	everyFlag(t, func(cmd *cobra.Command, f *pflag.Flag) {
		name := cmd.Name() + " --" + f.Name
		typ := f.Value.Type()
		if typ == "bool" {
			return // its parser takes true or false only
		}
		r, ok := ruleFor(cmd.Name(), f.Name)
		if !ok {
			t.Errorf("%s (%s): no rule in flagRules", name, typ)
			return
		}
		if _, own := flagRules[cmd.Name()+"/"+f.Name]; own {
			used[cmd.Name()+"/"+f.Name] = true
		} else {
			used["*/"+f.Name] = true
		}
		want := map[string][]ruleKind{
			"int":         {ruleInt},
			"duration":    {ruleDuration},
			"string":      {ruleEnum, ruleText},
			"stringSlice": {ruleText},
		}[typ]
		if !containsKind(want, r.kind) {
			t.Errorf("%s: a %s flag with a rule of kind %d", name, typ, r.kind)
		}
		if def := f.DefValue; def != r.unset && def != "" && def != "[]" {
			if norm, msg := r.check(def); msg != "" || norm != def {
				t.Errorf("%s: the default %q does not meet its own rule: %s", name, def, msg)
			}
		}
		if r.kind == ruleEnum {
			for _, v := range r.values {
				if !strings.Contains(f.Usage, v) {
					t.Errorf("%s: the help %q does not name the allowed value %q", name, f.Usage, v)
				}
			}
		}
		if r.kind == ruleInt && !strings.Contains(f.Usage, strconv.Itoa(r.min)) && r.unset == "" {
			t.Errorf("%s: the help %q does not give the range %s", name, f.Usage, r.describe())
		}
	})
	for key := range flagRules {
		if !used[key] {
			t.Errorf("flagRules[%q]: no command has this flag", key)
		}
	}
}

func containsKind(ks []ruleKind, k ruleKind) bool {
	for _, x := range ks {
		if x == k {
			return true
		}
	}
	return false
}

// badValues are values each rule refuses, with the message's tail.
func badValues(r flagRule) map[string]string {
	switch r.kind {
	case ruleInt:
		bad := map[string]string{strconv.Itoa(r.min - 1): "want " + r.describe(), "-1": "want " + r.describe()}
		if r.max > 0 {
			bad[strconv.Itoa(r.max+1)] = "want " + r.describe()
		}
		bad["many"] = "want an integer"
		return bad
	case ruleEnum:
		return map[string]string{"bogus": "want " + r.describe(), "": "want " + r.describe()}
	case ruleDuration:
		bad := map[string]string{"-1s": "must not be negative", "5": "want a duration such as 30s or 5m"}
		if r.min > 0 {
			bad["0s"] = "must be positive"
		}
		return bad
	}
	return nil
}

// TestFlagRulesRefuseTheSameWay: for every int, enum and duration flag of
// every command, a value its rule refuses — given as the flag or as its
// CASCADE_ variable — is exit 2 with one message shape, "--FLAG VALUE:
// what is wanted" (with "(from CASCADE_FLAG)" for the variable), before
// the command does anything (nothing on stdout).
func TestFlagRulesRefuseTheSameWay(t *testing.T) {
	type tc struct{ cmd, flag, value, want string }
	var cases []tc
	everyFlag(t, func(cmd *cobra.Command, f *pflag.Flag) {
		r, ok := ruleFor(cmd.Name(), f.Name)
		if !ok || r.kind == ruleText {
			return
		}
		for v, want := range badValues(r) {
			cases = append(cases, tc{cmd.Name(), f.Name, v, want})
		}
	})
	if len(cases) < 50 {
		t.Fatalf("only %d cases: the command tree was not walked", len(cases))
	}
	for _, c := range cases {
		code, out, errs := run(t, c.cmd, "--"+c.flag+"="+c.value)
		if msg := "--" + c.flag + " " + c.value + ": " + c.want; code != 2 || !strings.Contains(errs, msg) || out != "" {
			t.Errorf("%s --%s=%q: exit %d, stdout %q, stderr %q; want 2 and %q", c.cmd, c.flag, c.value, code, out, errs, msg)
		}
		if c.value == "" {
			continue // an empty variable is a set one, but reads as unset to a person
		}
		key := "CASCADE_" + strings.ToUpper(strings.ReplaceAll(c.flag, "-", "_"))
		t.Setenv(key, c.value)
		code, out, errs = run(t, c.cmd)
		if msg := "--" + c.flag + " " + c.value + " (from " + key + "): " + c.want; code != 2 || !strings.Contains(errs, msg) || out != "" {
			t.Errorf("%s with %s=%q: exit %d, stdout %q, stderr %q; want 2 and %q", c.cmd, key, c.value, code, out, errs, msg)
		}
		// t.Setenv restores the variable when the test ends; the next
		// case must not see it.
		if err := os.Unsetenv(key); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFlagRulesAccept: values a rule takes pass, enums in any case (stored
// in lower case), and a bad boolean variable is refused in the same shape.
func TestFlagRulesAccept(t *testing.T) {
	for _, c := range []struct {
		rule      flagRule
		in, norm  string
		wantError bool
	}{
		{flagRules["*/log-level"], "INFO", "info", false},
		{flagRules["plan/output"], "Json", "json", false},
		{flagRules["graph/output"], "markdown", "", true},
		{flagRules["history/limit"], "1000", "1000", false},
		{flagRules["history/limit"], "1", "1", false},
		{flagRules["*/max-dispatches"], "100000", "100000", false},
		{flagRules["*/claim-settle"], "1ms", "1ms", false},
		{flagRules["*/timeout"], "0s", "0s", false},
	} {
		norm, msg := c.rule.check(c.in)
		if (msg != "") != c.wantError || (!c.wantError && norm != c.norm) {
			t.Errorf("%q: got %q, %q", c.in, norm, msg)
		}
	}
	if code, _, errs := run(t, "version", "--log-level", "DEBUG"); code != 0 {
		t.Errorf("--log-level DEBUG: exit %d: %s", code, errs)
	}
	t.Setenv("CASCADE_DRY_RUN", "maybe")
	if code, _, errs := run(t, "update", "--image", "r.io/a:latest@sha256:"+hex64); code != 2 || !strings.Contains(errs, "--dry-run maybe (from CASCADE_DRY_RUN): want true or false") {
		t.Errorf("CASCADE_DRY_RUN=maybe: exit %d: %s", code, errs)
	}
}
