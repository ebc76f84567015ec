package testenv

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/tektoncd/pipeline/pkg/apis/pipeline"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"knative.dev/pkg/apis"
)

// TektonNamespace is the namespace of Tekton's own objects (its config maps)
// and the controller's SYSTEM_NAMESPACE.
const TektonNamespace = "tekton-pipelines"

const (
	// tektonReadyTimeout bounds the wait for CRDs to be established and for
	// the controller to reconcile a first PipelineRun.
	tektonReadyTimeout = 2 * time.Minute
	pollInterval       = 100 * time.Millisecond
	// canaryPipelineRun is the PipelineRun StartTekton waits on, in
	// TektonNamespace where tests' listings do not see it.
	canaryPipelineRun = "testenv-canary"
)

// Tekton is Tekton Pipelines' controller running against a [Kube]: its CRDs
// and config maps created from the config/ YAMLs of the
// github.com/tektoncd/pipeline module, the controller a child process of the
// test. There is no webhook (objects are neither defaulted nor validated on
// create; the controller defaults what it reconciles) and no kubelet: a
// TaskRun's Pod stays Pending until [Tekton.CompletePipelineRun] patches its
// status.
type Tekton struct {
	// Kube is the cluster Tekton runs in.
	Kube *Kube
	// Client is a Tekton clientset for the admin user.
	Client versioned.Interface

	kube kubernetes.Interface
}

// StartTekton creates Tekton's namespace, CRDs and config maps in k (with
// create, never apply) from the config/ folder beside the controller binary
// (.ci/build-tools copies it there), starts the controller (built by
// .ci/build-tools, or $CASCADE_TEKTON_CONTROLLER) with -disable-ha and
// placeholder -*-image flags, and waits until it has reconciled a first
// PipelineRun. Its probe and profiling servers get free ports
// (PROBES_PORT, PROFILING_PORT) and metrics are off, so it binds neither
// 8080 nor 8008 nor 9090 and several can run at once. Cleanup kills exactly
// the controller's PID and waits for it. A missing binary fails the test in
// CI and skips it elsewhere.
func StartTekton(t testing.TB, k *Kube) *Tekton {
	t.Helper()
	bin, configDir := tektonTools(t)
	if bin == "" {
		return nil
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), tektonReadyTimeout)
	defer cancel()

	cfg := k.RESTConfig()
	tk := &Tekton{Kube: k}
	var err error
	if tk.kube, err = kubernetes.NewForConfig(cfg); err != nil {
		t.Fatalf("starting tekton: %v", err)
	}
	if tk.Client, err = versioned.NewForConfig(cfg); err != nil {
		t.Fatalf("starting tekton: %v", err)
	}
	if err := installTekton(ctx, k, configDir, "100-namespace/*.yaml", "300-crds/*.yaml", "config-*.yaml"); err != nil {
		t.Fatalf("starting tekton: %v", err)
	}
	installed := time.Since(start)

	c, err := tk.startController(t, bin)
	if err != nil {
		t.Fatalf("starting the tekton controller: %v", err)
	}
	if err := tk.waitReconciling(ctx, c); err != nil {
		c.stop()
		t.Fatalf("starting the tekton controller: %v; log:\n%s", err, c.tail(logTail))
	}
	t.Logf("tekton %s: CRDs and config maps in %v, controller reconciling after %v", TektonVersion, installed.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	return tk
}

// tektonTools returns the controller binary and the config/ folder beside
// it; "" when missing (the test has failed in CI, or is skipped).
func tektonTools(t testing.TB) (bin, configDir string) {
	t.Helper()
	bin = requireTool(t, EnvTektonController, "tekton-pipeline", TektonVersion, "controller")
	if bin == "" {
		return "", ""
	}
	configDir = filepath.Join(filepath.Dir(bin), "config")
	if _, err := os.Stat(filepath.Join(configDir, "300-crds")); err != nil {
		missing(t, "Tekton's config/ YAMLs not found beside %s (%v): run .ci/build-tools", bin, err)
		return "", ""
	}
	return bin, configDir
}

// InstallTektonCRDs creates only Tekton's CRDs in k (config/300-crds, from
// the same folder as StartTekton) and waits until they are established: no
// controller, no config maps — PipelineRuns are stored and nothing
// reconciles them (benchmark B3 counts objects on a quiet API server).
func InstallTektonCRDs(t testing.TB, k *Kube) {
	t.Helper()
	_, configDir := tektonTools(t)
	if configDir == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), tektonReadyTimeout)
	defer cancel()
	if err := installTekton(ctx, k, configDir, "300-crds/*.yaml"); err != nil {
		t.Fatalf("installing Tekton's CRDs: %v", err)
	}
}

// CreatePipeline creates Pipeline ns/name: one Task, "build", with one
// step, and the given string params, each defaulting to "" so a
// PipelineRun may pass any subset of them.
func (tk *Tekton) CreatePipeline(ctx context.Context, ns, name string, params ...string) (*pipelinev1.Pipeline, error) {
	p := &pipelinev1.Pipeline{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: pipelinev1.PipelineSpec{
			Tasks: []pipelinev1.PipelineTask{{
				Name: "build",
				TaskSpec: &pipelinev1.EmbeddedTask{TaskSpec: pipelinev1.TaskSpec{
					Steps: []pipelinev1.Step{{Name: "build", Image: "busybox", Command: []string{"true"}}},
				}},
			}},
		},
	}
	for _, name := range params {
		p.Spec.Params = append(p.Spec.Params, pipelinev1.ParamSpec{
			Name:    name,
			Type:    pipelinev1.ParamTypeString,
			Default: pipelinev1.NewStructuredValues(""),
		})
	}
	created, err := tk.Client.TektonV1().Pipelines(ns).Create(ctx, p, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("creating pipeline %s/%s: %w", ns, name, err)
	}
	return created, nil
}

// RunningPod waits until PipelineRun ns/name has a TaskRun whose Pod
// exists, and returns that Pod.
func (tk *Tekton) RunningPod(ctx context.Context, ns, name string) (*corev1.Pod, error) {
	for {
		pods, err := tk.pods(ctx, ns, name)
		if err != nil {
			return nil, err
		}
		if len(pods) > 0 {
			return pods[0], nil
		}
		if err := sleep(ctx, pollInterval); err != nil {
			return nil, fmt.Errorf("waiting for a pod of pipelinerun %s/%s: %w", ns, name, err)
		}
	}
}

// CompletePipelineRun plays the kubelet for PipelineRun ns/name: it marks
// the Pod of each of its TaskRuns, as they appear, Succeeded (every container
// terminated with exit code 0) or, when succeeded is false, Failed (exit
// code 1), until the controller has marked the PipelineRun done, and returns
// the finished PipelineRun. Bounded by ctx.
func (tk *Tekton) CompletePipelineRun(ctx context.Context, ns, name string, succeeded bool) (*pipelinev1.PipelineRun, error) {
	for {
		pr, err := tk.Client.TektonV1().PipelineRuns(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("completing pipelinerun %s/%s: %w", ns, name, err)
		}
		if pr.IsDone() {
			return pr, nil
		}
		pods, err := tk.pods(ctx, ns, name)
		if err != nil {
			return nil, err
		}
		for _, pod := range pods {
			if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
				continue
			}
			terminate(pod, succeeded)
			_, err := tk.kube.CoreV1().Pods(ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
			if err != nil && !apierrors.IsConflict(err) {
				return nil, fmt.Errorf("completing pod %s/%s of pipelinerun %s: %w", ns, pod.Name, name, err)
			}
		}
		if err := sleep(ctx, pollInterval); err != nil {
			return nil, fmt.Errorf("waiting for pipelinerun %s/%s to finish: %w", ns, name, err)
		}
	}
}

// pods returns the existing Pods of the TaskRuns of PipelineRun ns/name.
func (tk *Tekton) pods(ctx context.Context, ns, name string) ([]*corev1.Pod, error) {
	trs, err := tk.Client.TektonV1().TaskRuns(ns).List(ctx, metav1.ListOptions{
		LabelSelector: pipeline.PipelineRunLabelKey + "=" + name,
	})
	if err != nil {
		return nil, fmt.Errorf("listing taskruns of pipelinerun %s/%s: %w", ns, name, err)
	}
	var pods []*corev1.Pod
	for _, tr := range trs.Items {
		if tr.Status.PodName == "" {
			continue
		}
		pod, err := tk.kube.CoreV1().Pods(ns).Get(ctx, tr.Status.PodName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("getting pod %s/%s of taskrun %s: %w", ns, tr.Status.PodName, tr.Name, err)
		}
		pods = append(pods, pod)
	}
	return pods, nil
}

// terminate sets pod's status to what a kubelet reports after every
// container ran: init containers exit 0, the others exit 0 or 1.
func terminate(pod *corev1.Pod, succeeded bool) {
	now := metav1.Now()
	exit, reason, phase := int32(0), "Completed", corev1.PodSucceeded
	if !succeeded {
		exit, reason, phase = 1, "Error", corev1.PodFailed
	}
	status := func(c corev1.Container, code int32, reason string) corev1.ContainerStatus {
		return corev1.ContainerStatus{
			Name:  c.Name,
			Image: c.Image,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: code, Reason: reason, StartedAt: now, FinishedAt: now,
			}},
		}
	}
	pod.Status.InitContainerStatuses = nil
	for _, c := range pod.Spec.InitContainers {
		pod.Status.InitContainerStatuses = append(pod.Status.InitContainerStatuses, status(c, 0, "Completed"))
	}
	pod.Status.ContainerStatuses = nil
	for _, c := range pod.Spec.Containers {
		pod.Status.ContainerStatuses = append(pod.Status.ContainerStatuses, status(c, exit, reason))
	}
	pod.Status.Phase = phase
	pod.Status.StartTime = &now
}

// installTekton creates the namespace, the CRDs and the config maps of
// Tekton's config/ folder, in that order, and waits for the CRDs to be
// established.
func installTekton(ctx context.Context, k *Kube, configDir string, patterns ...string) error {
	var files []string
	for _, pattern := range patterns {
		m, err := filepath.Glob(filepath.Join(configDir, pattern))
		if err != nil {
			return fmt.Errorf("installing tekton: %w", err)
		}
		if len(m) == 0 {
			return fmt.Errorf("installing tekton: no %s in %s", pattern, configDir)
		}
		files = append(files, m...)
	}
	var objs []*unstructured.Unstructured
	for _, file := range files {
		fileObjs, err := readObjects(file)
		if err != nil {
			return err
		}
		for _, obj := range fileObjs {
			configure(obj)
		}
		objs = append(objs, fileObjs...)
	}
	if err := createAll(ctx, k.RESTConfig(), objs); err != nil {
		return fmt.Errorf("installing tekton: %w", err)
	}
	return nil
}

// configure adjusts Tekton's stock config for a controller that is a child
// process on a shared machine: no metrics server (it would bind :9090).
func configure(obj *unstructured.Unstructured) {
	if obj.GetKind() == "ConfigMap" && obj.GetName() == "config-observability" {
		_ = unstructured.SetNestedField(obj.Object, "none", "data", "metrics-protocol")
	}
}

// startController starts the controller with the environment its
// Deployment in config/controller.yaml sets, free probe and profiling
// ports, and waits for its probe server.
func (tk *Tekton) startController(t testing.TB, bin string) (*child, error) {
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "controller.kubeconfig")
	if err := tk.Kube.writeKubeconfig(kubeconfig, "admin", tk.Kube.adminToken); err != nil {
		return nil, err
	}
	probes, err := freePort()
	if err != nil {
		return nil, err
	}
	profiling, err := freePort()
	if err != nil {
		return nil, err
	}
	env := append(slices.Clone(os.Environ()),
		"SYSTEM_NAMESPACE="+TektonNamespace,
		"KUBERNETES_MIN_VERSION=v1.28.0",
		"CONFIG_DEFAULTS_NAME=config-defaults",
		"CONFIG_LOGGING_NAME=config-logging",
		"CONFIG_OBSERVABILITY_NAME=config-observability",
		"CONFIG_FEATURE_FLAGS_NAME=feature-flags",
		"CONFIG_LEADERELECTION_NAME=config-leader-election-controller",
		"CONFIG_SPIRE=config-spire",
		"METRICS_DOMAIN=tekton.dev/pipeline",
		"PROBES_PORT="+strconv.Itoa(probes),
		"PROFILING_PORT="+strconv.Itoa(profiling),
	)
	// Pods never run here, so the images are placeholders.
	image := func(name string) string { return "testenv.invalid/tekton/" + name + ":" + TektonVersion }
	c, err := startChild(t, filepath.Join(dir, "controller.log"), bin, env,
		"-kubeconfig", kubeconfig,
		"-disable-ha",
		"-entrypoint-image", image("entrypoint"),
		"-nop-image", image("nop"),
		"-sidecarlogresults-image", image("sidecarlogresults"),
		"-workingdirinit-image", image("workingdirinit"),
		"-shell-image", image("busybox"),
		"-shell-image-win", image("powershell"),
	)
	if err != nil {
		return nil, err
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/readiness", probes)
	if err := c.waitHTTP(tektonReadyTimeout, url, http.DefaultClient, nil); err != nil {
		c.stop()
		return nil, fmt.Errorf("%w; log:\n%s", err, c.tail(logTail))
	}
	return c, nil
}

// waitReconciling creates a PipelineRun of a Pipeline that does not exist
// in TektonNamespace and waits until the controller gives it a condition:
// proof that informers are synced and reconcilers run.
func (tk *Tekton) waitReconciling(ctx context.Context, c *child) error {
	pr := &pipelinev1.PipelineRun{
		ObjectMeta: metav1.ObjectMeta{Name: canaryPipelineRun, Namespace: TektonNamespace},
		Spec:       pipelinev1.PipelineRunSpec{PipelineRef: &pipelinev1.PipelineRef{Name: "testenv-missing"}},
	}
	prs := tk.Client.TektonV1().PipelineRuns(TektonNamespace)
	if _, err := prs.Create(ctx, pr, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating canary pipelinerun: %w", err)
	}
	for {
		got, err := prs.Get(ctx, canaryPipelineRun, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("getting canary pipelinerun: %w", err)
		}
		if got.Status.GetCondition(apis.ConditionSucceeded) != nil {
			return nil
		}
		if err := c.running(); err != nil {
			return err
		}
		if err := sleep(ctx, pollInterval); err != nil {
			return fmt.Errorf("waiting for the controller to reconcile a pipelinerun: %w", err)
		}
	}
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}
