package history

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/imagecascade/cascade/internal/dispatch"
)

func TestDispatched(t *testing.T) {
	t.Parallel()
	d := func(key string, s dispatch.Status) Dispatch { return Dispatch{Dependent: key, Key: key, Status: s} }
	tests := []struct {
		name string
		gens []Generation
		want map[string]bool
	}{
		{name: "no records", want: map[string]bool{}},
		{
			name: "successes count, failures and skips do not",
			gens: []Generation{{Dispatches: []Dispatch{
				d("a", dispatch.StatusDispatched),
				d("b", dispatch.StatusAlreadyDispatched),
				d("c", dispatch.StatusFailed),
				d("e", dispatch.StatusSkipped),
			}}},
			want: map[string]bool{"a": true, "b": true},
		},
		{
			name: "a failure retried successfully in a later run",
			gens: []Generation{
				{Dispatches: []Dispatch{d("a", dispatch.StatusDispatched), d("c", dispatch.StatusFailed)}},
				{Dispatches: []Dispatch{d("c", dispatch.StatusDispatched)}},
			},
			want: map[string]bool{"a": true, "c": true},
		},
		{
			name: "a success stays one whatever a later run says",
			gens: []Generation{
				{Dispatches: []Dispatch{d("a", dispatch.StatusDispatched)}},
				{Dispatches: []Dispatch{d("a", dispatch.StatusFailed)}},
			},
			want: map[string]bool{"a": true},
		},
		{
			name: "a dispatch without a key is ignored",
			gens: []Generation{{Dispatches: []Dispatch{d("", dispatch.StatusDispatched)}}},
			want: map[string]bool{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tt.want, Dispatched(tt.gens)); diff != "" {
				t.Errorf("Dispatched (-want +got):\n%s", diff)
			}
		})
	}
}

// TestGenerationJSON pins the record format: the field names are a
// contract with records already stored.
func TestGenerationJSON(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	g := Generation{
		SchemaVersion: 1,
		Image:         "registry.example.com/acme/base",
		Tag:           "latest",
		Digest:        "sha256:bbbb",
		Previous:      "sha256:aaaa",
		Time:          at,
		CascadeID:     "base-bbbb",
		Origin:        "registry.example.com/acme/base@sha256:bbbb",
		Chain:         []string{"registry.example.com/acme/base"},
		Dispatches: []Dispatch{
			{Dependent: "app-a", Kind: "tekton", Key: "app-a-bbbb", Status: dispatch.StatusDispatched, Detail: "cascade-app-a-bbbb", Time: at},
			{Dependent: "app-b", Kind: "github", Key: "app-b-bbbb", Status: dispatch.StatusFailed, Error: "HTTP 500"},
		},
	}
	const want = `{"schemaVersion":1,"image":"registry.example.com/acme/base","tag":"latest","digest":"sha256:bbbb","previous":"sha256:aaaa","time":"2025-03-01T12:00:00Z","cascadeId":"base-bbbb","origin":"registry.example.com/acme/base@sha256:bbbb","chain":["registry.example.com/acme/base"],"dispatches":[{"dependent":"app-a","kind":"tekton","key":"app-a-bbbb","status":"dispatched","detail":"cascade-app-a-bbbb","time":"2025-03-01T12:00:00Z"},{"dependent":"app-b","kind":"github","key":"app-b-bbbb","status":"failed","error":"HTTP 500"}]}`
	got, err := json.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("JSON (-want +got):\n%s", diff)
	}
	var back Generation
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(g, back); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestFromOutcome(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.FixedZone("CET", 3600))
	tests := []struct {
		name string
		o    dispatch.Outcome
		want Dispatch
	}{
		{
			name: "success",
			o:    dispatch.Outcome{Name: "app-a", Kind: "tekton", Key: "app-a-1", Status: dispatch.StatusDispatched, Detail: "cascade-app-a-1", Attempts: 1},
			want: Dispatch{Dependent: "app-a", Kind: "tekton", Key: "app-a-1", Status: dispatch.StatusDispatched, Detail: "cascade-app-a-1", Time: at.UTC()},
		},
		{
			name: "failure with a credential in a URL",
			o:    dispatch.Outcome{Name: "app-b", Kind: "webhook", Key: "app-b-1", Status: dispatch.StatusFailed, Err: errors.New(`Post "https://user:secret@hooks.example.com/x?token=abc": EOF`)},
			want: Dispatch{Dependent: "app-b", Kind: "webhook", Key: "app-b-1", Status: dispatch.StatusFailed, Time: at.UTC(), Error: `Post "https://REDACTED@hooks.example.com/x?REDACTED": EOF`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tt.want, FromOutcome(tt.o, at)); diff != "" {
				t.Errorf("FromOutcome (-want +got):\n%s", diff)
			}
		})
	}
}
