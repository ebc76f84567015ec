package dispatch_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imagecascade/cascade/internal/config"
	"github.com/imagecascade/cascade/internal/dispatch"
)

// r26Values are the hostile strings row R26 lists.
var r26Values = []string{
	"$(id)", "`id`", "a\nb\r\nc", "::set-output name=stale::999", "::add-mask::x",
	"\"},\"image\":\"evil", "${{ github.token }}", "%0A::error::x", "\u2028\x00",
}

// TestR26_PayloadValuesAreData: hostile text in the dependent's name, the
// chain and the origin travels in the webhook body JSON-escaped — one line,
// no raw control character — and decodes to exactly what was sent, with no
// extra key.
func TestR26_PayloadValuesAreData(t *testing.T) {
	t.Parallel()
	for _, v := range r26Values {
		t.Run(v, func(t *testing.T) {
			t.Parallel()
			rc := &receiver{}
			srv := httptest.NewServer(rc)
			defer srv.Close()
			tg := target("app-c", config.Rebuild{Webhook: &config.Webhook{URL: srv.URL}})
			tg.Name = "app-" + v
			tg.Cascade.Chain = []string{"httpd-base", v}
			tg.Cascade.Origin = v
			out := dispatch.NewWebhook(dispatch.WebhookOptions{HTTPClient: srv.Client()}).Dispatch(context.Background(), tg)
			if !out.Status.OK() {
				t.Fatalf("dispatch failed: %+v", out)
			}
			rc.mu.Lock()
			defer rc.mu.Unlock()
			if len(rc.bodies) != 1 {
				t.Fatalf("%d deliveries, want 1", len(rc.bodies))
			}
			body := rc.bodies[0]
			for _, c := range body {
				if c < 0x20 {
					t.Fatalf("raw control character %q in the body: %s", c, body)
				}
			}
			if bytes.Contains(body, []byte("\u2028")) {
				t.Errorf("raw U+2028 in the body: %s", body)
			}
			var got map[string]any
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("body is not JSON: %v\n%s", err, body)
			}
			want := dispatch.BuildPayload(tg)
			var gotP dispatch.Payload
			if err := json.Unmarshal(body, &gotP); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, gotP); diff != "" {
				t.Errorf("payload (-want +got):\n%s", diff)
			}
			if len(got) != 5 {
				t.Errorf("payload has keys %v, want the 5 of Payload", got)
			}
		})
	}
}
