package dispatch

import (
	"context"
	"sync"
)

// Fake is a Dispatcher for tests of code that drives dispatchers (the CLI,
// the demo): it records every target and answers with Answer, or
// StatusDispatched when Answer is nil. It is safe for concurrent use.
type Fake struct {
	// KindName is returned by Kind.
	KindName string
	// Answer, if set, decides each outcome.
	Answer func(Target) Outcome

	mu    sync.Mutex
	calls []Target
}

var _ Dispatcher = (*Fake)(nil)

// Kind returns f.KindName.
func (f *Fake) Kind() string { return f.KindName }

// Dispatch records t and answers.
func (f *Fake) Dispatch(_ context.Context, t Target) Outcome {
	f.mu.Lock()
	f.calls = append(f.calls, t)
	f.mu.Unlock()
	if f.Answer != nil {
		return f.Answer(t)
	}
	return Outcome{Name: t.Name, Kind: f.KindName, Key: t.Key(), Status: StatusDispatched, Attempts: 1}
}

// Calls returns the targets dispatched so far, in call order.
func (f *Fake) Calls() []Target {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Target(nil), f.calls...)
}
