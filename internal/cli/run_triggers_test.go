package cli

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/apis"

	"github.com/imagecascade/cascade/internal/dispatch"
	"github.com/imagecascade/cascade/internal/imagetest"
	"github.com/imagecascade/cascade/internal/report"
	"github.com/imagecascade/cascade/internal/testenv"
)

// elAppCYAML is what a Tekton Triggers user writes to receive cascade's
// webhook: EventListener el-app-c in namespace ci whose trigger checks the
// signature with the GitHub interceptor (cascade's X-Hub-Signature-256,
// the secret in Secret app-c-webhook) and the event type (X-GitHub-Event,
// set in rebuild.webhook.headers), binds the payload's fields and creates
// a tekton.dev/v1 PipelineRun of app-c-build with them. No Trigger sets
// serviceAccountName: the sink runs outside a pod (see
// testenv.StartEventListener).
const elAppCYAML = `
apiVersion: v1
kind: Secret
metadata: {name: app-c-webhook, namespace: ci}
stringData: {secret: s3cret}
---
apiVersion: triggers.tekton.dev/v1beta1
kind: TriggerBinding
metadata: {name: cascade-payload, namespace: ci}
spec:
  params:
    - {name: ref, value: $(body.ref)}
    - {name: digest, value: $(body.digest)}
    - {name: dependent, value: $(body.dependent)}
    - {name: cascade-id, value: $(body.cascade.id)}
---
apiVersion: triggers.tekton.dev/v1beta1
kind: TriggerTemplate
metadata: {name: app-c-build, namespace: ci}
spec:
  params: [{name: ref}, {name: digest}, {name: dependent}, {name: cascade-id}]
  resourcetemplates:
    - apiVersion: tekton.dev/v1
      kind: PipelineRun
      metadata:
        generateName: app-c-build-
        labels: {cascade.dev/dependent: $(tt.params.dependent)}
      spec:
        pipelineRef: {name: app-c-build}
        params:
          - {name: BASE_IMAGE, value: $(tt.params.ref)}
          - {name: BASE_DIGEST, value: $(tt.params.digest)}
          - {name: CASCADE_ID, value: $(tt.params.cascade-id)}
          - {name: DEPENDENT, value: $(tt.params.dependent)}
---
apiVersion: triggers.tekton.dev/v1beta1
kind: EventListener
metadata: {name: el-app-c, namespace: ci}
spec:
  serviceAccountName: default
  triggers:
    - name: base-image-updated
      interceptors:
        - ref: {name: github, kind: ClusterInterceptor}
          params:
            - {name: secretRef, value: {secretName: app-c-webhook, secretKey: secret}}
            - {name: eventTypes, value: [base-image-updated]}
      bindings: [{ref: cascade-payload, kind: TriggerBinding}]
      template: {ref: app-c-build}
`

// TestWebhookToTektonTriggersEventListener: cascade run's webhook
// dispatch, received by a real Tekton Triggers EventListener (its sink and
// the core GitHub interceptor) on a real kube-apiserver with Tekton's
// controller. Signed with the wrong secret, the interceptor refuses the
// event and no PipelineRun is made — but the sink has already answered
// 202 Accepted, so cascade reports the dispatch done (an EventListener
// runs its interceptors after answering). Signed with the right one, the
// TriggerTemplate's PipelineRun appears with the new base digest and the
// cascade id in its params, and the controller runs it. A second run
// sends nothing (the cascade history), so there is still one PipelineRun.
//
// Not parallel: the webhook secrets come from the environment.
func TestWebhookToTektonTriggersEventListener(t *testing.T) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	k := testenv.StartKube(t)
	tk := testenv.StartTekton(t, k)
	tr := testenv.StartTriggers(t, k)
	if err := k.CreateNamespace(ctx, "ci"); err != nil {
		t.Fatal(err)
	}
	if _, err := tk.CreatePipeline(ctx, "ci", "app-c-build", "BASE_IMAGE", "BASE_DIGEST", "CASCADE_ID", "DEPENDENT"); err != nil {
		t.Fatal(err)
	}
	if err := tr.Create(ctx, elAppCYAML); err != nil {
		t.Fatal(err)
	}
	el := tr.StartEventListener(t, "ci", "el-app-c")
	t.Logf("kube-apiserver, tekton, triggers and the eventlistener up in %v", time.Since(start).Round(time.Millisecond))

	reg := imagetest.NewRegistry(t)
	root := imagetest.Root(t)
	v1 := imagetest.On(t, root)
	baseRef := reg.Ref("acme/base:latest")
	v1d := reg.Push("acme/base:latest", v1)
	for _, app := range []string{"app-c", "app-forged"} {
		reg.Push("acme/"+app+":latest", imagetest.Annotated(imagetest.On(t, v1), baseRef, v1d))
	}
	v2d := reg.Push("acme/base:latest", imagetest.On(t, root))

	t.Setenv("APP_C_WEBHOOK_SECRET", "s3cret")
	t.Setenv("FORGED_WEBHOOK_SECRET", "not-the-secret")
	workspace := func(dependent, secretEnv string) string {
		ws := t.TempDir()
		writeFile(t, filepath.Join(ws, "cascade.yaml"), strings.NewReplacer("REG", reg.Host, "APP", dependent, "ELURL", el.URL, "SECRETENV", secretEnv).Replace(`version: 1
images:
  - {name: base, image: REG/acme/base:latest, rebuild: {rebase: {}}}
  - name: APP
    image: REG/acme/APP:latest
    from: [REG/acme/base]
    rebuild:
      webhook: {url: "ELURL", secretEnv: SECRETENV, headers: {X-GitHub-Event: base-image-updated}}
`))
		return ws
	}
	cascade := func(ws string) (int, report.Run, string) {
		t.Helper()
		code, out, errs := run(t, "run", "--image", baseRef, "--workspace", ws, "-o", "json")
		var r report.Run
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("exit %d, run JSON: %v\n%s\n%s", code, err, out, errs)
		}
		return code, r, errs
	}
	pipelineRuns := func() []pipelinev1.PipelineRun {
		t.Helper()
		prs, err := tk.Client.TektonV1().PipelineRuns("ci").List(ctx, metav1.ListOptions{LabelSelector: "triggers.tekton.dev/eventlistener=el-app-c"})
		if err != nil {
			t.Fatal(err)
		}
		return prs.Items
	}

	// The wrong secret. The sink answers 202 before its interceptors run,
	// so cascade cannot tell; the GitHub interceptor then refuses it.
	code, r, errs := cascade(workspace("app-forged", "FORGED_WEBHOOK_SECRET"))
	if code != 0 || len(r.Dispatches) != 1 || r.Dispatches[0].Status != dispatch.StatusDispatched || !strings.Contains(r.Dispatches[0].Detail, "202") {
		t.Fatalf("wrong secret: exit %d, dispatches %+v, want the EventListener's 202 reported as dispatched\n%s", code, r.Dispatches, errs)
	}
	logCtx, logCancel := context.WithTimeout(ctx, time.Minute)
	defer logCancel()
	line, err := el.WaitLog(logCtx, "interceptor stopped trigger processing", "signature check failed")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the GitHub interceptor refused the forged event: %s", line)
	if prs := pipelineRuns(); len(prs) != 0 {
		t.Fatalf("a forged event made PipelineRun %s", prs[0].Name)
	}

	// The right secret: a PipelineRun with the new digest and the cascade id.
	ws := workspace("app-c", "APP_C_WEBHOOK_SECRET")
	code, r, errs = cascade(ws)
	if code != 0 || len(r.Dispatches) != 1 || r.Dispatches[0].Status != dispatch.StatusDispatched {
		t.Fatalf("exit %d, dispatches %+v\n%s", code, r.Dispatches, errs)
	}
	key := r.Dispatches[0].Key
	if want := "app-c-" + v2d.Hex[:12]; key != want {
		t.Errorf("cascade id %q, want %q", key, want)
	}
	var prs []pipelinev1.PipelineRun
	for len(prs) == 0 {
		if prs = pipelineRuns(); len(prs) > 0 {
			break
		}
		if err := ctx.Err(); err != nil {
			t.Fatalf("no PipelineRun from the signed webhook: %v; sink log:\n%s", err, el.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(prs) != 1 {
		t.Fatalf("%d PipelineRuns, want 1", len(prs))
	}
	pr := prs[0]
	got := map[string]string{}
	for _, p := range pr.Spec.Params {
		got[p.Name] = p.Value.StringVal
	}
	want := map[string]string{
		"BASE_IMAGE":  reg.Host + "/acme/base@" + v2d.String(),
		"BASE_DIGEST": v2d.String(),
		"CASCADE_ID":  key,
		"DEPENDENT":   "app-c",
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("PipelineRun %s param %s = %q, want %q", pr.Name, name, got[name], w)
		}
	}
	if pr.Labels["cascade.dev/dependent"] != "app-c" {
		t.Errorf("PipelineRun %s labels %v", pr.Name, pr.Labels)
	}
	// Tekton's controller takes it: a TaskRun and its Pod; completing the
	// Pod completes the run.
	done, err := tk.CompletePipelineRun(ctx, "ci", pr.Name, true)
	if err != nil {
		t.Fatalf("completing PipelineRun %s: %v", pr.Name, err)
	}
	if c := done.Status.GetCondition(apis.ConditionSucceeded); c == nil || c.Status != corev1.ConditionTrue {
		t.Errorf("PipelineRun %s did not succeed: %+v", pr.Name, done.Status.Conditions)
	}

	// Again: the cascade history says app-c was dispatched for this digest,
	// so nothing is sent (the sink saw two events in all) and there is
	// still one PipelineRun.
	code, out, errs := run(t, "run", "--image", baseRef, "--workspace", ws)
	if code != 0 || !strings.Contains(out, "recorded in the cascade history") {
		t.Errorf("second run: exit %d\n%s\n%s", code, out, errs)
	}
	if n := len(el.LogLines("handling event with path")); n != 2 {
		t.Errorf("the sink handled %d events, want 2 (forged, signed)", n)
	}
	if prs := pipelineRuns(); len(prs) != 1 {
		t.Errorf("%d PipelineRuns after a second run, want 1", len(prs))
	}
	t.Logf("done in %v", time.Since(start).Round(time.Millisecond))
}
