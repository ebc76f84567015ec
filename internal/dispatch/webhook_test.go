package dispatch_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/imagecascade/cascade/internal/config"
	"github.com/imagecascade/cascade/internal/dispatch"
	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/retry"
)

// receiver is a webhook endpoint that verifies signatures like a receiver
// (or a Tekton Triggers GitHub interceptor) would.
type receiver struct {
	secret   string
	statuses []int // answered in order; 202 after the end
	mu       sync.Mutex
	got      []*http.Request
	bodies   [][]byte
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	n := len(rc.got)
	rc.got = append(rc.got, r)
	rc.bodies = append(rc.bodies, body)
	rc.mu.Unlock()
	if rc.secret != "" && !dispatch.Verify([]byte(rc.secret), body, r.Header.Get(dispatch.SignatureHeader)) {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if n < len(rc.statuses) {
		w.WriteHeader(rc.statuses[n])
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func webhookTarget(url, secretEnv string, headers map[string]string) dispatch.Target {
	return target("app-c", config.Rebuild{Webhook: &config.Webhook{URL: url, SecretEnv: secretEnv, Headers: headers}})
}

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestWebhookSignedDelivery(t *testing.T) {
	t.Parallel()
	rc := &receiver{secret: "s3cret"}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	w := dispatch.NewWebhook(dispatch.WebhookOptions{HTTPClient: srv.Client(), Policy: fakePolicy(retry.NewFakeClock(t0)),
		Getenv: env(map[string]string{"APP_C_SECRET": "s3cret"})})
	o := w.Dispatch(context.Background(), webhookTarget(srv.URL+"/hook", "APP_C_SECRET", map[string]string{"X-Base": "{{ .Base.Ref }}"}))
	if o.Status != dispatch.StatusDispatched || o.Attempts != 1 {
		t.Fatalf("outcome %+v", o)
	}
	if len(rc.got) != 1 {
		t.Fatalf("%d deliveries", len(rc.got))
	}
	r, body := rc.got[0], rc.bodies[0]
	want := map[string]string{
		"Content-Type":              "application/json",
		dispatch.EventHeader:        "base-image-updated",
		dispatch.DeliveryHeader:     "app-c-1a2b1a2b1a2b",
		dispatch.HubSignatureHeader: dispatch.Sign([]byte("s3cret"), body),
		dispatch.SignatureHeader:    dispatch.Sign([]byte("s3cret"), body),
		"X-Base":                    "registry.example.com/acme/httpd-base@" + string(newDigest),
	}
	got := map[string]string{}
	for k := range want {
		got[k] = r.Header.Get(k)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("headers (-want +got):\n%s", diff)
	}
	var p dispatch.Payload
	if err := json.Unmarshal(body, &p); err != nil || p.Dependent != "app-c" || p.Cascade.ID != "app-c-1a2b1a2b1a2b" {
		t.Errorf("body %s (%v)", body, err)
	}
}

func TestWebhookFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		statuses  []int
		env       map[string]string
		secretEnv string
		wantCode  int
		wantReqs  int
	}{
		{"503 then ok", []int{503, 503}, nil, "", exitcode.OK, 3},
		{"wrong secret is not retried", nil, map[string]string{"S": "wrong"}, "S", exitcode.Invalid, 1},
		{"400 not retried", []int{400}, nil, "", exitcode.Invalid, 1},
		{"500 forever", []int{500, 500, 500, 500, 500, 500}, nil, "", exitcode.Transient, 5},
		{"secret unset: nothing sent", nil, nil, "S", exitcode.Invalid, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rc := &receiver{secret: "right", statuses: tt.statuses}
			if tt.secretEnv == "" {
				rc.secret = ""
			}
			srv := httptest.NewServer(rc)
			defer srv.Close()
			w := dispatch.NewWebhook(dispatch.WebhookOptions{HTTPClient: srv.Client(), Policy: fakePolicy(retry.NewFakeClock(t0)), Getenv: env(tt.env)})
			o := w.Dispatch(context.Background(), webhookTarget(srv.URL, tt.secretEnv, nil))
			if c := exitcode.Of(o.Err); c != tt.wantCode {
				t.Errorf("exit code %d, want %d (%+v)", c, tt.wantCode, o)
			}
			if len(rc.got) != tt.wantReqs {
				t.Errorf("%d requests, want %d", len(rc.got), tt.wantReqs)
			}
		})
	}
}

func TestWebhookURLSecretsRedacted(t *testing.T) {
	t.Parallel()
	// Nothing listens on port 1 of loopback.
	w := dispatch.NewWebhook(dispatch.WebhookOptions{Policy: retry.Policy{Attempts: 1, Budget: time.Second}})
	o := w.Dispatch(context.Background(), webhookTarget("http://user:hunter2@127.0.0.1:1/hook?token=abc123", "", nil))
	if o.Status != dispatch.StatusFailed {
		t.Fatalf("outcome %+v", o)
	}
	b, _ := json.Marshal(o)
	for _, s := range []string{o.Err.Error(), string(b)} {
		if strings.Contains(s, "hunter2") || strings.Contains(s, "abc123") {
			t.Errorf("secret in %q", s)
		}
	}
}
