package action

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/imagecascade/cascade/internal/dispatch"
	"github.com/imagecascade/cascade/internal/plan"
	"github.com/imagecascade/cascade/internal/report"
)

// parseResult reads the JSON report of command (run: report.Run, plan:
// plan.Plan, update: report.UpdateJSON) as one report.Run, the shape the
// outputs and the summary are made from.
func parseResult(command string, data []byte) (*report.Run, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, nil
	}
	dec := func(v any) error {
		if err := json.Unmarshal(data, v); err != nil {
			return fmt.Errorf("reading the JSON report of cascade %s: %w", command, err)
		}
		return nil
	}
	switch command {
	case CommandPlan:
		var p plan.Plan
		if err := dec(&p); err != nil {
			return nil, err
		}
		return &report.Run{SchemaVersion: 1, DryRun: true, Plan: &p}, nil
	case CommandUpdate:
		var u report.UpdateJSON
		if err := dec(&u); err != nil {
			return nil, err
		}
		return &report.Run{SchemaVersion: 1, DryRun: u.DryRun, Manifests: &u}, nil
	default:
		var r report.Run
		if err := dec(&r); err != nil {
			return nil, err
		}
		// An Outcome's Err is written as the string "error" and not read
		// back by its type: restore it.
		var errs struct {
			Dispatches []struct {
				Error string `json:"error"`
			} `json:"dispatches"`
		}
		if err := dec(&errs); err != nil {
			return nil, err
		}
		for i, e := range errs.Dispatches {
			if e.Error != "" && i < len(r.Dispatches) {
				r.Dispatches[i].Err = errors.New(e.Error)
			}
		}
		return &r, nil
	}
}

// dispatchedOutcome is one element of the "dispatched" output.
type dispatchedOutcome struct {
	Name   string          `json:"name"`
	Kind   string          `json:"kind"`
	Status dispatch.Status `json:"status"`
	Key    string          `json:"key,omitempty"`
	Detail string          `json:"detail,omitempty"`
	RunID  int64           `json:"runId,omitempty"`
}

// outputs are the action's outputs (action.yml) for r, in a fixed order.
// JSON values are compact (one line).
func outputs(r *report.Run) ([][2]string, error) {
	planJSON, stale := "", 0
	dispatched := []dispatchedOutcome{}
	files := []string{}
	pr := ""
	if r != nil {
		if r.Plan != nil {
			b, err := compactJSON(r.Plan)
			if err != nil {
				return nil, err
			}
			planJSON = b
		}
		stale = r.StaleDependents()
		for _, o := range r.Dispatches {
			if !o.Status.Started() {
				continue
			}
			dispatched = append(dispatched, dispatchedOutcome{Name: o.Name, Kind: o.Kind, Status: o.Status, Key: o.Key, Detail: o.Detail, RunID: o.RunID})
		}
		if m := r.Manifests; m != nil {
			files = append(files, m.Changed...)
			if m.WriteBack != nil {
				pr = m.WriteBack.PR
			}
		}
	}
	d, err := compactJSON(dispatched)
	if err != nil {
		return nil, err
	}
	f, err := compactJSON(files)
	if err != nil {
		return nil, err
	}
	return [][2]string{
		{"plan", planJSON},
		{"stale", strconv.Itoa(stale)},
		{"dispatched", d},
		{"updated-files", f},
		{"pull-request", pr},
	}, nil
}

func compactJSON(v any) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", fmt.Errorf("encoding an output: %w", err)
	}
	return string(bytes.TrimSpace(b.Bytes())), nil
}
