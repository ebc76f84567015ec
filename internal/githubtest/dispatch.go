package githubtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// GitHub's documented dispatch limits, enforced by the server.
const (
	MaxEventTypeLen      = 100      // repository_dispatch event_type characters
	MaxClientPayloadKeys = 10       // repository_dispatch client_payload top-level keys
	MaxDispatchBodyBytes = 64 << 10 // repository_dispatch request body must be smaller
	MaxWorkflowInputs    = 25       // workflow_dispatch inputs
)

// RepositoryDispatch is a recorded, accepted repository_dispatch.
type RepositoryDispatch struct {
	Repo          string // "owner/name"
	EventType     string
	ClientPayload json.RawMessage
	Time          time.Time
}

// WorkflowDispatch is a recorded, accepted workflow_dispatch.
type WorkflowDispatch struct {
	Repo       string // "owner/name"
	WorkflowID int64
	Workflow   string // the workflow file path
	Ref        string
	Inputs     map[string]string
	// RunID is the id of the run answered when run details were asked for
	// and given; 0 otherwise.
	RunID int64
	Time  time.Time
}

// RepositoryDispatches returns the accepted repository dispatches in order.
func (s *Server) RepositoryDispatches() []RepositoryDispatch {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]RepositoryDispatch(nil), s.dispatches...)
}

// WorkflowDispatches returns the accepted workflow dispatches in order.
func (s *Server) WorkflowDispatches() []WorkflowDispatch {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]WorkflowDispatch(nil), s.workflows...)
}

func (s *Server) repositoryDispatch(w http.ResponseWriter, r *http.Request, st *repoState) {
	body := callerOf(r).body
	if len(body) >= MaxDispatchBodyBytes {
		writeInvalid(w, fmt.Sprintf("The request body is too large: %d bytes; it must be smaller than %d bytes.", len(body), MaxDispatchBodyBytes))
		return
	}
	var req map[string]json.RawMessage
	if !decode(w, r, &req) {
		return
	}
	var eventType string
	if raw, ok := req["event_type"]; !ok || json.Unmarshal(raw, &eventType) != nil || eventType == "" {
		writeInvalid(w, `"event_type" wasn't supplied.`)
		return
	}
	if n := len([]rune(eventType)); n > MaxEventTypeLen {
		writeInvalid(w, fmt.Sprintf("event_type is too long (maximum is %d characters); %d were supplied.", MaxEventTypeLen, n))
		return
	}
	payload := req["client_payload"]
	if len(payload) > 0 && string(payload) != "null" {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(payload, &obj); err != nil {
			writeInvalid(w, fmt.Sprintf("For 'properties/client_payload', %s is not an object.", payload))
			return
		}
		if len(obj) > MaxClientPayloadKeys {
			writeInvalid(w, fmt.Sprintf("No more than %d properties are allowed; %d were supplied.", MaxClientPayloadKeys, len(obj)))
			return
		}
	}
	s.dispatches = append(s.dispatches, RepositoryDispatch{
		Repo: st.owner + "/" + st.name, EventType: eventType, ClientPayload: append(json.RawMessage(nil), payload...), Time: time.Now(),
	})
	w.WriteHeader(http.StatusNoContent)
}

func (st *repoState) workflow(id string) (Workflow, bool) {
	for _, wf := range st.workflows {
		if strconv.FormatInt(wf.ID, 10) == id || path.Base(wf.Path) == id || wf.Path == id {
			return wf, true
		}
	}
	return Workflow{}, false
}

func (s *Server) workflowDispatch(w http.ResponseWriter, r *http.Request, st *repoState) {
	wf, ok := st.workflow(r.PathValue("workflow"))
	if !ok {
		writeMessage(w, http.StatusNotFound, "Not Found")
		return
	}
	var req map[string]json.RawMessage
	if !decode(w, r, &req) {
		return
	}
	for k := range req {
		switch k {
		case "ref", "inputs":
		case "return_run_details":
			if s.noRunInfo {
				writeInvalid(w, `"return_run_details" is not a permitted key.`)
				return
			}
		default:
			writeInvalid(w, fmt.Sprintf("%q is not a permitted key.", k))
			return
		}
	}
	var ref string
	if raw, ok := req["ref"]; !ok || json.Unmarshal(raw, &ref) != nil || ref == "" {
		writeInvalid(w, `"ref" wasn't supplied.`)
		return
	}
	var details bool
	if raw, ok := req["return_run_details"]; ok && json.Unmarshal(raw, &details) != nil {
		writeInvalid(w, fmt.Sprintf("For 'properties/return_run_details', %s is not a boolean.", raw))
		return
	}
	inputs := map[string]string{}
	if raw, ok := req["inputs"]; ok && string(raw) != "null" {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(raw, &obj); err != nil {
			writeInvalid(w, fmt.Sprintf("For 'properties/inputs', %s is not an object.", raw))
			return
		}
		if len(obj) > MaxWorkflowInputs {
			writeInvalid(w, fmt.Sprintf("No more than %d properties are allowed; %d were supplied.", MaxWorkflowInputs, len(obj)))
			return
		}
		for _, k := range sortedKeys(obj) {
			var v string
			if err := json.Unmarshal(obj[k], &v); err != nil {
				writeInvalid(w, fmt.Sprintf("For 'properties/%s', %s is not a string.", k, obj[k]))
				return
			}
			inputs[k] = v
		}
	}
	if _, ok := st.resolve(ref); !ok {
		writeMessage(w, http.StatusUnprocessableEntity, "No ref found for: "+ref)
		return
	}
	declared := map[string]WorkflowInput{}
	for _, in := range wf.Inputs {
		declared[in.Name] = in
	}
	var unexpected []string
	for _, k := range sortedKeys(inputs) {
		if _, ok := declared[k]; !ok {
			unexpected = append(unexpected, strconv.Quote(k))
		}
	}
	if len(unexpected) > 0 {
		writeMessage(w, http.StatusUnprocessableEntity, "Unexpected inputs provided: ["+strings.Join(unexpected, ", ")+"]")
		return
	}
	for _, in := range wf.Inputs {
		if _, ok := inputs[in.Name]; !ok && in.Required && in.Default == "" {
			writeMessage(w, http.StatusUnprocessableEntity, fmt.Sprintf("Required input '%s' not provided", in.Name))
			return
		}
	}
	rec := WorkflowDispatch{
		Repo: st.owner + "/" + st.name, WorkflowID: wf.ID, Workflow: wf.Path, Ref: ref, Inputs: inputs, Time: time.Now(),
	}
	if !details {
		s.workflows = append(s.workflows, rec)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	s.nextID++
	rec.RunID = s.nextID
	s.workflows = append(s.workflows, rec)
	runPath := fmt.Sprintf("/actions/runs/%d", rec.RunID)
	writeJSON(w, http.StatusOK, map[string]any{
		"workflow_run_id": rec.RunID,
		"run_url":         s.apiURL("/repos/" + st.owner + "/" + st.name + runPath),
		"html_url":        s.htmlURL(st, runPath),
	})
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
