package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/imagecascade/cascade/internal/config"
	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/retry"
)

// Labels and annotations cascade puts on its PipelineRuns.
const (
	LabelDependent     = "cascade.dev/dependent"
	LabelBaseDigest    = "cascade.dev/base-digest"
	LabelManagedBy     = "app.kubernetes.io/managed-by"
	AnnotationBaseRef  = "cascade.dev/base-ref"
	AnnotationImage    = "cascade.dev/image"
	AnnotationChain    = "cascade.dev/chain"
	AnnotationID       = "cascade.dev/id"
	AnnotationOrigin   = "cascade.dev/origin"
	AnnotationDepth    = "cascade.dev/depth"
	managedByCascade   = "cascade"
	maxLabelValueBytes = 63
)

// Client-side limits NewTekton gives its clientset when the rest.Config
// leaves them zero, as a kubeconfig or the in-cluster config always does:
// client-go's defaults.
const (
	TektonQPS   = rest.DefaultQPS
	TektonBurst = rest.DefaultBurst
)

// TektonOptions configure a Tekton dispatcher.
type TektonOptions struct {
	// Policy retries timeouts, 429s, 5xx and connection failures. A create
	// that timed out after the object was persisted is answered by
	// AlreadyExists on the retry, which counts as success.
	Policy retry.Policy
}

// Tekton starts rebuilds by creating a tekton.dev/v1 PipelineRun named by
// the dedup key: creating it twice is refused by the API server with
// AlreadyExists, reported as already-dispatched (R10, R14).
type Tekton struct {
	client versioned.Interface
	policy retry.Policy
}

var _ Dispatcher = (*Tekton)(nil)

// NewTekton returns a Tekton dispatcher talking to the cluster of cfg (the
// caller loads a kubeconfig or the in-cluster config). A zero QPS or Burst
// in cfg becomes TektonQPS or TektonBurst; cfg itself is not changed.
func NewTekton(cfg *rest.Config, o TektonOptions) (*Tekton, error) {
	cfg = rest.CopyConfig(cfg)
	if cfg.QPS == 0 {
		cfg.QPS = TektonQPS
	}
	if cfg.Burst == 0 {
		cfg.Burst = TektonBurst
	}
	c, err := versioned.NewForConfig(cfg)
	if err != nil {
		return nil, exitcode.AsInvalid(fmt.Errorf("configuring the Tekton client: %w", err))
	}
	return NewTektonForClient(c, o), nil
}

// NewTektonForClient returns a Tekton dispatcher using c, such as Tekton's
// fake clientset in tests.
func NewTektonForClient(c versioned.Interface, o TektonOptions) *Tekton {
	return &Tekton{client: c, policy: o.Policy}
}

// Kind returns "tekton".
func (k *Tekton) Kind() string { return "tekton" }

// Dispatch creates t's PipelineRun.
func (k *Tekton) Dispatch(ctx context.Context, t Target) Outcome {
	o := Outcome{Name: t.Name, Kind: k.Kind(), Key: t.Key()}
	pr, err := BuildPipelineRun(t)
	if err != nil {
		return o.fail(err)
	}
	ns := pr.Namespace
	o.Detail = ns + "/" + pr.Name
	already := false
	n, err := retry.DoAttempts(ctx, k.policy, func(ctx context.Context) error {
		_, err := k.client.TektonV1().PipelineRuns(ns).Create(ctx, pr, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			already = true
			return nil
		}
		return classifyKube(err, ns)
	})
	o.Attempts = n
	if err != nil {
		return o.fail(fmt.Errorf("creating PipelineRun %s/%s: %w", ns, pr.Name, err))
	}
	o.Status = StatusDispatched
	if already {
		o.Status = StatusAlreadyDispatched
	}
	return o
}

// classifyKube classifies a Kubernetes API error for the retry policy and
// explains RBAC denials.
func classifyKube(err error, ns string) error {
	if err == nil {
		return nil
	}
	switch {
	case apierrors.IsForbidden(err):
		return exitcode.AsInvalid(fmt.Errorf("forbidden: the service account needs create on pipelineruns.tekton.dev in namespace %s: %w", ns, err))
	case apierrors.IsUnauthorized(err):
		return exitcode.AsInvalid(fmt.Errorf("the Kubernetes API refused the credentials: %w", err))
	case apierrors.IsNotFound(err):
		return exitcode.AsInvalid(fmt.Errorf("not found (is namespace %s there, and are Tekton's CRDs installed?): %w", ns, err))
	case apierrors.IsTooManyRequests(err), apierrors.IsServerTimeout(err), apierrors.IsTimeout(err),
		apierrors.IsInternalError(err), apierrors.IsServiceUnavailable(err), apierrors.IsUnexpectedServerError(err):
		after := time.Duration(0)
		if s, ok := apierrors.SuggestsClientDelay(err); ok {
			after = time.Duration(s) * time.Second
		}
		return retry.Retryable(err, after)
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err):
		return exitcode.AsInvalid(err)
	}
	return err
}

// BuildPipelineRun returns the PipelineRun that rebuilds t, from
// rebuild.tekton: pipelineRef by name or resolver, rendered params,
// workspaces, service account (taskRunTemplate.serviceAccountName) and
// timeout. Its name is the dedup key; it carries cascade's labels and
// annotations over the configured ones. Errors are invalid input (exit 2).
func BuildPipelineRun(t Target) (*pipelinev1.PipelineRun, error) {
	cfg := t.Rebuild.Tekton
	if cfg == nil {
		return nil, exitcode.AsInvalid(errors.New("no tekton rebuild configured"))
	}
	data := templateData(t)
	render := func(path, s string) (string, error) {
		v, err := config.Render(s, data)
		if err != nil {
			return "", exitcode.AsInvalid(fmt.Errorf("rebuild.tekton.%s: %w", path, err))
		}
		return v, nil
	}
	pr := &pipelinev1.PipelineRun{
		TypeMeta: metav1.TypeMeta{APIVersion: "tekton.dev/v1", Kind: "PipelineRun"},
		ObjectMeta: metav1.ObjectMeta{
			Name:        t.Key(),
			Namespace:   cfg.Namespace,
			Labels:      maps.Clone(cfg.Labels),
			Annotations: maps.Clone(cfg.Annotations),
		},
	}
	if pr.Labels == nil {
		pr.Labels = map[string]string{}
	}
	if pr.Annotations == nil {
		pr.Annotations = map[string]string{}
	}
	pr.Labels[LabelDependent] = labelSafe(t.Name, maxLabelValueBytes)
	pr.Labels[LabelBaseDigest] = t.Base.Ref.Digest.Hex()[:min(len(t.Base.Ref.Digest.Hex()), maxLabelValueBytes)]
	pr.Labels[LabelManagedBy] = managedByCascade
	pr.Annotations[AnnotationID] = t.Key()
	pr.Annotations[AnnotationBaseRef] = t.Base.Ref.String()
	pr.Annotations[AnnotationImage] = t.Image.String()
	pr.Annotations[AnnotationChain] = strings.Join(t.Cascade.Chain, ",")
	pr.Annotations[AnnotationOrigin] = t.Cascade.Origin
	pr.Annotations[AnnotationDepth] = fmt.Sprint(t.Cascade.Depth)

	spec := &pr.Spec
	switch {
	case cfg.PipelineRef != nil:
		ref := &pipelinev1.PipelineRef{ResolverRef: pipelinev1.ResolverRef{Resolver: pipelinev1.ResolverName(cfg.PipelineRef.Resolver)}}
		for _, k := range slices.Sorted(maps.Keys(cfg.PipelineRef.Params)) {
			v, err := render("pipelineRef.params["+k+"]", cfg.PipelineRef.Params[k])
			if err != nil {
				return nil, err
			}
			ref.Params = append(ref.Params, pipelinev1.Param{Name: k, Value: *pipelinev1.NewStructuredValues(v)})
		}
		spec.PipelineRef = ref
	case cfg.Pipeline != "":
		spec.PipelineRef = &pipelinev1.PipelineRef{Name: cfg.Pipeline}
	default:
		return nil, exitcode.AsInvalid(errors.New("rebuild.tekton: pipeline or pipelineRef is required"))
	}
	for _, k := range slices.Sorted(maps.Keys(cfg.Params)) {
		v, err := render("params["+k+"]", cfg.Params[k])
		if err != nil {
			return nil, err
		}
		spec.Params = append(spec.Params, pipelinev1.Param{Name: k, Value: *pipelinev1.NewStructuredValues(v)})
	}
	spec.TaskRunTemplate.ServiceAccountName = cfg.ServiceAccount
	if cfg.Timeout != "" {
		d, err := time.ParseDuration(cfg.Timeout)
		if err != nil || d < 0 {
			return nil, exitcode.AsInvalid(fmt.Errorf("rebuild.tekton.timeout %q: want a duration like 1h30m", cfg.Timeout))
		}
		spec.Timeouts = &pipelinev1.TimeoutFields{Pipeline: &metav1.Duration{Duration: d}}
	}
	for i, w := range cfg.Workspaces {
		b, err := workspaceBinding(w)
		if err != nil {
			return nil, exitcode.AsInvalid(fmt.Errorf("rebuild.tekton.workspaces[%d]: %w", i, err))
		}
		spec.Workspaces = append(spec.Workspaces, b)
	}
	return pr, nil
}

func workspaceBinding(w config.TektonWorkspace) (pipelinev1.WorkspaceBinding, error) {
	b := pipelinev1.WorkspaceBinding{Name: w.Name, SubPath: w.SubPath}
	switch {
	case w.PersistentVolumeClaim != nil:
		b.PersistentVolumeClaim = &corev1.PersistentVolumeClaimVolumeSource{ClaimName: w.PersistentVolumeClaim.ClaimName}
	case w.EmptyDir != nil:
		b.EmptyDir = &corev1.EmptyDirVolumeSource{}
	case w.ConfigMap != nil:
		b.ConfigMap = &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: w.ConfigMap.Name}}
	case w.Secret != nil:
		b.Secret = &corev1.SecretVolumeSource{SecretName: w.Secret.SecretName}
	case w.VolumeClaimTemplate != nil:
		raw, err := json.Marshal(w.VolumeClaimTemplate)
		if err != nil {
			return b, fmt.Errorf("volumeClaimTemplate: %w", err)
		}
		var pvc corev1.PersistentVolumeClaim
		if err := json.Unmarshal(raw, &pvc); err != nil {
			return b, fmt.Errorf("volumeClaimTemplate is not a PersistentVolumeClaim: %w", err)
		}
		b.VolumeClaimTemplate = &pvc
	default:
		return b, errors.New("needs one volume source")
	}
	return b, nil
}
