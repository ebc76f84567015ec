package dispatch_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/client-go/rest"

	"github.com/imagecascade/cascade/internal/config"
	"github.com/imagecascade/cascade/internal/dispatch"
	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/redact"
	"github.com/imagecascade/cascade/internal/retry"
)

// recorder is a loopback server that records what reaches it.
type recorder struct {
	srv *httptest.Server
	// URL is srv's URL under another host name ("localhost" for
	// "127.0.0.1"): another host, still loopback.
	URL  string
	mu   sync.Mutex
	reqs []string // "METHOD path auth=<Authorization> sig=<signature> body=<n>"
}

func newRecorder(t *testing.T) *recorder {
	rc := &recorder{}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, fmt.Sprintf("%s %s auth=%s sig=%s body=%d", r.Method, r.URL.Path,
			r.Header.Get("Authorization"), r.Header.Get(dispatch.SignatureHeader)+r.Header.Get(dispatch.HubSignatureHeader), len(body)))
		rc.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.srv.Close)
	rc.URL = strings.Replace(rc.srv.URL, "127.0.0.1", "localhost", 1)
	return rc
}

func (rc *recorder) got() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]string(nil), rc.reqs...)
}

// redirector answers every request with status and Location other+path.
func redirector(t *testing.T, status int, other string) (*httptest.Server, *int) {
	n := new(int)
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		*n++
		mu.Unlock()
		w.Header().Set("Location", other+r.URL.Path)
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv, n
}

var redirectStatuses = []int{http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect}

// checkRefused asserts a dispatch that met a redirect failed, final
// (invalid, one attempt), naming the Location, and that nothing reached
// the other host.
func checkRefused(t *testing.T, o dispatch.Outcome, other *recorder, hits int) {
	t.Helper()
	if o.Status != dispatch.StatusFailed {
		t.Errorf("status %q, want failed (a redirect is the target's failure)", o.Status)
	}
	if o.Err == nil || !strings.Contains(o.Err.Error(), other.URL) {
		t.Errorf("error %v does not name the Location %s", o.Err, other.URL)
	}
	if diff := cmp.Diff(exitcode.Invalid, exitcode.Of(o.Err)); diff != "" {
		t.Errorf("exit class (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(1, hits); diff != "" {
		t.Errorf("requests to the configured host (-want +got; a redirect is not retried):\n%s", diff)
	}
	if got := other.got(); len(got) != 0 {
		t.Errorf("the other host got %q", got)
	}
}

// TestR38_GitHubDispatchRedirectNotFollowed: a redirect of a
// repository_dispatch or workflow_dispatch POST is the dispatch's failure
// with the Location in the message; neither the token nor the payload
// reaches the other host, and no GET is reported as dispatched.
func TestR38_GitHubDispatchRedirectNotFollowed(t *testing.T) {
	t.Parallel()
	const token = "ghp_R38tokenAbcdefghijklmnopqrstuvwxyz0123"
	rebuilds := map[string]config.Rebuild{
		"repository_dispatch": repoDispatch("acme/app-a"),
		"workflow_dispatch":   {GitHub: &config.GitHub{Repository: "acme/app-a", Workflow: "build.yaml"}},
	}
	for name, rb := range rebuilds {
		for _, status := range redirectStatuses {
			t.Run(fmt.Sprintf("%s %d", name, status), func(t *testing.T) {
				t.Parallel()
				other := newRecorder(t)
				srv, hits := redirector(t, status, other.URL)
				g, err := dispatch.NewGitHub(dispatch.GitHubOptions{Token: token, APIURL: srv.URL, Policy: fakePolicy(retry.NewFakeClock(t0))})
				if err != nil {
					t.Fatal(err)
				}
				o := g.Dispatch(context.Background(), target("app-a", rb))
				checkRefused(t, o, other, *hits)
				if strings.Contains(o.Err.Error(), token) {
					t.Errorf("error %v holds the token", o.Err)
				}
			})
		}
	}
}

// TestR38_WebhookRedirectNotFollowed: a webhook receiver's redirect to a
// host that is not in the config is not followed (the signature and the
// payload stay home) and the delivery is reported failed.
func TestR38_WebhookRedirectNotFollowed(t *testing.T) {
	t.Parallel()
	for _, status := range redirectStatuses {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			t.Parallel()
			other := newRecorder(t)
			srv, hits := redirector(t, status, other.URL)
			w := dispatch.NewWebhook(dispatch.WebhookOptions{Policy: fakePolicy(retry.NewFakeClock(t0)), Getenv: env(map[string]string{"HOOK_SECRET": "r38-webhook-secret"})})
			rd := redact.New()
			o := w.Dispatch(redact.NewContext(context.Background(), rd), webhookTarget(srv.URL+"/hook", "HOOK_SECRET", nil))
			checkRefused(t, o, other, *hits)
			if s := rd.String("r38-webhook-secret"); s != redact.Marker {
				t.Errorf("the redactor did not learn the webhook secret: %q", s)
			}
		})
	}
}

// TestR38_TektonRedirectNotFollowed: the Kubernetes REST client (with the
// outbound policy as its WrapTransport) does not follow a redirect of the
// PipelineRun create: the bearer token and the PipelineRun stay home.
func TestR38_TektonRedirectNotFollowed(t *testing.T) {
	t.Parallel()
	for _, status := range redirectStatuses {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			t.Parallel()
			other := newRecorder(t)
			srv, hits := redirector(t, status, other.URL)
			k, err := dispatch.NewTekton(&rest.Config{Host: srv.URL, BearerToken: "r38-kube-bearer-token"}, dispatch.TektonOptions{Policy: fakePolicy(retry.NewFakeClock(t0))})
			if err != nil {
				t.Fatal(err)
			}
			rd := redact.New()
			o := k.Dispatch(redact.NewContext(context.Background(), rd), tektonTarget())
			checkRefused(t, o, other, *hits)
			if s := rd.String("r38-kube-bearer-token"); s != redact.Marker {
				t.Errorf("the redactor did not learn the bearer token: %q", s)
			}
		})
	}
}
