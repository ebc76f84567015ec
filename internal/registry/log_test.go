package registry_test

import (
	"context"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/imagecascade/cascade/internal/faultproxy"
	"github.com/imagecascade/cascade/internal/outbound"
	"github.com/imagecascade/cascade/internal/retry"
)

type lockedBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuilder) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuilder) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestRetryBudgetSaysWhatItWaitsFor: a registry request answered 503 with
// Retry-After is retried within the registry retry budget; the log says
// why (the status, the server's Retry-After) and how long it waits, and
// the request log numbers each attempt.
func TestRetryBudgetSaysWhatItWaitsFor(t *testing.T) {
	t.Parallel()
	p, _ := behindProxy(t)
	p.Script("HEAD", "/v2/**", faultproxy.Fault{Status: 503, Headers: map[string]string{"Retry-After": "3"}})
	var buf lockedBuilder
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx := outbound.WithLogger(context.Background(), log)
	cl := proxyClient(t, retry.Policy{Clock: retry.NewFakeClock(epoch), Jitter: ceilingJitter})
	if _, err := cl.Digest(ctx, mustParse(t, p.Host()+"/acme/app:latest")); err != nil {
		t.Fatalf("Digest: %v", err)
	}
	got := buf.String()
	if !strings.Contains(got, `level=INFO msg=retrying attempt=1 of=5 status=503 retry-after=3s wait=3s reason="HTTP 503 Service Unavailable"`) {
		t.Errorf("the retry's wait is not logged with its reason:\n%s", got)
	}
	heads := regexp.MustCompile(`msg="http request" method=HEAD host=\S+ path=/v2/acme/app/manifests/latest status=(\d+) duration=\S+ attempt=(\d)`).FindAllStringSubmatch(got, -1)
	if len(heads) != 2 || heads[0][1] != "503" || heads[0][2] != "1" || heads[1][1] != "200" || heads[1][2] != "2" {
		t.Errorf("want the HEAD logged twice, 503 on attempt 1 and 200 on attempt 2; got %v:\n%s", heads, got)
	}
}
