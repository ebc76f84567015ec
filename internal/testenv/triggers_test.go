package testenv

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// TestTriggersVersionMatchesToolsModule holds TriggersVersion to what
// tools/triggers/go.mod requires, which .ci/build-triggers builds.
func TestTriggersVersionMatchesToolsModule(t *testing.T) {
	t.Parallel()
	f, err := os.Open(filepath.Join("..", "..", "tools", "triggers", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "require "))
		if len(fields) >= 2 && fields[0] == "github.com/tektoncd/triggers" {
			got = fields[1]
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if got != TriggersVersion {
		t.Errorf("tools/triggers/go.mod requires github.com/tektoncd/triggers %q, TriggersVersion is %q", got, TriggersVersion)
	}
}

// TestLockPortExcludes: a second holder of a port's lock waits until the
// first lets go. Port 1 is a name for the lock only; nothing listens.
func TestLockPortExcludes(t *testing.T) {
	t.Parallel()
	unlock, err := lockPort(t, 1)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan func(), 1)
	go func() {
		second, err := lockPort(t, 1)
		if err != nil {
			t.Error(err)
			second = func() {}
		}
		got <- second
	}()
	select {
	case second := <-got:
		second()
		t.Fatal("the second lock was taken while the first was held")
	case <-time.After(500 * time.Millisecond):
	}
	unlock()
	select {
	case second := <-got:
		second()
	case <-time.After(10 * time.Second):
		t.Fatal("the second lock was not taken after the first was released")
	}
}

func TestDecodeObjects(t *testing.T) {
	t.Parallel()
	objs, err := decodeObjects(strings.NewReader("---\n# c\n---\nkind: A\nmetadata: {name: a1, namespace: ns1}\n---\nkind: B\nmetadata: {name: b1}\n"), "test")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range objs {
		got = append(got, o.GetKind()+"/"+o.GetNamespace()+"/"+o.GetName())
	}
	if diff := cmp.Diff([]string{"A/ns1/a1", "B//b1"}, got); diff != "" {
		t.Errorf("decodeObjects (-want +got):\n%s", diff)
	}
	if _, err := decodeObjects(strings.NewReader("kind: [\n"), "bad"); err == nil || !strings.Contains(err.Error(), "bad") {
		t.Errorf("decodeObjects(bad YAML) = %v, want an error naming it", err)
	}
}

// triggersHookYAML is an EventListener in namespace "hooks" whose one
// trigger verifies the GitHub signature (secret "hook-secret", key
// "token") and event type, binds body fields and creates a ConfigMap with
// them: Triggers alone, no Tekton Pipelines needed.
const triggersHookYAML = `
apiVersion: v1
kind: Secret
metadata: {name: hook-secret, namespace: hooks}
stringData: {token: s3cret}
---
apiVersion: triggers.tekton.dev/v1beta1
kind: TriggerBinding
metadata: {name: hook, namespace: hooks}
spec:
  params:
    - {name: image, value: $(body.image)}
    - {name: id, value: $(body.cascade.id)}
---
apiVersion: triggers.tekton.dev/v1beta1
kind: TriggerTemplate
metadata: {name: hook, namespace: hooks}
spec:
  params: [{name: image}, {name: id}]
  resourcetemplates:
    - apiVersion: v1
      kind: ConfigMap
      metadata: {generateName: hook-}
      data: {image: $(tt.params.image), id: $(tt.params.id)}
---
apiVersion: triggers.tekton.dev/v1beta1
kind: EventListener
metadata: {name: hook, namespace: hooks}
spec:
  serviceAccountName: default
  triggers:
    - name: signed
      interceptors:
        - ref: {name: github, kind: ClusterInterceptor}
          params:
            - {name: secretRef, value: {secretName: hook-secret, secretKey: token}}
            - {name: eventTypes, value: [base-image-updated]}
      bindings: [{ref: hook, kind: TriggerBinding}]
      template: {ref: hook}
`

// TestTriggersEventListenerVerifiesGitHubSignature runs the real
// EventListener sink and core interceptors: a body signed with the
// Secret's token makes the TriggerTemplate's ConfigMap with the bound
// fields; a wrong signature is refused by the GitHub interceptor (the
// sink's log says so) and makes nothing, although the sink answers 202
// to both.
func TestTriggersEventListenerVerifiesGitHubSignature(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	k := StartKube(t)
	tr := StartTriggers(t, k)
	if err := k.CreateNamespace(ctx, "hooks"); err != nil {
		t.Fatal(err)
	}
	if err := tr.Create(ctx, triggersHookYAML); err != nil {
		t.Fatal(err)
	}
	el := tr.StartEventListener(t, "hooks", "hook")
	cs, err := kubernetes.NewForConfig(k.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}

	post := func(body, secret string) {
		t.Helper()
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte(body))
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, el.URL, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-GitHub-Event", "base-image-updated")
		req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(m.Sum(nil)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("POST to the sink: %s %s", resp.Status, b)
		}
	}

	// A wrong signature first, so that the one rejection in the log is it.
	post(`{"image": "registry.test/base", "cascade": {"id": "forged"}}`, "wrong")
	logCtx, logCancel := context.WithTimeout(ctx, time.Minute)
	defer logCancel()
	if _, err := el.WaitLog(logCtx, "interceptor stopped trigger processing", "signature"); err != nil {
		t.Fatal(err)
	}
	if cms := hookConfigMaps(ctx, t, cs); len(cms) != 0 {
		t.Fatalf("a forged event made ConfigMaps %v", cms)
	}

	post(`{"image": "registry.test/base", "cascade": {"id": "base-0123456789ab"}}`, "s3cret")
	var got map[string]string
	for {
		if cms := hookConfigMaps(ctx, t, cs); len(cms) > 0 {
			if len(cms) != 1 {
				t.Fatalf("ConfigMaps %v, want one", cms)
			}
			got = cms[0]
			break
		}
		if err := sleep(ctx, pollInterval); err != nil {
			t.Fatalf("no ConfigMap from the signed event: %v; sink log:\n%s", err, el.Log())
		}
	}
	want := map[string]string{"image": "registry.test/base", "id": "base-0123456789ab"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ConfigMap data (-want +got):\n%s", diff)
	}
}

// hookConfigMaps returns the data of the ConfigMaps the EventListener
// "hook" made in namespace "hooks".
func hookConfigMaps(ctx context.Context, t *testing.T, cs kubernetes.Interface) []map[string]string {
	t.Helper()
	list, err := cs.CoreV1().ConfigMaps("hooks").List(ctx, metav1.ListOptions{LabelSelector: "triggers.tekton.dev/eventlistener=hook"})
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]string
	for _, cm := range list.Items {
		out = append(out, cm.Data)
	}
	return out
}
