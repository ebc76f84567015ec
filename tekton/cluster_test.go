package tekton

import (
	"context"
	"strings"
	"testing"
	"time"

	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/imagecascade/cascade/internal/testenv"
)

// TestSamplePipelineInRealTekton creates the cascade Task and the sample
// Pipeline in a real kube-apiserver with Tekton's controller running,
// starts a PipelineRun, plays the kubelet for the fetch and build pods
// (build reports IMAGE_URL and IMAGE_DIGEST as Tekton's entrypoint does),
// and checks the pod of the cascade TaskRun: the build's results are in its
// env, and no command, argument or script of any container holds them.
func TestSamplePipelineInRealTekton(t *testing.T) {
	t.Parallel()
	k := testenv.StartKube(t)
	tk := testenv.StartTekton(t, k)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const ns = "ci"
	if err := k.CreateNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	tc := tk.Client.TektonV1()

	task := loadTask(t)
	if _, err := tc.Tasks(ns).Create(ctx, task, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating the cascade Task: %v", err)
	}
	// Stand-ins for the catalog's git-clone and buildah Tasks, with the
	// params, workspaces and results the sample uses.
	for _, st := range []*v1.Task{
		{ObjectMeta: metav1.ObjectMeta{Name: "git-clone"}, Spec: v1.TaskSpec{
			Params:     v1.ParamSpecs{{Name: "url", Type: v1.ParamTypeString}, {Name: "revision", Type: v1.ParamTypeString}},
			Workspaces: []v1.WorkspaceDeclaration{{Name: "output"}},
			Steps:      []v1.Step{{Name: "clone", Image: "busybox", Command: []string{"true"}}},
		}},
		{ObjectMeta: metav1.ObjectMeta{Name: "buildah"}, Spec: v1.TaskSpec{
			Params:     v1.ParamSpecs{{Name: "IMAGE", Type: v1.ParamTypeString}, {Name: "FORMAT", Type: v1.ParamTypeString}},
			Workspaces: []v1.WorkspaceDeclaration{{Name: "source"}, {Name: "dockerconfig", Optional: true}},
			Results:    []v1.TaskResult{{Name: "IMAGE_URL"}, {Name: "IMAGE_DIGEST"}},
			Steps:      []v1.Step{{Name: "build", Image: "busybox", Command: []string{"true"}}},
		}},
	} {
		if _, err := tc.Tasks(ns).Create(ctx, st, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating stand-in Task %s: %v", st.Name, err)
		}
	}
	p := loadPipeline(t)
	if _, err := tc.Pipelines(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating the sample Pipeline: %v", err)
	}

	// A value that would do harm if a shell ever saw it.
	imageURL := "registry.example.com/acme/httpd-base:latest$(id)`id`"
	digest := "sha256:" + strings.Repeat("ab", 32)
	pr := &v1.PipelineRun{
		ObjectMeta: metav1.ObjectMeta{Name: "httpd-base-1"},
		Spec: v1.PipelineRunSpec{
			PipelineRef: &v1.PipelineRef{Name: p.Name},
			Params: v1.Params{
				{Name: "git-url", Value: *v1.NewStructuredValues("https://git.example.com/acme/httpd-base")},
				{Name: "image", Value: *v1.NewStructuredValues("registry.example.com/acme/httpd-base:latest")},
			},
			Workspaces: []v1.WorkspaceBinding{{Name: "source", EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		},
	}
	if _, err := tc.PipelineRuns(ns).Create(ctx, pr, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating the PipelineRun: %v", err)
	}

	kc, err := kubernetes.NewForConfig(k.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	done := map[string]bool{}
	var cascadePod *corev1.Pod
	for cascadePod == nil {
		pods, err := kc.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "tekton.dev/pipelineRun=" + pr.Name})
		if err != nil {
			t.Fatal(err)
		}
		for i := range pods.Items {
			pod := &pods.Items[i]
			switch task := pod.Labels[taskLabel]; {
			case task == "cascade":
				cascadePod = pod
			case !done[pod.Name]:
				results := map[string]string{}
				if task == "build" {
					results = map[string]string{"IMAGE_URL": imageURL, "IMAGE_DIGEST": digest}
				}
				terminateWithResults(pod, results)
				if _, err := kc.CoreV1().Pods(ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err == nil {
					done[pod.Name] = true
				}
			}
		}
		if cascadePod != nil {
			break
		}
		got, err := tc.PipelineRuns(ns).Get(ctx, pr.Name, metav1.GetOptions{})
		if ctx.Err() != nil || err == nil && got.IsDone() {
			var why []string
			trs, _ := tc.TaskRuns(ns).List(context.Background(), metav1.ListOptions{})
			for _, tr := range trs.Items {
				for _, c := range tr.Status.Conditions {
					why = append(why, tr.Name+": "+c.Reason+": "+c.Message)
				}
			}
			t.Fatalf("no pod for the cascade task (%v); taskruns:\n%s", ctx.Err(), strings.Join(why, "\n"))
		}
		time.Sleep(200 * time.Millisecond)
	}

	var step *corev1.Container
	for i := range cascadePod.Spec.Containers {
		if cascadePod.Spec.Containers[i].Name == "step-cascade" {
			step = &cascadePod.Spec.Containers[i]
		}
	}
	if step == nil {
		t.Fatalf("no step-cascade container in pod %s: %+v", cascadePod.Name, cascadePod.Spec.Containers)
	}
	env := map[string]string{}
	for _, e := range step.Env {
		env[e.Name] = e.Value
	}
	for name, want := range map[string]string{"INPUT_IMAGE": imageURL, "INPUT_DIGEST": digest, "INPUT_DRY-RUN": "false", "INPUT_COMMAND": "run", "INPUT_WORKSPACE": "/workspace/source"} {
		if env[name] != want {
			t.Errorf("env %s = %q, want %q", name, env[name], want)
		}
	}
	if env["DOCKER_CONFIG"] != "" {
		t.Errorf("DOCKER_CONFIG = %q with the dockerconfig workspace unbound, want empty", env["DOCKER_CONFIG"])
	}
	if sc := step.SecurityContext; sc == nil || sc.RunAsUser == nil || *sc.RunAsUser != 65532 || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		t.Errorf("step security context %+v: want non-root 65532", sc)
	}
	all := append(append([]corev1.Container{}, cascadePod.Spec.InitContainers...), cascadePod.Spec.Containers...)
	for _, c := range all {
		text := strings.Join(append(append([]string{}, c.Command...), c.Args...), " ")
		for _, v := range []string{imageURL, "$(id)", digest} {
			if strings.Contains(text, v) {
				t.Errorf("container %s: the value %q is in its command line: %s", c.Name, v, text)
			}
		}
	}
	for name, value := range cascadePod.Annotations {
		if strings.Contains(value, "$(id)") {
			t.Errorf("annotation %s carries the value: a script would see it", name)
		}
	}
	t.Logf("cascade pod %s: step args %q, INPUT_IMAGE=%q", cascadePod.Name, step.Args, env["INPUT_IMAGE"])
}
