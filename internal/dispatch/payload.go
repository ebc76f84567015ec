package dispatch

import (
	"encoding/json"
	"fmt"

	"github.com/imagecascade/cascade/internal/exitcode"
)

// GitHub's bounds on what a dispatch may carry, checked before sending
// (R13).
const (
	MaxPayloadKeys  = 10       // top-level keys of a repository_dispatch client_payload
	MaxPayloadBytes = 64 << 10 // marshalled client_payload, exclusive
	MaxInputs       = 25       // workflow_dispatch inputs
)

// Payload is the JSON body every push-style dispatch carries: the
// repository_dispatch client_payload and the webhook body (docs/contract.md,
// "Dispatch payloads"). Fields are added, never renamed.
type Payload struct {
	// Image is the updated base as configured (repository and tag).
	Image string `json:"image"`
	// Digest is its new digest.
	Digest string `json:"digest"`
	// Ref is the base's repository pinned to the new digest.
	Ref string `json:"ref"`
	// Dependent is the name of the image to rebuild.
	Dependent string `json:"dependent"`
	// Cascade carries the dedup key, depth, chain and origin on.
	Cascade Cascade `json:"cascade"`
}

// BuildPayload returns t's payload. The cascade id is t.Key().
func BuildPayload(t Target) Payload {
	c := t.Cascade
	c.ID = t.Key()
	if c.Chain == nil {
		c.Chain = []string{}
	}
	ref := ""
	if t.Base.Ref.Digest != "" {
		ref = t.Base.Ref.WrittenName + "@" + string(t.Base.Ref.Digest)
	}
	return Payload{
		Image:     t.Base.Ref.Short(),
		Digest:    string(t.Base.Ref.Digest),
		Ref:       ref,
		Dependent: t.Name,
		Cascade:   c,
	}
}

// Marshal returns the payload as JSON after checking it (see Check).
func (p Payload) Marshal() ([]byte, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encoding the dispatch payload: %w", err)
	}
	if err := CheckClientPayload(b); err != nil {
		return nil, err
	}
	return b, nil
}

// Check reports, as invalid input (exit 2), a payload GitHub would refuse:
// more than MaxPayloadKeys top-level keys or MaxPayloadBytes or more
// marshalled.
func (p Payload) Check() error {
	_, err := p.Marshal()
	return err
}

// CheckClientPayload checks a marshalled client_payload against GitHub's
// bounds, as invalid input (exit 2).
func CheckClientPayload(b []byte) error {
	if len(b) >= MaxPayloadBytes {
		return exitcode.AsInvalid(fmt.Errorf("dispatch payload is %d bytes, GitHub accepts less than %d (is the cascade chain that long?)", len(b), MaxPayloadBytes))
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		return exitcode.AsInvalid(fmt.Errorf("dispatch payload is not a JSON object: %w", err))
	}
	if len(top) > MaxPayloadKeys {
		return exitcode.AsInvalid(fmt.Errorf("dispatch payload has %d top-level keys, GitHub accepts at most %d", len(top), MaxPayloadKeys))
	}
	return nil
}

// CheckInputs reports, as invalid input (exit 2), workflow_dispatch inputs
// GitHub would refuse: more than MaxInputs of them, or more than
// MaxPayloadBytes in all.
func CheckInputs(inputs map[string]string) error {
	if len(inputs) > MaxInputs {
		return exitcode.AsInvalid(fmt.Errorf("workflow_dispatch has %d inputs, GitHub accepts at most %d", len(inputs), MaxInputs))
	}
	b, err := json.Marshal(inputs)
	if err != nil {
		return exitcode.AsInvalid(fmt.Errorf("encoding workflow inputs: %w", err))
	}
	if len(b) >= MaxPayloadBytes {
		return exitcode.AsInvalid(fmt.Errorf("workflow_dispatch inputs are %d bytes, GitHub accepts less than %d", len(b), MaxPayloadBytes))
	}
	return nil
}
