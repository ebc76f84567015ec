package outbound

import (
	"context"
	"log/slog"
	"net/http"
	"time"
)

// The request log: with a logger in the request's context (WithLogger),
// the policy transport logs every request it sends at debug level, one
// line per attempt — method, host, path (never the query, which may carry
// a credential), status or error, duration and the retry attempt (from
// WithAttempt). Headers and bodies are never logged; what is logged still
// goes through the caller's redacting writer.

type loggerKey struct{}

type attemptKey struct{}

// WithLogger returns ctx carrying log for the requests sent under it and
// for the retry package's waits.
func WithLogger(ctx context.Context, log *slog.Logger) context.Context {
	if log == nil {
		return ctx
	}
	return context.WithValue(ctx, loggerKey{}, log)
}

// Logger returns the logger ctx carries, or one that discards everything.
func Logger(ctx context.Context) *slog.Logger {
	if ctx != nil {
		if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok {
			return l
		}
	}
	return slog.New(slog.DiscardHandler)
}

// WithAttempt returns ctx marking the requests sent under it as attempt n
// (from 1) of a retried operation.
func WithAttempt(ctx context.Context, n int) context.Context {
	return context.WithValue(ctx, attemptKey{}, n)
}

// Attempt returns the attempt ctx is marked with, 0 when none.
func Attempt(ctx context.Context) int {
	n, _ := ctx.Value(attemptKey{}).(int)
	return n
}

// logged sends req with base and logs it at debug level.
func logged(base http.RoundTripper, req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	log := Logger(ctx)
	if !log.Enabled(ctx, slog.LevelDebug) {
		return base.RoundTrip(req)
	}
	start := time.Now()
	resp, err := base.RoundTrip(req)
	attrs := make([]slog.Attr, 0, 7)
	attrs = append(attrs, slog.String("method", req.Method), slog.String("host", req.URL.Host), slog.String("path", req.URL.Path))
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	} else {
		attrs = append(attrs, slog.Int("status", resp.StatusCode))
	}
	attrs = append(attrs, slog.Duration("duration", time.Since(start).Round(time.Millisecond)))
	if n := Attempt(ctx); n > 0 {
		attrs = append(attrs, slog.Int("attempt", n))
	}
	if req.Response != nil {
		attrs = append(attrs, slog.Bool("redirect", true))
	}
	log.LogAttrs(ctx, slog.LevelDebug, "http request", attrs...)
	return resp, err
}
