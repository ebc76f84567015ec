package action

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/sethvargo/go-githubactions"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/imageref"
	"github.com/imagecascade/cascade/internal/run"
	"github.com/imagecascade/cascade/internal/wire"
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
	ev, err := wire.ParseEvent(gh.EventName, gh.Event)
	if err != nil {
		return err
	}
	if ev.Cascade != "" {
		in.CascadeContext = ev.Cascade
	}
	if in.Image != "" || ev.Image == "" {
		return nil
	}
	in.Image, in.ImageFrom = ev.Image, ev.From
	if in.Digest == "" {
		in.Digest = ev.Digest
	}
	return nil
}

// request is the run.Request the inputs make: the image and digest
// (checked: malformed, or two digests that disagree, is invalid input),
// and what the command takes of dry-run, dispatch-unknown, max-dispatches
// and the incoming cascade.
func (in *Inputs) request() (run.Request, error) {
	var req run.Request
	ref, err := imageref.Parse(in.Image)
	if err != nil {
		return req, exitcode.AsInvalid(fmt.Errorf("input image: %w", err))
	}
	if in.Digest != "" {
		d, err := imageref.ParseDigest(in.Digest)
		if err != nil {
			return req, exitcode.AsInvalid(fmt.Errorf("input digest: %w", err))
		}
		if ref.Digest != "" && ref.Digest != d {
			return req, exitcode.AsInvalid(fmt.Errorf("input image has digest %s but input digest is %s", ref.Digest, d))
		}
		ref.Digest = d
	}
	req.Image = ref
	switch in.Command {
	case CommandPlan:
		req.DispatchUnknown = in.DispatchUnknown
	case CommandUpdate:
		if ref.Tag == "" {
			return req, exitcode.AsInvalid(fmt.Errorf("input image %s: a tag is required (REPO:TAG@sha256:…): cascade pins the references that track a tag", in.Image))
		}
		req.DryRun = in.DryRun
	default:
		incoming, err := wire.ParseCascade("the cascade context of the event", in.CascadeContext)
		if err != nil {
			return req, err
		}
		req.Incoming, req.DryRun, req.DispatchUnknown, req.MaxDispatches = incoming, in.DryRun, in.DispatchUnknown, in.MaxDispatches
	}
	return req, nil
}

// writeMode is the write input for the command: none for plan.
func (in *Inputs) writeMode() string {
	if in.Command == CommandPlan || in.Write == "" {
		return "none"
	}
	return in.Write
}

// ignored names the inputs set that the command does not take.
func (in *Inputs) ignored() []string {
	var takes map[string]bool
	switch in.Command {
	case CommandRun:
		takes = map[string]bool{"dry-run": true, "write": true, "push": true, "max-dispatches": true, "dispatch-unknown": true}
	case CommandUpdate:
		takes = map[string]bool{"dry-run": true, "write": true, "push": true}
	case CommandPlan:
		takes = map[string]bool{"dispatch-unknown": true}
	}
	var out []string
	for _, o := range []struct {
		name string
		set  bool
	}{
		{"dry-run", in.DryRun},
		{"write", in.Write != "" && in.Write != "none"},
		{"push", in.Push},
		{"max-dispatches", in.MaxDispatches > 0},
		{"dispatch-unknown", in.DispatchUnknown},
	} {
		// github-api-url and the cascade context are set by every
		// workflow: not worth a warning.
		if o.set && !takes[o.name] {
			out = append(out, o.name)
		}
	}
	return out
}
