package retry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"
)

// HTTPError is an HTTP failure classified by its status: 408, 429 and 5xx
// are retryable, a 403 only when it is a rate limit; everything else (400,
// 401, 403, 404, 422, …) is final. RetryAfter is the wait the server asked
// for, zero when it asked for none.
type HTTPError struct {
	// Status is the HTTP status code.
	Status int
	// RetryAfter is the server's requested wait (Retry-After, or the time
	// until x-ratelimit-reset when x-ratelimit-remaining is 0).
	RetryAfter time.Duration
	// RateLimited marks a rate-limit refusal (a 403 that is worth waiting
	// for, or any 429).
	RateLimited bool
	// Err is what the caller wants to say about the failure. It must not
	// hold credentials.
	Err error
}

func (e *HTTPError) Error() string {
	if e.Err != nil {
		return e.Err.Error()
	}
	return fmt.Sprintf("HTTP %d %s", e.Status, http.StatusText(e.Status))
}

// Unwrap returns the underlying error.
func (e *HTTPError) Unwrap() error { return e.Err }

// Retryable reports whether the request is worth repeating.
func (e *HTTPError) Retryable() bool {
	switch {
	case e.Status == http.StatusRequestTimeout, e.Status == http.StatusTooManyRequests, e.Status >= 500:
		return true
	case e.Status == http.StatusForbidden:
		return e.RateLimited
	}
	return false
}

// FromResponse classifies resp: its status, and the wait the server asked
// for in Retry-After (seconds or an HTTP date) or, when
// x-ratelimit-remaining is 0, in x-ratelimit-reset (Unix seconds). A 403
// with either is a rate limit. now is the current time of the caller's
// Clock, for dates. err, if not nil, becomes Err.
func FromResponse(resp *http.Response, now time.Time, err error) *HTTPError {
	e := &HTTPError{Status: resp.StatusCode, Err: err}
	if d, ok := RetryAfter(resp.Header, now); ok {
		e.RetryAfter = d
		e.RateLimited = true
	}
	if e.Status == http.StatusTooManyRequests {
		e.RateLimited = true
	}
	return e
}

// RetryAfter reads the wait a server asked for from h: Retry-After in
// seconds or as an HTTP date, else x-ratelimit-reset when
// x-ratelimit-remaining is "0". ok is false when h asks for no wait.
func RetryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	if v := h.Get("Retry-After"); v != "" {
		if s, err := strconv.ParseInt(v, 10, 64); err == nil && s >= 0 {
			return time.Duration(s) * time.Second, true
		}
		if t, err := http.ParseTime(v); err == nil {
			return max(t.Sub(now), 0), true
		}
	}
	if h.Get("X-Ratelimit-Remaining") == "0" {
		if s, err := strconv.ParseInt(h.Get("X-Ratelimit-Reset"), 10, 64); err == nil {
			return max(time.Unix(s, 0).Sub(now), 0), true
		}
	}
	return 0, false
}

// retryableError marks an error as worth another try.
type retryableError struct {
	err   error
	after time.Duration
}

func (e *retryableError) Error() string { return e.err.Error() }
func (e *retryableError) Unwrap() error { return e.err }

// Retryable marks err as worth another try, after at least the given wait
// (0 for the policy's backoff). It returns nil for a nil err.
func Retryable(err error, after time.Duration) error {
	if err == nil {
		return nil
	}
	return &retryableError{err: err, after: after}
}

// Classify reports whether err is worth another try and how long the
// server asked to wait first (0: the policy's backoff decides). Retryable
// are errors marked with Retryable, HTTPErrors whose Retryable says so, and
// connection failures (refused, reset, closed early, timed out). The
// caller's own cancellation or deadline never is.
func Classify(err error) (retry bool, after time.Duration) {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false, 0
	}
	var re *retryableError
	if errors.As(err, &re) {
		return true, re.after
	}
	var he *HTTPError
	if errors.As(err, &he) {
		return he.Retryable(), he.RetryAfter
	}
	return connectionError(err), 0
}

// connectionError reports whether err is a failure to reach the server or
// a connection that broke before the answer.
func connectionError(err error) bool {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}
