package wire

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/imagecascade/cascade/internal/exitcode"
)

func TestParseEvent(t *testing.T) {
	for _, tc := range []struct {
		name, event string
		payload     map[string]any
		want        Event
		invalid     bool
	}{
		{name: "repository_dispatch, context as an object", event: "repository_dispatch",
			payload: map[string]any{"client_payload": map[string]any{"image": " reg/a:1 ", "digest": "sha256:ab", "cascade": map[string]any{"depth": float64(1)}}},
			want:    Event{Cascade: `{"depth":1}`, Image: "reg/a:1", Digest: "sha256:ab", From: "client_payload"}},
		{name: "workflow_dispatch, context as a string input", event: "workflow_dispatch",
			payload: map[string]any{"inputs": map[string]any{"image": "reg/a:1", "cascade-context": ` {"depth":2} `}},
			want:    Event{Cascade: `{"depth":2}`, Image: "reg/a:1", From: "inputs"}},
		{name: "another event carries nothing", event: "push",
			payload: map[string]any{"client_payload": map[string]any{"image": "reg/a:1"}}},
		{name: "no payload", event: "repository_dispatch", payload: map[string]any{}},
		{name: "an image that is not a string", event: "repository_dispatch",
			payload: map[string]any{"client_payload": map[string]any{"image": float64(3)}}, invalid: true},
		{name: "a context that is a list", event: "repository_dispatch",
			payload: map[string]any{"client_payload": map[string]any{"cascade": []any{"x"}}}, invalid: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseEvent(tc.event, tc.payload)
			if tc.invalid {
				if exitcode.Of(err) != exitcode.Invalid {
					t.Fatalf("ParseEvent: %v (exit %d), want invalid input", err, exitcode.Of(err))
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseEvent: %v", err)
			}
			if got != tc.want {
				t.Errorf("ParseEvent = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestReadEvent(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "event.json")
	if err := os.WriteFile(good, []byte(`{"client_payload":{"cascade":{"depth":1}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"client_payload":`), 0o600); err != nil {
		t.Fatal(err)
	}
	if ev, err := ReadEvent("repository_dispatch", good); err != nil || ev.Cascade != `{"depth":1}` {
		t.Errorf("ReadEvent(good) = %+v, %v", ev, err)
	}
	if ev, err := ReadEvent("push", bad); err != nil || ev != (Event{}) {
		t.Errorf("ReadEvent(push) = %+v, %v; want nothing read", ev, err)
	}
	if ev, err := ReadEvent("repository_dispatch", ""); err != nil || ev != (Event{}) {
		t.Errorf("ReadEvent without a path = %+v, %v", ev, err)
	}
	for _, p := range []string{bad, filepath.Join(dir, "missing.json")} {
		if _, err := ReadEvent("repository_dispatch", p); exitcode.Of(err) != exitcode.Invalid {
			t.Errorf("ReadEvent(%s): %v, want invalid input", p, err)
		}
	}
}
