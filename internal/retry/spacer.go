package retry

import (
	"context"
	"time"
)

// Default spacing of mutations: GitHub asks integrators to make mutating
// requests at least a second apart and not concurrently.
const (
	DefaultGap      = time.Second
	DefaultInFlight = 2
)

// Spacer keeps mutating requests at least Gap apart (counted from one start
// to the next) and at most InFlight at once. It is safe for concurrent use;
// waiters are served one at a time, so a FakeClock sees exact gaps.
type Spacer struct {
	gap   time.Duration
	clock Clock
	turn  chan struct{} // a one-slot lock that honours ctx
	slots chan struct{}
	last  time.Time
}

// NewSpacer returns a Spacer. gap < 0 means no spacing, 0 DefaultGap;
// inFlight <= 0 means DefaultInFlight; a nil clock is the RealClock.
func NewSpacer(gap time.Duration, inFlight int, clock Clock) *Spacer {
	if gap == 0 {
		gap = DefaultGap
	}
	if gap < 0 {
		gap = 0
	}
	if inFlight <= 0 {
		inFlight = DefaultInFlight
	}
	if clock == nil {
		clock = RealClock{}
	}
	return &Spacer{gap: gap, clock: clock, turn: make(chan struct{}, 1), slots: make(chan struct{}, inFlight)}
}

// Acquire waits for a free slot and for the gap since the previous start,
// then returns the function that frees the slot. It returns ctx's error if
// ctx ends first.
func (s *Spacer) Acquire(ctx context.Context) (release func(), err error) {
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	free := func() { <-s.slots }
	select {
	case s.turn <- struct{}{}:
	case <-ctx.Done():
		free()
		return nil, ctx.Err()
	}
	defer func() { <-s.turn }()
	if !s.last.IsZero() {
		if wait := s.last.Add(s.gap).Sub(s.clock.Now()); wait > 0 {
			if err := s.clock.Sleep(ctx, wait); err != nil {
				free()
				return nil, err
			}
		}
	}
	s.last = s.clock.Now()
	return free, nil
}
