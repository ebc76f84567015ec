package retry_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/outbound"
	"github.com/imagecascade/cascade/internal/retry"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// exact makes backoff waits deterministic: always the ceiling.
func exact(c time.Duration) time.Duration { return c }

func TestDo(t *testing.T) {
	t.Parallel()
	e500 := &retry.HTTPError{Status: 500}
	tests := []struct {
		name      string
		policy    retry.Policy
		errs      []error // returned by successive attempts; nil after the end
		wantN     int
		wantWaits []time.Duration
		wantCode  int
	}{
		{"success first", retry.Policy{}, nil, 1, nil, exitcode.OK},
		{"422 never retried", retry.Policy{}, []error{&retry.HTTPError{Status: 422}}, 1, nil, exitcode.Internal},
		{"404 never retried", retry.Policy{}, []error{&retry.HTTPError{Status: 404}}, 1, nil, exitcode.Internal},
		{"400 never retried", retry.Policy{}, []error{&retry.HTTPError{Status: 400}}, 1, nil, exitcode.Internal},
		{"401 never retried", retry.Policy{}, []error{&retry.HTTPError{Status: 401}}, 1, nil, exitcode.Internal},
		{"plain 403 never retried", retry.Policy{}, []error{&retry.HTTPError{Status: 403}}, 1, nil, exitcode.Internal},
		{"unknown error never retried", retry.Policy{}, []error{errors.New("boom")}, 1, nil, exitcode.Internal},
		{"500 then ok", retry.Policy{}, []error{e500, e500}, 3, []time.Duration{time.Second, 2 * time.Second}, exitcode.OK},
		{"408 then ok", retry.Policy{}, []error{&retry.HTTPError{Status: 408}}, 2, []time.Duration{time.Second}, exitcode.OK},
		{"R01 style 429 retry-after twice", retry.Policy{}, []error{
			&retry.HTTPError{Status: 429, RetryAfter: 2 * time.Second},
			&retry.HTTPError{Status: 429, RetryAfter: 2 * time.Second},
		}, 3, []time.Duration{2 * time.Second, 2 * time.Second}, exitcode.OK},
		{"rate-limited 403 waits as asked", retry.Policy{}, []error{&retry.HTTPError{Status: 403, RateLimited: true, RetryAfter: 60 * time.Second}}, 2, []time.Duration{60 * time.Second}, exitcode.OK},
		{"connection refused", retry.Policy{}, []error{&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}}, 2, []time.Duration{time.Second}, exitcode.OK},
		{"marked retryable", retry.Policy{}, []error{retry.Retryable(errors.New("x"), 5*time.Second)}, 2, []time.Duration{5 * time.Second}, exitcode.OK},
		{"500 forever: attempts run out", retry.Policy{Attempts: 4, Budget: time.Hour},
			[]error{e500, e500, e500, e500, e500}, 4, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}, exitcode.Transient},
		{"backoff capped by Max", retry.Policy{Attempts: 5, Base: time.Second, Max: 3 * time.Second, Budget: time.Hour},
			[]error{e500, e500, e500, e500}, 5, []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second}, exitcode.OK},
		{"500 forever: budget runs out", retry.Policy{Attempts: 100, Budget: 10 * time.Second},
			[]error{e500, e500, e500, e500, e500}, 4, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}, exitcode.Transient},
		{"asked wait beyond budget stops at once", retry.Policy{Budget: time.Minute},
			[]error{&retry.HTTPError{Status: 429, RetryAfter: 2 * time.Minute}}, 1, nil, exitcode.Transient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := retry.NewFakeClock(t0)
			p := tt.policy
			p.Clock, p.Jitter = clock, exact
			n := 0
			got, err := retry.DoAttempts(context.Background(), p, func(context.Context) error {
				n++
				if n <= len(tt.errs) {
					return tt.errs[n-1]
				}
				return nil
			})
			if got != tt.wantN || n != tt.wantN {
				t.Errorf("attempts = %d (ran %d), want %d", got, n, tt.wantN)
			}
			if diff := cmp.Diff(tt.wantWaits, clock.Waits()); diff != "" {
				t.Errorf("waits (-want +got):\n%s", diff)
			}
			if c := exitcode.Of(err); c != tt.wantCode {
				t.Errorf("exit code = %d, want %d (err %v)", c, tt.wantCode, err)
			}
			if err != nil && n <= len(tt.errs) && !errors.Is(err, tt.errs[n-1]) {
				t.Errorf("error %v does not wrap the last attempt's error", err)
			}
		})
	}
}

func TestDoStopsOnCancel(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	err := retry.Do(ctx, retry.Policy{Clock: retry.NewFakeClock(t0)}, func(context.Context) error {
		n++
		cancel()
		return &retry.HTTPError{Status: 503}
	})
	if n != 1 || err == nil {
		t.Fatalf("ran %d times, err %v; want 1 and an error", n, err)
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := t0
	tests := []struct {
		name   string
		header http.Header
		want   time.Duration
		ok     bool
	}{
		{"seconds", http.Header{"Retry-After": {"7"}}, 7 * time.Second, true},
		{"http date", http.Header{"Retry-After": {now.Add(90 * time.Second).Format(http.TimeFormat)}}, 90 * time.Second, true},
		{"date in the past", http.Header{"Retry-After": {now.Add(-time.Hour).Format(http.TimeFormat)}}, 0, true},
		{"garbage", http.Header{"Retry-After": {"soon"}}, 0, false},
		{"primary limit reset", http.Header{"X-Ratelimit-Remaining": {"0"}, "X-Ratelimit-Reset": {fmt.Sprint(now.Add(42 * time.Second).Unix())}}, 42 * time.Second, true},
		{"remaining not zero", http.Header{"X-Ratelimit-Remaining": {"10"}, "X-Ratelimit-Reset": {fmt.Sprint(now.Add(42 * time.Second).Unix())}}, 0, false},
		{"none", http.Header{}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := retry.RetryAfter(tt.header, now)
			if got != tt.want || ok != tt.ok {
				t.Errorf("RetryAfter = %s, %v; want %s, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestFromResponse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status    int
		header    http.Header
		retryable bool
	}{
		{429, http.Header{}, true},
		{403, http.Header{}, false},
		{403, http.Header{"Retry-After": {"60"}}, true},
		{403, http.Header{"X-Ratelimit-Remaining": {"0"}, "X-Ratelimit-Reset": {fmt.Sprint(t0.Unix() + 5)}}, true},
		{404, http.Header{"Retry-After": {"1"}}, false},
		{502, http.Header{}, true},
		{422, http.Header{}, false},
	}
	for _, tt := range tests {
		e := retry.FromResponse(&http.Response{StatusCode: tt.status, Header: tt.header}, t0, nil)
		if e.Retryable() != tt.retryable {
			t.Errorf("status %d %v: Retryable = %v, want %v", tt.status, tt.header, e.Retryable(), tt.retryable)
		}
	}
}

func TestSpacer(t *testing.T) {
	t.Parallel()
	clock := retry.NewFakeClock(t0)
	s := retry.NewSpacer(time.Second, 2, clock)
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			release, err := s.Acquire(context.Background())
			if err != nil {
				t.Error(err)
				return
			}
			release()
		})
	}
	wg.Wait()
	// Waiters are served one at a time: each waits out the gap since the
	// previous start.
	want := []time.Duration{time.Second, time.Second, time.Second, time.Second}
	if diff := cmp.Diff(want, clock.Waits()); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
	if got := clock.Now().Sub(t0); got != 4*time.Second {
		t.Errorf("5 mutations took %s of fake time, want 4s", got)
	}
}

func TestSpacerInFlight(t *testing.T) {
	t.Parallel()
	s := retry.NewSpacer(-1, 1, nil)
	release, err := s.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := s.Acquire(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second Acquire with one slot taken: err %v, want deadline exceeded", err)
	}
	release()
	r2, err := s.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r2()
}

// TestBudgetSpentWithoutRetryAfterSaysSo: when the budget runs out and the
// server asked nothing, the message does not claim it asked to wait 0s.
func TestBudgetSpentWithoutRetryAfterSaysSo(t *testing.T) {
	t.Parallel()
	clock := retry.NewFakeClock(time.Unix(0, 0))
	p := retry.Policy{Attempts: 100, Budget: time.Second, Clock: clock}
	_, err := retry.DoAttempts(context.Background(), p, func(context.Context) error {
		clock.Advance(2 * time.Second)
		return &retry.HTTPError{Status: 503, Err: errors.New("unavailable")}
	})
	if err == nil || strings.Contains(err.Error(), "asked to wait 0s") || !strings.Contains(err.Error(), "retry budget of 1s spent") {
		t.Errorf("error = %v", err)
	}
}

// TestRetryLogsWhatItWaitsFor: before each wait, one info line says which
// attempt failed, why (the status, the server's Retry-After) and how long
// the wait is; each attempt's context carries its number for the request
// log.
func TestRetryLogsWhatItWaitsFor(t *testing.T) {
	t.Parallel()
	var buf strings.Builder
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}}))
	ctx := outbound.WithLogger(context.Background(), log)
	clock := retry.NewFakeClock(t0)
	errs := []error{
		&retry.HTTPError{Status: 429, RetryAfter: 7 * time.Second, RateLimited: true, Err: errors.New("rate limited")},
		&retry.HTTPError{Status: 503},
	}
	var attempts []int
	err := retry.Do(ctx, retry.Policy{Clock: clock, Jitter: exact}, func(ctx context.Context) error {
		attempts = append(attempts, outbound.Attempt(ctx))
		if len(errs) == 0 {
			return nil
		}
		e := errs[0]
		errs = errs[1:]
		return e
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int{1, 2, 3}, attempts); diff != "" {
		t.Errorf("attempt numbers (-want +got):\n%s", diff)
	}
	want := `level=INFO msg=retrying attempt=1 of=5 status=429 retry-after=7s wait=7s reason="rate limited"
level=INFO msg=retrying attempt=2 of=5 status=503 wait=2s reason="HTTP 503 Service Unavailable"
`
	if diff := cmp.Diff(want, buf.String()); diff != "" {
		t.Errorf("retry log (-want +got):\n%s", diff)
	}
}
