// Package retry is the classify-and-retry policy every side effect of
// cascade goes through (docs/reliability.md, promise 4): only errors that say they
// are worth another try are retried — 408, 429, 5xx, rate-limit 403s and
// connection failures, never 400/401/403/404/422 — with full-jitter
// exponential backoff inside a total time budget, honouring the wait a
// server asks for. A Spacer keeps mutations apart and bounds how many are in
// flight. Time comes from a Clock, so tests run minutes of waiting at once.
package retry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/outbound"
)

// Defaults for the zero fields of a Policy.
const (
	DefaultBudget   = 2 * time.Minute
	DefaultBase     = time.Second
	DefaultMax      = 30 * time.Second
	DefaultAttempts = 5
)

// Policy says how long and how often to retry.
type Policy struct {
	// Budget bounds the total time from the first attempt to the last wait
	// (DefaultBudget when zero). A wait that would end past it is not
	// taken: Do gives up at once.
	Budget time.Duration
	// Base and Max bound the backoff: before retry n (from 0) Do waits a
	// uniformly random time in [0, min(Max, Base·2ⁿ)] (full jitter).
	Base, Max time.Duration
	// Attempts bounds the attempts, the first included (DefaultAttempts
	// when zero).
	Attempts int
	// Clock is the time source (RealClock when nil).
	Clock Clock
	// Jitter picks the backoff in [0, ceiling]; nil is uniform random.
	// Tests set it to make backoff waits exact.
	Jitter func(ceiling time.Duration) time.Duration
}

func (p Policy) withDefaults() Policy {
	if p.Budget <= 0 {
		p.Budget = DefaultBudget
	}
	if p.Base <= 0 {
		p.Base = DefaultBase
	}
	if p.Max <= 0 {
		p.Max = DefaultMax
	}
	if p.Attempts <= 0 {
		p.Attempts = DefaultAttempts
	}
	if p.Clock == nil {
		p.Clock = RealClock{}
	}
	if p.Jitter == nil {
		p.Jitter = func(c time.Duration) time.Duration {
			if c <= 0 {
				return 0
			}
			return rand.N(c + 1)
		}
	}
	return p
}

// Now returns the policy clock's time (the real time for a zero Policy).
func (p Policy) Now() time.Time { return p.withDefaults().Clock.Now() }

// backoff is the full-jitter wait before retry n (0-based).
func (p Policy) backoff(n int) time.Duration {
	ceiling := p.Max
	if n < 62 {
		if c := p.Base << n; c > 0 && c < ceiling {
			ceiling = c
		}
	}
	return p.Jitter(ceiling)
}

// Do runs op until it succeeds, fails with an error Classify calls final,
// or the attempts or the budget run out. It returns nil, op's final error
// unchanged, or — when retries ran out — op's last error wrapped as
// transient (exit 4) with how many attempts were made. A server's requested
// wait is honoured as the minimum wait; when it would overrun the budget,
// Do stops at once.
//
// Each attempt's context is marked with its number (outbound.WithAttempt),
// so the request log says which attempt a request was; before each wait,
// the logger in ctx (outbound.WithLogger) gets one info line saying why
// (the status or the error, the server's Retry-After) and how long.
func Do(ctx context.Context, p Policy, op func(context.Context) error) error {
	_, err := DoAttempts(ctx, p, op)
	return err
}

// DoAttempts is Do that also reports how many times op ran.
func DoAttempts(ctx context.Context, p Policy, op func(context.Context) error) (int, error) {
	p = p.withDefaults()
	deadline := p.Clock.Now().Add(p.Budget)
	for n := 1; ; n++ {
		err := op(outbound.WithAttempt(ctx, n))
		if err == nil {
			return n, nil
		}
		again, asked := Classify(err)
		if !again {
			return n, err
		}
		if ctx.Err() != nil {
			return n, err
		}
		if n >= p.Attempts {
			return n, exitcode.AsTransient(fmt.Errorf("giving up after %d attempts: %w", n, err))
		}
		wait := max(p.backoff(n-1), asked)
		if left := deadline.Sub(p.Clock.Now()); wait > left {
			if asked > 0 && asked > left {
				return n, exitcode.AsTransient(fmt.Errorf("the server asked to wait %s, more than the %s left of the retry budget: %w", asked, max(left, 0).Round(time.Millisecond), err))
			}
			return n, exitcode.AsTransient(fmt.Errorf("giving up after %d attempts, retry budget of %s spent: %w", n, p.Budget, err))
		}
		logWait(ctx, n, p.Attempts, wait, asked, err)
		if serr := p.Clock.Sleep(ctx, wait); serr != nil {
			return n, fmt.Errorf("waiting to retry: %w (last error: %w)", serr, err)
		}
	}
}

// logWait says, at info level, what a retry waits for and how long.
func logWait(ctx context.Context, n, attempts int, wait, asked time.Duration, err error) {
	log := outbound.Logger(ctx)
	if !log.Enabled(ctx, slog.LevelInfo) {
		return
	}
	attrs := []slog.Attr{slog.Int("attempt", n), slog.Int("of", attempts)}
	var he *HTTPError
	if errors.As(err, &he) {
		attrs = append(attrs, slog.Int("status", he.Status))
	}
	if asked > 0 {
		attrs = append(attrs, slog.Duration("retry-after", asked))
	}
	attrs = append(attrs, slog.Duration("wait", wait.Round(time.Millisecond)), slog.String("reason", err.Error()))
	log.LogAttrs(ctx, slog.LevelInfo, "retrying", attrs...)
}
