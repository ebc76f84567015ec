package dispatch

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/imagecascade/cascade/internal/config"
	"github.com/imagecascade/cascade/internal/exitcode"
)

// Preflight checks, without any I/O but reading the environment, everything
// about t that could make its dispatch refuse: every template of its rebuild
// rendered against t, the payload and inputs within GitHub's bounds, the
// PipelineRun buildable, the webhook URL well formed and its secret set.
// A run calls it for every target before the first dispatch (phase 1), so a
// target that would fail this way fails the whole run with nothing sent.
// getenv reads secrets (os.LookupEnv when nil). Errors are invalid input
// (exit 2) and name the target.
func Preflight(t Target, getenv func(string) (string, bool)) error {
	if getenv == nil {
		getenv = os.LookupEnv
	}
	err := preflight(t, getenv)
	if err != nil {
		return exitcode.AsInvalid(fmt.Errorf("%s: %w", t.Name, err))
	}
	return nil
}

func preflight(t Target, getenv func(string) (string, bool)) error {
	data := templateData(t)
	render := func(path, s string) error {
		if _, err := config.Render(s, data); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		return nil
	}
	switch r := t.Rebuild; {
	case r.GitHub != nil:
		cfg := r.GitHub
		owner, repo, ok := strings.Cut(cfg.Repository, "/")
		if !ok || owner == "" || repo == "" || strings.Contains(repo, "/") {
			return fmt.Errorf("rebuild.github.repository %q: want owner/name", cfg.Repository)
		}
		if !cfg.IsWorkflowDispatch() {
			_, err := BuildPayload(t).Marshal()
			return err
		}
		ref := cfg.Ref
		if ref == "" {
			ref = config.DefaultRef
		}
		if err := render("rebuild.github.ref", ref); err != nil {
			return err
		}
		inputs := make(map[string]string, len(cfg.Inputs))
		for _, k := range sortedKeys(cfg.Inputs) {
			v, err := config.Render(cfg.Inputs[k], data)
			if err != nil {
				return fmt.Errorf("rebuild.github.inputs[%s]: %w", k, err)
			}
			inputs[k] = v
		}
		return CheckInputs(inputs)
	case r.Tekton != nil:
		_, err := BuildPipelineRun(t)
		return err
	case r.Webhook != nil:
		cfg := r.Webhook
		if _, err := BuildPayload(t).Marshal(); err != nil {
			return err
		}
		for _, k := range sortedKeys(cfg.Headers) {
			if slices.ContainsFunc(reservedHeaders, func(r string) bool { return strings.EqualFold(r, k) }) {
				return fmt.Errorf("rebuild.webhook.headers[%s]: set by cascade, cannot be configured", k)
			}
			if err := render("rebuild.webhook.headers["+k+"]", cfg.Headers[k]); err != nil {
				return err
			}
		}
		if cfg.SecretEnv != "" {
			if v, ok := getenv(cfg.SecretEnv); !ok || v == "" {
				return fmt.Errorf("rebuild.webhook.secretEnv: environment variable %s is not set", cfg.SecretEnv)
			}
		}
		return nil
	case r.Rebase != nil:
		return nil
	}
	return errors.New("no rebuild kind configured")
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
