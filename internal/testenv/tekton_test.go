package testenv

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/apis"
)

func TestReadObjects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, yaml string
		want       []string // kind/name
	}{
		{"one", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n", []string{"Namespace/a"}},
		{"comments and empty documents", "# c\n---\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n---\n# only a comment\n", []string{"ConfigMap/b"}},
		{"two", "kind: A\nmetadata: {name: x}\n---\nkind: B\nmetadata: {name: w}\n", []string{"A/x", "B/w"}},
		{"empty", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			file := filepath.Join(t.TempDir(), "x.yaml")
			if err := os.WriteFile(file, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			objs, err := readObjects(file)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, o := range objs {
				got = append(got, o.GetKind()+"/"+o.GetName())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("readObjects (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadObjectsRejectsBadYAML(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(file, []byte("kind: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readObjects(file); err == nil {
		t.Error("readObjects(bad YAML) = nil error")
	}
}

// TestTektonPipelineRunCompletes runs the real controller: a PipelineRun
// goes Running with a TaskRun and a Pod, and patching the Pod's status
// finishes it, both ways.
func TestTektonPipelineRunCompletes(t *testing.T) {
	t.Parallel()
	start := time.Now()
	tk := StartTekton(t, StartKube(t))
	t.Logf("cluster and controller up in %v", time.Since(start).Round(time.Millisecond))

	tests := []struct {
		name      string
		succeeded bool
		want      corev1.ConditionStatus
	}{
		{"succeeded", true, corev1.ConditionTrue},
		{"failed", false, corev1.ConditionFalse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			ns := "ci-" + tt.name
			if err := tk.Kube.CreateNamespace(ctx, ns); err != nil {
				t.Fatal(err)
			}
			if _, err := tk.CreatePipeline(ctx, ns, "build-app", "image"); err != nil {
				t.Fatal(err)
			}
			pr := &pipelinev1.PipelineRun{
				ObjectMeta: metav1.ObjectMeta{Name: "build-app-1", Namespace: ns},
				Spec: pipelinev1.PipelineRunSpec{
					PipelineRef: &pipelinev1.PipelineRef{Name: "build-app"},
					Params:      pipelinev1.Params{{Name: "image", Value: *pipelinev1.NewStructuredValues("registry.test/app")}},
				},
			}
			if _, err := tk.Client.TektonV1().PipelineRuns(ns).Create(ctx, pr, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}

			pod, err := tk.RunningPod(ctx, ns, pr.Name)
			if err != nil {
				t.Fatal(err)
			}
			if pod.Status.Phase != corev1.PodPending && pod.Status.Phase != "" {
				t.Errorf("pod %s phase %q before completion, want Pending", pod.Name, pod.Status.Phase)
			}
			// The run reports Running (its condition may lag the pod).
			for {
				running, err := tk.Client.TektonV1().PipelineRuns(ns).Get(ctx, pr.Name, metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				c := running.Status.GetCondition(apis.ConditionSucceeded)
				if c != nil && c.Status == corev1.ConditionUnknown && c.Reason == "Running" {
					break
				}
				if err := sleep(ctx, pollInterval); err != nil {
					t.Fatalf("pipelinerun with a pod never Running; last condition %+v", c)
				}
			}

			done, err := tk.CompletePipelineRun(ctx, ns, pr.Name, tt.succeeded)
			if err != nil {
				t.Fatal(err)
			}
			c := done.Status.GetCondition(apis.ConditionSucceeded)
			if c == nil || c.Status != tt.want {
				t.Errorf("finished pipelinerun condition = %+v, want status %s", c, tt.want)
			}
			t.Logf("pipelinerun %s/%s: %s (%s)", ns, pr.Name, c.GetReason(), c.GetMessage())
		})
	}
}
