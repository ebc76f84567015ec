package dispatch

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/imagecascade/cascade/internal/config"
	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/outbound"
	"github.com/imagecascade/cascade/internal/redact"
	"github.com/imagecascade/cascade/internal/retry"
)

// Webhook request headers.
const (
	// SignatureHeader carries "sha256=<hex HMAC-SHA256 of the body>".
	SignatureHeader = "X-Cascade-Signature-256"
	// HubSignatureHeader carries the same signature under the name GitHub
	// uses, so that a Tekton Triggers EventListener's GitHub interceptor
	// (secretRef to the same secret) verifies cascade's webhooks as it
	// verifies GitHub's. Add an X-GitHub-Event header in
	// rebuild.webhook.headers when the interceptor filters eventTypes.
	HubSignatureHeader = "X-Hub-Signature-256"
	// EventHeader names the event ("base-image-updated").
	EventHeader = "X-Cascade-Event"
	// DeliveryHeader is the dedup key: a receiver that saw it already may
	// ignore the delivery.
	DeliveryHeader = "X-Cascade-Delivery"
)

// reservedHeaders may not be set by rebuild.webhook.headers.
var reservedHeaders = []string{"Content-Type", "Content-Length", "Host", SignatureHeader, HubSignatureHeader, EventHeader, DeliveryHeader}

// WebhookOptions configure a Webhook dispatcher.
type WebhookOptions struct {
	// HTTPClient sends the requests; the outbound policy (timeouts, no
	// redirect followed, no signature to another host) is applied on top
	// of it (a new policy client when nil).
	HTTPClient *http.Client
	// Policy retries 408/429/5xx and connection failures.
	Policy retry.Policy
	// Getenv reads the secret named by rebuild.webhook.secretEnv
	// (os.LookupEnv when nil).
	Getenv func(string) (string, bool)
}

// Webhook starts rebuilds with a JSON POST of the dispatch Payload, signed
// with HMAC-SHA256 when rebuild.webhook.secretEnv is set. Any 2xx answer
// is success.
type Webhook struct {
	hc     *http.Client
	policy retry.Policy
	getenv func(string) (string, bool)
}

var _ Dispatcher = (*Webhook)(nil)

// NewWebhook returns a Webhook dispatcher.
func NewWebhook(o WebhookOptions) *Webhook {
	w := &Webhook{hc: outbound.Guard(o.HTTPClient), policy: o.Policy, getenv: o.Getenv}
	if w.getenv == nil {
		w.getenv = os.LookupEnv
	}
	return w
}

// Kind returns "webhook".
func (w *Webhook) Kind() string { return "webhook" }

// Sign returns the signature header value of body under secret:
// "sha256=" and the hex HMAC-SHA256.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether signature is body's valid signature under secret,
// comparing in constant time. Receivers use it.
func Verify(secret, body []byte, signature string) bool {
	return hmac.Equal([]byte(Sign(secret, body)), []byte(signature))
}

// Dispatch POSTs t's payload to rebuild.webhook.url.
func (w *Webhook) Dispatch(ctx context.Context, t Target) Outcome {
	o := Outcome{Name: t.Name, Kind: w.Kind(), Key: t.Key()}
	cfg := t.Rebuild.Webhook
	if cfg == nil {
		return o.fail(exitcode.AsInvalid(errors.New("no webhook rebuild configured")))
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return o.fail(exitcode.AsInvalid(fmt.Errorf("webhook url %q: want http(s)://host/path", Redact(cfg.URL))))
	}
	where := Redact(u.Redacted())
	body, err := BuildPayload(t).Marshal()
	if err != nil {
		return o.fail(err)
	}
	h := http.Header{}
	data := templateData(t)
	for k, v := range cfg.Headers {
		if slices.ContainsFunc(reservedHeaders, func(r string) bool { return strings.EqualFold(r, k) }) {
			return o.fail(exitcode.AsInvalid(fmt.Errorf("rebuild.webhook.headers[%s]: set by cascade, cannot be configured", k)))
		}
		val, err := config.Render(v, data)
		if err != nil {
			return o.fail(exitcode.AsInvalid(fmt.Errorf("rebuild.webhook.headers[%s]: %w", k, err)))
		}
		h.Set(k, val)
	}
	h.Set("Content-Type", "application/json")
	h.Set(EventHeader, config.DefaultEvent)
	h.Set(DeliveryHeader, t.Key())
	if cfg.SecretEnv != "" {
		secret, ok := w.getenv(cfg.SecretEnv)
		if !ok || secret == "" {
			return o.fail(exitcode.AsInvalid(fmt.Errorf("rebuild.webhook.secretEnv: environment variable %s is not set", cfg.SecretEnv)))
		}
		// A receiver that echoes the secret cannot get it printed.
		redact.FromContext(ctx).Add(secret)
		sig := Sign([]byte(secret), body)
		h.Set(SignatureHeader, sig)
		h.Set(HubSignatureHeader, sig)
	}
	what := "POST to webhook " + where
	var status string
	n, err := retry.DoAttempts(ctx, w.policy, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
		if err != nil {
			return exitcode.AsInvalid(fmt.Errorf("%s: %w", what, errors.New("cannot build the request")))
		}
		req.Header = h.Clone()
		resp, err := w.hc.Do(req)
		if err != nil {
			// *url.Error quotes the URL, which may hold a secret.
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err
			}
			return fmt.Errorf("%s: %w", what, err)
		}
		defer resp.Body.Close()
		snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			status = resp.Status
			return nil
		}
		msg := strings.TrimSpace(string(snippet))
		if msg != "" {
			msg = ": " + Redact(msg)
		}
		e := retry.FromResponse(resp, w.policy.Now(), nil)
		e.Err = fmt.Errorf("%s: answered %s%s", what, resp.Status, msg)
		if !e.Retryable() {
			e.Err = exitcode.AsInvalid(e.Err)
		}
		return e
	})
	o.Attempts = n
	if err != nil {
		return o.fail(err)
	}
	o.Status, o.Detail = StatusDispatched, fmt.Sprintf("%s: %s", what, status)
	return o
}
