package outbound_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/imagecascade/cascade/internal/outbound"
	"github.com/imagecascade/cascade/internal/redact"
)

// syncBuffer is a bytes.Buffer safe for the handler's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRequestLogOneLinePerRequestNoSecrets: at debug level every request
// the policy sends is one log line with its method, host, path, status,
// duration and attempt; the query (which may carry a token) is not logged,
// and the Authorization it sent never reaches the log — the redacting
// writer knows it because the policy taught the redactor.
func TestRequestLogOneLinePerRequestNoSecrets(t *testing.T) {
	t.Parallel()
	const token = "ghp_s3cretTOKENvalue0123456789"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		// A server that echoes the credential in a header and the body.
		w.Header().Set("X-Echo", r.Header.Get("Authorization"))
		_, _ = w.Write([]byte(r.Header.Get("Authorization")))
	}))
	t.Cleanup(srv.Close)

	rd := redact.New()
	var buf syncBuffer
	w := redact.NewWriter(&buf, rd, nil)
	log := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx := outbound.WithLogger(redact.NewContext(context.Background(), rd), log)
	hc := outbound.Client(outbound.Options{})
	send := func(ctx context.Context, method, path string) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, method, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
	}
	send(ctx, http.MethodGet, "/repos/acme/app?access_token="+token+"&x=1")
	send(outbound.WithAttempt(ctx, 3), http.MethodPost, "/dispatches")
	send(ctx, http.MethodHead, "/missing")
	// Above another policy transport (as history wraps the registry's),
	// a request is still logged once.
	double := &http.Client{Transport: outbound.Transport(outbound.Transport(nil))}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/twice", nil)
	resp, err := double.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}

	got := buf.String()
	if strings.Contains(got, token) || strings.Contains(got, "access_token") {
		t.Fatalf("the request log carries the token or the query:\n%s", got)
	}
	lines := strings.Split(strings.TrimSpace(got), "\n")
	host := strings.TrimPrefix(srv.URL, "http://")
	want := []string{
		`level=DEBUG msg="http request" method=GET host=` + host + ` path=/repos/acme/app status=200 duration=`,
		`level=DEBUG msg="http request" method=POST host=` + host + ` path=/dispatches status=200 duration=`,
		`level=DEBUG msg="http request" method=HEAD host=` + host + ` path=/missing status=404 duration=`,
		`level=DEBUG msg="http request" method=GET host=` + host + ` path=/twice status=200 duration=`,
	}
	if len(lines) != len(want) {
		t.Fatalf("want %d lines (one per request), got %d:\n%s", len(want), len(lines), got)
	}
	for i, l := range lines {
		if !strings.Contains(l, want[i]) {
			t.Errorf("line %d:\n got %s\nwant it to contain %s", i, l, want[i])
		}
	}
	if !strings.HasSuffix(lines[1], " attempt=3") {
		t.Errorf("the second request was attempt 3: %s", lines[1])
	}
	if strings.Contains(lines[0], "attempt=") {
		t.Errorf("a request outside a retry has no attempt: %s", lines[0])
	}
}

// TestRequestLogQuietAboveDebug: without debug level (or without a logger)
// nothing is logged.
func TestRequestLogQuietAboveDebug(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(srv.Close)
	var buf syncBuffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	for _, ctx := range []context.Context{context.Background(), outbound.WithLogger(context.Background(), log)} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
		resp, err := outbound.Client(outbound.Options{}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
	}
	if buf.String() != "" {
		t.Fatalf("logged above debug: %s", buf.String())
	}
}
