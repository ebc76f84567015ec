package wire

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/imagecascade/cascade/internal/exitcode"
)

// Event is what cascade takes from the GitHub event that started a job: a
// repository_dispatch's client_payload (image, digest, cascade) or a
// workflow_dispatch's inputs (image, digest, cascade-context). The one
// reader of that format, for the Action and for `cascade run` in a
// workflow.
type Event struct {
	// Cascade is the incoming cascade context as JSON ("" when none).
	Cascade string
	// Image and Digest are the updated image the event names ("" when
	// none).
	Image, Digest string
	// From names where they were found: "client_payload" or "inputs".
	From string
}

// ParseEvent reads the event of the given name (GITHUB_EVENT_NAME) from
// its decoded payload. Events other than repository_dispatch and
// workflow_dispatch carry nothing for cascade. A value of the wrong type is
// invalid input, naming the field.
func ParseEvent(name string, payload map[string]any) (Event, error) {
	var src map[string]any
	var ev Event
	var ctxKey string
	switch name {
	case "repository_dispatch":
		src, _ = payload["client_payload"].(map[string]any)
		ev.From, ctxKey = "client_payload", "cascade"
	case "workflow_dispatch":
		src, _ = payload["inputs"].(map[string]any)
		ev.From, ctxKey = "inputs", "cascade-context"
	default:
		return Event{}, nil
	}
	if src == nil {
		return Event{}, nil
	}
	switch c := src[ctxKey].(type) {
	case nil:
	case string:
		ev.Cascade = strings.TrimSpace(c)
	case map[string]any:
		b, err := json.Marshal(c)
		if err != nil {
			return Event{}, exitcode.AsInvalid(fmt.Errorf("event %s.%s: %w", ev.From, ctxKey, err))
		}
		ev.Cascade = string(b)
	default:
		return Event{}, exitcode.AsInvalid(fmt.Errorf("event %s.%s: want an object, got %T", ev.From, ctxKey, c))
	}
	var err error
	if ev.Image, err = eventString(src, ev.From, "image"); err != nil {
		return Event{}, err
	}
	if ev.Digest, err = eventString(src, ev.From, "digest"); err != nil {
		return Event{}, err
	}
	return ev, nil
}

// ReadEvent reads and parses the event file at path (GITHUB_EVENT_PATH);
// no path, or an event cascade does not read, is the zero Event.
func ReadEvent(name, path string) (Event, error) {
	if path == "" || (name != "repository_dispatch" && name != "workflow_dispatch") {
		return Event{}, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return Event{}, exitcode.AsInvalid(fmt.Errorf("reading the %s event (GITHUB_EVENT_PATH): %w", name, err))
	}
	if len(data) > 1<<20 {
		return Event{}, exitcode.AsInvalid(fmt.Errorf("the %s event %s is larger than 1 MiB", name, path))
	}
	var payload map[string]any
	if err := json.Unmarshal(data, &payload); err != nil {
		return Event{}, exitcode.AsInvalid(fmt.Errorf("the %s event %s: %w", name, path, err))
	}
	return ParseEvent(name, payload)
}

func eventString(src map[string]any, from, key string) (string, error) {
	switch v := src[key].(type) {
	case nil:
		return "", nil
	case string:
		return strings.TrimSpace(v), nil
	default:
		return "", exitcode.AsInvalid(fmt.Errorf("event %s.%s: want a string, got %T", from, key, v))
	}
}
