package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/imagecascade/cascade/internal/retry"
)

// Defaults of the registry retry policy (see WithRetryPolicy): a few
// attempts, full-jitter backoff from 1 s up to 8 s, all within 30 s.
const (
	DefaultRetryBudget   = 30 * time.Second
	DefaultRetryAttempts = 5
	DefaultRetryBase     = time.Second
	DefaultRetryMax      = 8 * time.Second
	// DefaultAttemptTimeout bounds the wait for a response's headers
	// (see WithAttemptTimeout).
	DefaultAttemptTimeout = 30 * time.Second
)

// defaultPolicy fills the zero fields of p with the registry defaults (the
// retry package's own defaults suit slower, mutating APIs).
func defaultPolicy(p retry.Policy) retry.Policy {
	if p.Budget <= 0 {
		p.Budget = DefaultRetryBudget
	}
	if p.Attempts <= 0 {
		p.Attempts = DefaultRetryAttempts
	}
	if p.Base <= 0 {
		p.Base = DefaultRetryBase
	}
	if p.Max <= 0 {
		p.Max = DefaultRetryMax
	}
	if p.Clock == nil {
		p.Clock = retry.RealClock{}
	}
	return p
}

// retryStatus reports whether an answer is worth asking again: 408, 429,
// nginx's 499 and 5xx except 501 and 505, which never change. 401, 403 and
// 404 are final.
func retryStatus(code int) bool {
	switch {
	case code == http.StatusRequestTimeout, code == http.StatusTooManyRequests, code == 499:
		return true
	case code == http.StatusNotImplemented, code == http.StatusHTTPVersionNotSupported:
		return false
	}
	return code >= 500 && code <= 599
}

// retryTransport re-sends a request (the same method: a HEAD stays a HEAD)
// that failed to connect, broke before its answer, timed out waiting for
// one, or was answered with a retryable status, under a retry.Policy:
// full-jitter backoff, the server's Retry-After as the least wait, and a
// total budget cut to the request context's deadline. When the retries run
// out on a status, the last answer is returned as it came, so callers see
// (and classify) the registry's own error; on a connection failure the
// error says how many attempts were made and is transient (exit 4).
type retryTransport struct {
	policy  retry.Policy
	timeout time.Duration // for the answer's headers; 0: none
	inner   http.RoundTripper
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	p := t.policy
	if dl, ok := ctx.Deadline(); ok {
		// No wait that the caller's deadline would cut short, and a tenth
		// of what is left kept for the last attempt to be answered.
		left := time.Until(dl)
		p.Budget = max(min(p.Budget, (left-left/10).Truncate(time.Millisecond)), time.Millisecond)
	}
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		p.Attempts = 1 // the body cannot be sent twice
	}
	var last *http.Response
	n := 0
	_, err := retry.DoAttempts(ctx, p, func(ctx context.Context) error {
		discard(last)
		last = nil
		n++
		r, err := rewind(req.WithContext(ctx), n)
		if err != nil {
			return &finalError{err}
		}
		resp, err := t.attempt(r)
		if err != nil {
			var dns *net.DNSError
			if errors.As(err, &dns) && dns.IsNotFound {
				return &finalError{err} // a misspelt host stays misspelt
			}
			return err
		}
		last = resp
		if retryStatus(resp.StatusCode) {
			return retry.FromResponse(resp, p.Clock.Now(), nil)
		}
		return nil
	})
	if err == nil {
		return last, nil
	}
	var he *retry.HTTPError
	if last != nil && ctx.Err() == nil && errors.As(err, &he) {
		if reason := strings.TrimSuffix(err.Error(), ": "+he.Error()); reason != err.Error() {
			noteGiveUp(ctx, reason)
		}
		return last, nil
	}
	discard(last)
	var fe *finalError
	if errors.As(err, &fe) {
		return nil, fe.err
	}
	return nil, err
}

// finalError hides an error from retry.Classify (it has no Unwrap), so that
// it is not retried; RoundTrip returns the error inside.
type finalError struct{ err error }

func (e *finalError) Error() string { return e.err.Error() }

// rewind returns the request for attempt n (from 1): req itself first, then
// a copy with a fresh body when there is one.
func rewind(req *http.Request, n int) (*http.Request, error) {
	if n == 1 || req.Body == nil || req.Body == http.NoBody {
		return req, nil
	}
	body, err := req.GetBody()
	if err != nil {
		return nil, fmt.Errorf("re-reading the request body: %w", err)
	}
	r := req.Clone(req.Context())
	r.Body = body
	return r, nil
}

// discard drains a little of an answer not handed on, so its connection can
// be reused, and closes it.
func discard(resp *http.Response) {
	if resp == nil {
		return
	}
	_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
	_ = resp.Body.Close()
}

// attempt sends req once, giving up when the answer's headers take longer
// than t.timeout. The body is then read under the caller's context alone.
func (t *retryTransport) attempt(req *http.Request) (*http.Response, error) {
	if t.timeout <= 0 {
		return t.inner.RoundTrip(req)
	}
	ctx, cancel := context.WithCancel(req.Context())
	var mu sync.Mutex
	answered, timedOut := false, false
	timer := time.AfterFunc(t.timeout, func() {
		mu.Lock()
		defer mu.Unlock()
		if !answered {
			timedOut = true
			cancel()
		}
	})
	resp, err := t.inner.RoundTrip(req.WithContext(ctx))
	timer.Stop()
	mu.Lock()
	answered = true
	late := timedOut
	mu.Unlock()
	if late && req.Context().Err() == nil {
		if err == nil {
			_ = resp.Body.Close()
		}
		cancel()
		return nil, &noAnswerError{host: req.URL.Host, after: t.timeout}
	}
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// noAnswerError is an attempt that got no answer in time. It is a timeout
// (net.Error), so retry.Classify retries it.
type noAnswerError struct {
	host  string
	after time.Duration
}

func (e *noAnswerError) Error() string {
	return fmt.Sprintf("no answer from %s within %s", e.host, e.after)
}

// Timeout reports true: the attempt timed out.
func (e *noAnswerError) Timeout() bool { return true }

// Temporary reports true: asking again may work.
func (e *noAnswerError) Temporary() bool { return true }

var _ net.Error = (*noAnswerError)(nil)

// cancelOnClose ends an attempt's context when its body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// retryNote carries, through a request context, why the retries of a
// status answer stopped: the answer itself is handed on unchanged (so that
// it is classified by its status), and the note adds "giving up after 5
// attempts" to the error the caller returns.
type retryNote struct {
	mu     sync.Mutex
	reason string
}

type retryNoteKey struct{}

// withRetryNote returns ctx carrying a fresh note.
func withRetryNote(ctx context.Context) (context.Context, *retryNote) {
	n := &retryNote{}
	return context.WithValue(ctx, retryNoteKey{}, n), n
}

// noteGiveUp records on ctx's note, if any, why retries stopped.
func noteGiveUp(ctx context.Context, reason string) {
	if n, ok := ctx.Value(retryNoteKey{}).(*retryNote); ok {
		n.mu.Lock()
		defer n.mu.Unlock()
		n.reason = reason
	}
}

// annotate adds the recorded reason to err, keeping its chain.
func (n *retryNote) annotate(err error) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err == nil || n.reason == "" {
		return err
	}
	return fmt.Errorf("%w (%s)", err, n.reason)
}
