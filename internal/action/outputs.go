package action

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/imagecascade/cascade/internal/dispatch"
	"github.com/imagecascade/cascade/internal/report"
)

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
