package action

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/sethvargo/go-githubactions"
)

// Commands the action can run.
const (
	CommandRun    = "run"
	CommandPlan   = "plan"
	CommandUpdate = "update"
)

// Inputs are the action's inputs (action.yml), read from the INPUT_*
// variables the runner sets, completed from the triggering event.
type Inputs struct {
	Command         string
	Image           string
	Digest          string
	Config          string
	Workspace       string
	DryRun          bool
	Write           string
	Push            bool
	Token           string
	GitHubAPIURL    string
	MaxDispatches   int
	DispatchUnknown bool
	// CascadeContext is the incoming cascade ({"id","depth","chain","origin"})
	// read from the event, as JSON; empty when the event carries none.
	CascadeContext string
	// ImageFrom says where Image came from: "input", or the event's
	// "client_payload" or "inputs".
	ImageFrom string
}

// readInputs reads the inputs through a. A malformed value is an error
// naming the input; every problem is reported at once.
func readInputs(a *githubactions.Action) (Inputs, error) {
	in := Inputs{
		Command:      a.GetInput("command"),
		Image:        a.GetInput("image"),
		Digest:       a.GetInput("digest"),
		Config:       a.GetInput("config"),
		Workspace:    a.GetInput("workspace"),
		Write:        a.GetInput("write"),
		Token:        a.GetInput("token"),
		GitHubAPIURL: a.GetInput("github-api-url"),
		ImageFrom:    "input",
	}
	var errs []error
	if in.Command == "" {
		in.Command = CommandRun
	}
	switch in.Command {
	case CommandRun, CommandPlan, CommandUpdate:
	default:
		errs = append(errs, fmt.Errorf("input command: %q: want run, plan or update", in.Command))
	}
	for name, dst := range map[string]*bool{"dry-run": &in.DryRun, "push": &in.Push, "dispatch-unknown": &in.DispatchUnknown} {
		v, err := parseBool(a.GetInput(name))
		if err != nil {
			errs = append(errs, fmt.Errorf("input %s: %w", name, err))
		}
		*dst = v
	}
	if s := a.GetInput("max-dispatches"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			errs = append(errs, fmt.Errorf("input max-dispatches: %q: want a whole number ≥ 0", s))
		}
		in.MaxDispatches = n
	}
	return in, errors.Join(errs...)
}

// parseBool reads a YAML 1.2 core-schema boolean, as actions/toolkit's
// getBooleanInput does; empty is false.
func parseBool(s string) (bool, error) {
	switch s {
	case "", "false", "False", "FALSE":
		return false, nil
	case "true", "True", "TRUE":
		return true, nil
	}
	return false, fmt.Errorf("%q: want true or false", s)
}

// fromEvent completes in from the event that started the job: the
// cascade context always (so the chain travels on), and the image and
// digest when the image input is empty. repository_dispatch carries them in
// client_payload (image, digest, cascade), workflow_dispatch in its inputs
// (image, digest, cascade-context).
func (in *Inputs) fromEvent(gh *githubactions.GitHubContext) error {
	if gh == nil || gh.Event == nil {
		return nil
	}
	var src map[string]any
	var from, ctxKey string
	switch gh.EventName {
	case "repository_dispatch":
		src, _ = gh.Event["client_payload"].(map[string]any)
		from, ctxKey = "client_payload", "cascade"
	case "workflow_dispatch":
		src, _ = gh.Event["inputs"].(map[string]any)
		from, ctxKey = "inputs", "cascade-context"
	default:
		return nil
	}
	if src == nil {
		return nil
	}
	switch c := src[ctxKey].(type) {
	case nil:
	case string:
		in.CascadeContext = strings.TrimSpace(c)
	case map[string]any:
		b, err := json.Marshal(c)
		if err != nil {
			return fmt.Errorf("event %s.%s: %w", from, ctxKey, err)
		}
		in.CascadeContext = string(b)
	default:
		return fmt.Errorf("event %s.%s: want an object, got %T", from, ctxKey, c)
	}
	if in.Image != "" {
		return nil
	}
	image, err := eventString(src, from, "image")
	if err != nil {
		return err
	}
	digest, err := eventString(src, from, "digest")
	if err != nil {
		return err
	}
	if image == "" {
		return nil
	}
	in.Image, in.ImageFrom = image, from
	if in.Digest == "" {
		in.Digest = digest
	}
	return nil
}

func eventString(src map[string]any, from, key string) (string, error) {
	switch v := src[key].(type) {
	case nil:
		return "", nil
	case string:
		return strings.TrimSpace(v), nil
	default:
		return "", fmt.Errorf("event %s.%s: want a string, got %T", from, key, v)
	}
}

// args builds the command line of the cascade command the inputs ask for,
// always with -o json. The token is never part of it. Inputs a command does
// not take are returned in ignored, by name.
func (in *Inputs) args() (args, ignored []string) {
	args = []string{in.Command, "-o", "json"}
	add := func(flag, v string) {
		if v != "" {
			args = append(args, "--"+flag+"="+v)
		}
	}
	add("image", in.Image)
	add("digest", in.Digest)
	add("config", in.Config)
	add("workspace", in.Workspace)
	takes := map[string]bool{}
	switch in.Command {
	case CommandRun:
		takes = map[string]bool{"dry-run": true, "write": true, "push": true, "github-api-url": true, "max-dispatches": true, "dispatch-unknown": true, "cascade-context": true}
	case CommandUpdate:
		takes = map[string]bool{"dry-run": true, "write": true, "push": true, "github-api-url": true}
	case CommandPlan:
		takes = map[string]bool{"dispatch-unknown": true}
	}
	opt := func(flag string, set bool, v string) {
		if !set {
			return
		}
		if !takes[flag] {
			// Defaults that every workflow sets are not worth a warning.
			if flag != "cascade-context" && flag != "github-api-url" {
				ignored = append(ignored, flag)
			}
			return
		}
		add(flag, v)
	}
	opt("dry-run", in.DryRun, "true")
	opt("write", in.Write != "" && in.Write != "none", in.Write)
	opt("push", in.Push, "true")
	opt("github-api-url", in.GitHubAPIURL != "", in.GitHubAPIURL)
	opt("max-dispatches", in.MaxDispatches > 0, strconv.Itoa(in.MaxDispatches))
	opt("dispatch-unknown", in.DispatchUnknown, "true")
	opt("cascade-context", in.CascadeContext != "", in.CascadeContext)
	return args, ignored
}
