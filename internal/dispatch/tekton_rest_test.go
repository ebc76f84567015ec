package dispatch_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"k8s.io/client-go/rest"

	"github.com/imagecascade/cascade/internal/config"
	"github.com/imagecascade/cascade/internal/dispatch"
	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/retry"
	"github.com/imagecascade/cascade/internal/tektontest"
)

// apiStatus is the metav1.Status body the API server answers errors with.
func apiStatus(code int, reason, message string) string {
	b, _ := json.Marshal(map[string]any{
		"kind": "Status", "apiVersion": "v1", "metadata": map[string]any{},
		"status": "Failure", "message": message, "reason": reason, "code": code,
		"details": map[string]any{"name": "app-a-1a2b1a2b1a2b", "group": "tekton.dev", "kind": "pipelineruns"},
	})
	return string(b)
}

// TestTektonRESTClient drives NewTekton's REST client against an API stand-in:
// the request (method, path, content type, a body that is Tekton's
// PipelineRun, strictly), and the API server's Status answers decoded to the
// outcomes the fake clientset gives — AlreadyExists is already dispatched,
// Forbidden explained and not retried, a 504 retried, Invalid exit 2.
func TestTektonRESTClient(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		answers  []func(w http.ResponseWriter)
		status   dispatch.Status
		attempts int
		errHas   string
		code     int
	}{
		{name: "created", status: dispatch.StatusDispatched, attempts: 1,
			answers: []func(http.ResponseWriter){created}},
		{name: "already exists", status: dispatch.StatusAlreadyDispatched, attempts: 1,
			answers: []func(http.ResponseWriter){answer(409, apiStatus(409, "AlreadyExists", `pipelineruns.tekton.dev "app-a-1a2b1a2b1a2b" already exists`))}},
		{name: "forbidden", status: dispatch.StatusFailed, attempts: 1, code: exitcode.Invalid,
			errHas:  "the service account needs create on pipelineruns.tekton.dev in namespace ci",
			answers: []func(http.ResponseWriter){answer(403, apiStatus(403, "Forbidden", `pipelineruns.tekton.dev is forbidden: User "x" cannot create resource`))}},
		{name: "timeout then already exists", status: dispatch.StatusAlreadyDispatched, attempts: 2,
			answers: []func(http.ResponseWriter){
				answer(504, apiStatus(504, "Timeout", "the server was unable to return a response in the time allotted")),
				answer(409, apiStatus(409, "AlreadyExists", "already exists")),
			}},
		{name: "invalid", status: dispatch.StatusFailed, attempts: 1, code: exitcode.Invalid, errHas: "spec.params",
			answers: []func(http.ResponseWriter){answer(422, apiStatus(422, "Invalid", `PipelineRun.tekton.dev "x" is invalid: spec.params: Invalid value`))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := int(calls.Add(1))
				if r.Method != http.MethodPost || r.URL.Path != "/apis/tekton.dev/v1/namespaces/ci/pipelineruns" {
					t.Errorf("request %s %s", r.Method, r.URL.Path)
				}
				if ct := r.Header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("content type %q", ct)
				}
				body, _ := io.ReadAll(r.Body)
				var pr dispatch.PipelineRun
				if err := json.Unmarshal(body, &pr); err != nil {
					t.Errorf("body: %v", err)
				} else if _, err := tektontest.ToTekton(&pr); err != nil {
					t.Errorf("body is not Tekton's PipelineRun: %v", err)
				}
				tt.answers[min(n, len(tt.answers))-1](w)
			}))
			defer srv.Close()
			k, err := dispatch.NewTekton(&rest.Config{Host: srv.URL}, dispatch.TektonOptions{Policy: fakePolicy(retry.NewFakeClock(t0))})
			if err != nil {
				t.Fatal(err)
			}
			o := k.Dispatch(context.Background(), tektonTarget())
			if o.Status != tt.status || o.Attempts != tt.attempts || int(calls.Load()) != tt.attempts {
				t.Fatalf("outcome %+v after %d requests, want %s after %d", o, calls.Load(), tt.status, tt.attempts)
			}
			if tt.errHas != "" && (o.Err == nil || !strings.Contains(o.Err.Error(), tt.errHas)) {
				t.Errorf("error %v, want it to say %q", o.Err, tt.errHas)
			}
			if tt.code != 0 && exitcode.Of(o.Err) != tt.code {
				t.Errorf("exit code %d (%v), want %d", exitcode.Of(o.Err), o.Err, tt.code)
			}
		})
	}
}

func created(w http.ResponseWriter) {
	answer(201, `{"apiVersion":"tekton.dev/v1","kind":"PipelineRun"}`)(w)
}

func answer(code int, body string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = io.WriteString(w, body)
	}
}

// TestBuildPipelineRunPassesTektonValidation: every shape of rebuild.tekton
// makes a PipelineRun that Tekton's type takes field for field and that
// Tekton's own validation accepts.
func TestBuildPipelineRunPassesTektonValidation(t *testing.T) {
	t.Parallel()
	shapes := map[string]*config.Tekton{
		"everything": tektonTarget().Rebuild.Tekton,
		"resolver":   {Namespace: "ci", PipelineRef: &config.TektonResolverRef{Resolver: "git", Params: map[string]string{"url": "https://example.com/r.git"}}},
		"workspaces": {Namespace: "ci", Pipeline: "p", Workspaces: []config.TektonWorkspace{
			{Name: "cm", ConfigMap: &config.ConfigMapVolume{Name: "c"}},
			{Name: "sec", Secret: &config.SecretVolume{SecretName: "s"}},
			{Name: "tmpl", VolumeClaimTemplate: map[string]any{"spec": map[string]any{"accessModes": []any{"ReadWriteOnce"}, "resources": map[string]any{"requests": map[string]any{"storage": "1Gi"}}}}},
		}},
		"minimal": {Namespace: "ci", Pipeline: "p"},
	}
	for name, cfg := range shapes {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			pr, err := dispatch.BuildPipelineRun(target("app-a", config.Rebuild{Tekton: cfg}))
			if err != nil {
				t.Fatal(err)
			}
			tp, err := tektontest.ToTekton(pr)
			if err != nil {
				t.Fatal(err)
			}
			if ferr := tp.Validate(context.Background()); ferr != nil {
				t.Errorf("Tekton's validation: %v", ferr)
			}
		})
	}
}
