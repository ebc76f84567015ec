// Package tekton holds cascade's Tekton Task, its RBAC and a sample
// Pipeline as YAML; its tests check them with Tekton's own Go validation and
// in a real kube-apiserver with Tekton's controller running.
package tekton

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline"
	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/result"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// decode reads the single (or first) YAML document of file into v,
// rejecting unknown fields.
func decode(t testing.TB, file string, v any) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(data, v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

func loadTask(t testing.TB) *v1.Task {
	t.Helper()
	var task v1.Task
	decode(t, filepath.Join("task", "cascade.yaml"), &task)
	return &task
}

func loadPipeline(t testing.TB) *v1.Pipeline {
	t.Helper()
	var p v1.Pipeline
	decode(t, filepath.Join("pipeline", "sample.yaml"), &p)
	return &p
}

func TestTaskPassesTektonValidation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	task := loadTask(t)
	task.SetDefaults(ctx)
	if err := task.Validate(ctx); err != nil {
		t.Fatalf("Tekton rejects task/cascade.yaml: %v", err)
	}
	if task.Name != "cascade" {
		t.Errorf("name %q, want cascade", task.Name)
	}
	for _, k := range []string{"tekton.dev/pipelines.minVersion", "tekton.dev/categories", "tekton.dev/tags", "tekton.dev/displayName", "tekton.dev/platforms"} {
		if task.Annotations[k] == "" {
			t.Errorf("catalog annotation %s missing", k)
		}
	}
	if task.Labels["app.kubernetes.io/version"] == "" {
		t.Error("label app.kubernetes.io/version missing")
	}
	var params, results, workspaces []string
	for _, p := range task.Spec.Params {
		params = append(params, p.Name)
		if p.Description == "" {
			t.Errorf("param %s has no description", p.Name)
		}
	}
	for _, r := range task.Spec.Results {
		results = append(results, r.Name)
	}
	for _, w := range task.Spec.Workspaces {
		workspaces = append(workspaces, w.Name)
		if w.Name == "dockerconfig" && !w.Optional {
			t.Error("workspace dockerconfig must be optional")
		}
	}
	for name, got := range map[string][]string{"params": params, "results": results, "workspaces": workspaces} {
		want := map[string][]string{
			"params":     {"IMAGE", "DIGEST", "CONFIG", "DRY_RUN", "WRITE"},
			"results":    {"STALE", "DISPATCHED", "UPDATED_FILES"},
			"workspaces": {"source", "dockerconfig"},
		}[name]
		for _, w := range want {
			if !strings.Contains(","+strings.Join(got, ",")+",", ","+w+",") {
				t.Errorf("%s %q lack %s", name, got, w)
			}
		}
	}
	for _, s := range task.Spec.Steps {
		sc := s.SecurityContext
		if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser != 65532 {
			t.Errorf("step %s: want runAsNonRoot and runAsUser 65532, got %+v", s.Name, sc)
		}
		if !strings.HasPrefix(s.Image, "ghcr.io/imagecascade/cascade") {
			t.Errorf("step %s: image %q", s.Name, s.Image)
		}
	}
}

func TestSamplePipelinePassesTektonValidation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := loadPipeline(t)
	p.SetDefaults(ctx)
	if err := p.Validate(ctx); err != nil {
		t.Fatalf("Tekton rejects pipeline/sample.yaml: %v", err)
	}
	var cascade *v1.PipelineTask
	for i := range p.Spec.Tasks {
		if p.Spec.Tasks[i].TaskRef != nil && p.Spec.Tasks[i].TaskRef.Name == "cascade" {
			cascade = &p.Spec.Tasks[i]
		}
	}
	if cascade == nil {
		t.Fatal("no task runs the cascade Task")
	}
	got := map[string]string{}
	for _, pr := range cascade.Params {
		got[pr.Name] = pr.Value.StringVal
	}
	want := map[string]string{"IMAGE": "$(tasks.build.results.IMAGE_URL)", "DIGEST": "$(tasks.build.results.IMAGE_DIGEST)", "DRY_RUN": "$(params.dry-run)"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("cascade params (-want +got):\n%s", diff)
	}
}

func TestRBACDecodes(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("rbac.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	kinds := map[string]bool{}
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		kind, _ := obj["kind"].(string)
		kinds[kind] = true
		if kind == "Role" {
			b, _ := json.Marshal(obj)
			var role rbacv1.Role
			if err := json.Unmarshal(b, &role); err != nil {
				t.Fatal(err)
			}
			ok, discover := false, false
			for _, r := range role.Rules {
				if strings.Join(r.APIGroups, ",") == "tekton.dev" && strings.Contains(strings.Join(r.Resources, ","), "pipelineruns") && strings.Contains(strings.Join(r.Verbs, ","), "create") {
					ok = true
				}
				if strings.Join(r.APIGroups, ",") == "tekton.dev" && slices.Contains(r.Resources, "pipelines") && slices.Contains(r.Verbs, "list") {
					discover = true
				}
			}
			if !ok {
				t.Errorf("the Role cannot create pipelineruns: %+v", role.Rules)
			}
			if !discover {
				t.Errorf("the Role cannot list pipelines (discover.tekton): %+v", role.Rules)
			}
		}
	}
	if diff := cmp.Diff(map[string]bool{"ServiceAccount": true, "Role": true, "RoleBinding": true}, kinds); diff != "" {
		t.Errorf("kinds (-want +got):\n%s", diff)
	}
}

// R26: params are data. No script of ours interpolates $(params.…); they
// reach the binary through env.
func TestNoParamsInScripts(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`\$\((params|tasks)\.`)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := yaml.Unmarshal(data, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		var check func(path string, v any)
		check = func(path string, v any) {
			switch v := v.(type) {
			case map[string]any:
				for k, c := range v {
					if (k == "script" || k == "command" || k == "args") && re.MatchString(toJSON(c)) {
						t.Errorf("%s: %s.%s interpolates params: %s", f, path, k, toJSON(c))
					}
					check(path+"."+k, c)
				}
			case []any:
				for _, c := range v {
					check(path+"[]", c)
				}
			}
		}
		check("", doc)
	}
	task := loadTask(t)
	env := 0
	for _, s := range task.Spec.Steps {
		for _, e := range s.Env {
			if strings.Contains(e.Value, "$(params.") {
				env++
			}
		}
	}
	if env < 5 {
		t.Errorf("only %d params reach the step through env", env)
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// terminateWithResults marks pod Succeeded like a kubelet would, each step
// container reporting results in its termination message as Tekton's
// entrypoint writes them.
func terminateWithResults(pod *corev1.Pod, results map[string]string) {
	now := metav1.Now()
	var msg []result.RunResult
	for k, v := range results {
		msg = append(msg, result.RunResult{Key: k, Value: v, ResultType: result.TaskRunResultType})
	}
	b, _ := json.Marshal(msg)
	pod.Status.InitContainerStatuses = nil
	for _, c := range pod.Spec.InitContainers {
		pod.Status.InitContainerStatuses = append(pod.Status.InitContainerStatuses, corev1.ContainerStatus{Name: c.Name, Image: c.Image,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", StartedAt: now, FinishedAt: now}}})
	}
	pod.Status.ContainerStatuses = nil
	for _, c := range pod.Spec.Containers {
		pod.Status.ContainerStatuses = append(pod.Status.ContainerStatuses, corev1.ContainerStatus{Name: c.Name, Image: c.Image,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", Message: string(b), StartedAt: now, FinishedAt: now}}})
	}
	pod.Status.Phase = corev1.PodSucceeded
	pod.Status.StartTime = &now
}

// taskLabel is the label Tekton puts on a TaskRun's pod naming its
// pipeline task.
const taskLabel = pipeline.PipelineTaskLabelKey
