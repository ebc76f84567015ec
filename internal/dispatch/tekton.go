package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"

	"github.com/imagecascade/cascade/internal/config"
	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/kuberest"
	"github.com/imagecascade/cascade/internal/redact"
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

// PipelineRuns creates PipelineRuns in a cluster: the Kubernetes REST API
// in cascade, Tekton's fake clientset in tests (internal/tektontest).
type PipelineRuns interface {
	// Create creates pr in its namespace. Where the API server answered,
	// the error is its *apierrors.StatusError (AlreadyExists, Forbidden, …).
	Create(ctx context.Context, pr *PipelineRun) error
}

// Tekton starts rebuilds by creating a tekton.dev/v1 PipelineRun named by
// the dedup key: creating it twice is refused by the API server with
// AlreadyExists, reported as already-dispatched (R10, R14).
type Tekton struct {
	runs   PipelineRuns
	policy retry.Policy
	// creds are the rest.Config's credentials, taught to the run's
	// redactor before any request (a 403 Status may echo a token).
	creds restCreds
}

// restCreds are the secrets a rest.Config holds.
type restCreds struct {
	secrets        []string
	user, password string
}

func credsOf(cfg *rest.Config) restCreds {
	c := restCreds{user: cfg.Username, password: cfg.Password}
	for _, s := range []string{cfg.BearerToken, string(cfg.KeyData)} {
		if s != "" {
			c.secrets = append(c.secrets, s)
		}
	}
	for _, f := range []string{cfg.BearerTokenFile, cfg.KeyFile} {
		if f == "" {
			continue
		}
		if b, err := os.ReadFile(f); err == nil && len(b) > 0 {
			c.secrets = append(c.secrets, string(b))
		}
	}
	return c
}

func (c restCreds) teach(r *redact.Redactor) {
	for _, s := range c.secrets {
		r.Add(s)
	}
	if c.password != "" {
		r.AddUserPassword(c.user, c.password)
	}
}

var _ Dispatcher = (*Tekton)(nil)

// NewTekton returns a Tekton dispatcher talking to the cluster of cfg (the
// caller loads a kubeconfig or the in-cluster config). A zero QPS or Burst
// in cfg becomes TektonQPS or TektonBurst; cfg itself is not changed.
//
// It speaks JSON to /apis/tekton.dev/v1 through client-go's REST client
// (authentication, TLS, the client-side limiter, Retry-After) rather than
// Tekton's generated clientset: with Tekton's Go types, which bring
// knative, CEL and OpenTelemetry, cascade's start-up took 3× as long and
// its binary 4× the size (benchmark B6).
func NewTekton(cfg *rest.Config, o TektonOptions) (*Tekton, error) {
	// The outbound policy is closest to the wire: it sees every
	// credential sent and refuses a redirect of the create.
	cfg = kuberest.Config(cfg)
	if cfg.QPS == 0 {
		cfg.QPS = TektonQPS
	}
	if cfg.Burst == 0 {
		cfg.Burst = TektonBurst
	}
	cfg.GroupVersion = &tektonV1
	c, err := rest.RESTClientFor(cfg)
	if err != nil {
		return nil, exitcode.AsInvalid(fmt.Errorf("configuring the Tekton client: %w", err))
	}
	k := NewTektonFor(restPipelineRuns{c}, o)
	k.creds = credsOf(cfg)
	return k, nil
}

// NewTektonFor returns a Tekton dispatcher creating its PipelineRuns with
// runs.
func NewTektonFor(runs PipelineRuns, o TektonOptions) *Tekton {
	return &Tekton{runs: runs, policy: o.Policy}
}

var tektonV1 = schema.GroupVersion{Group: "tekton.dev", Version: "v1"}

// restPipelineRuns creates PipelineRuns through the Kubernetes REST API.
type restPipelineRuns struct{ c *rest.RESTClient }

var _ PipelineRuns = restPipelineRuns{}

func (r restPipelineRuns) Create(ctx context.Context, pr *PipelineRun) error {
	body, err := json.Marshal(pr)
	if err != nil {
		return fmt.Errorf("encoding the PipelineRun: %w", err)
	}
	return r.c.Post().Namespace(pr.Metadata.Namespace).Resource("pipelineruns").
		SetHeader("Content-Type", "application/json").Body(body).Do(ctx).Error()
}

// Kind returns "tekton".
func (k *Tekton) Kind() string { return "tekton" }

// Dispatch creates t's PipelineRun.
func (k *Tekton) Dispatch(ctx context.Context, t Target) Outcome {
	o := Outcome{Name: t.Name, Kind: k.Kind(), Key: t.Key()}
	k.creds.teach(redact.FromContext(ctx))
	pr, err := BuildPipelineRun(t)
	if err != nil {
		return o.fail(err)
	}
	ns := pr.Metadata.Namespace
	o.Detail = ns + "/" + pr.Metadata.Name
	already := false
	n, err := retry.DoAttempts(ctx, k.policy, func(ctx context.Context) error {
		err := k.runs.Create(ctx, pr)
		if apierrors.IsAlreadyExists(err) {
			already = true
			return nil
		}
		return classifyKube(err, ns)
	})
	o.Attempts = n
	if err != nil {
		return o.fail(fmt.Errorf("creating PipelineRun %s/%s: %w", ns, pr.Metadata.Name, err))
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

// PipelineRun is the tekton.dev/v1 PipelineRun cascade creates: the fields
// it sets, with the JSON names of Tekton's API. Tests decode it strictly
// into Tekton's own Go type and run Tekton's validation on it.
type PipelineRun struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       PipelineRunSpec   `json:"spec"`
}

// PipelineRunSpec is the part of Tekton's spec cascade sets.
type PipelineRunSpec struct {
	PipelineRef     *PipelineRef       `json:"pipelineRef,omitempty"`
	Params          []Param            `json:"params,omitempty"`
	TaskRunTemplate *TaskRunTemplate   `json:"taskRunTemplate,omitempty"`
	Timeouts        *Timeouts          `json:"timeouts,omitempty"`
	Workspaces      []WorkspaceBinding `json:"workspaces,omitempty"`
}

// PipelineRef names the Pipeline, or asks a resolver for it.
type PipelineRef struct {
	Name     string  `json:"name,omitempty"`
	Resolver string  `json:"resolver,omitempty"`
	Params   []Param `json:"params,omitempty"`
}

// Param is a string parameter.
type Param struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// TaskRunTemplate carries the service account of the run's TaskRuns.
type TaskRunTemplate struct {
	ServiceAccountName string `json:"serviceAccountName,omitempty"`
}

// Timeouts bounds the whole run.
type Timeouts struct {
	Pipeline *metav1.Duration `json:"pipeline,omitempty"`
}

// WorkspaceBinding binds one of the Pipeline's workspaces to a volume.
type WorkspaceBinding struct {
	Name                  string           `json:"name"`
	SubPath               string           `json:"subPath,omitempty"`
	PersistentVolumeClaim *ClaimVolume     `json:"persistentVolumeClaim,omitempty"`
	EmptyDir              *struct{}        `json:"emptyDir,omitempty"`
	ConfigMap             *ConfigMapVolume `json:"configMap,omitempty"`
	Secret                *SecretVolume    `json:"secret,omitempty"`
	VolumeClaimTemplate   map[string]any   `json:"volumeClaimTemplate,omitempty"`
}

// ClaimVolume is an existing PersistentVolumeClaim.
type ClaimVolume struct {
	ClaimName string `json:"claimName"`
}

// ConfigMapVolume is a ConfigMap's keys as files.
type ConfigMapVolume struct {
	Name string `json:"name"`
}

// SecretVolume is a Secret's keys as files.
type SecretVolume struct {
	SecretName string `json:"secretName"`
}

// BuildPipelineRun returns the PipelineRun that rebuilds t, from
// rebuild.tekton: pipelineRef by name or resolver, rendered params,
// workspaces, service account (taskRunTemplate.serviceAccountName) and
// timeout. Its name is the dedup key; it carries cascade's labels and
// annotations over the configured ones. Errors are invalid input (exit 2).
func BuildPipelineRun(t Target) (*PipelineRun, error) {
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
	pr := &PipelineRun{
		APIVersion: tektonV1.String(),
		Kind:       "PipelineRun",
		Metadata: metav1.ObjectMeta{
			Name:        t.Key(),
			Namespace:   cfg.Namespace,
			Labels:      maps.Clone(cfg.Labels),
			Annotations: maps.Clone(cfg.Annotations),
		},
	}
	meta := &pr.Metadata
	if meta.Labels == nil {
		meta.Labels = map[string]string{}
	}
	if meta.Annotations == nil {
		meta.Annotations = map[string]string{}
	}
	meta.Labels[LabelDependent] = labelSafe(t.Name, maxLabelValueBytes)
	meta.Labels[LabelBaseDigest] = t.Base.Ref.Digest.Hex()[:min(len(t.Base.Ref.Digest.Hex()), maxLabelValueBytes)]
	meta.Labels[LabelManagedBy] = managedByCascade
	meta.Annotations[AnnotationID] = t.Key()
	meta.Annotations[AnnotationBaseRef] = t.Base.Ref.String()
	meta.Annotations[AnnotationImage] = t.Image.String()
	meta.Annotations[AnnotationChain] = strings.Join(t.Cascade.Chain, ",")
	meta.Annotations[AnnotationOrigin] = t.Cascade.Origin
	meta.Annotations[AnnotationDepth] = fmt.Sprint(t.Cascade.Depth)

	spec := &pr.Spec
	switch {
	case cfg.PipelineRef != nil:
		ref := &PipelineRef{Resolver: cfg.PipelineRef.Resolver}
		for _, k := range slices.Sorted(maps.Keys(cfg.PipelineRef.Params)) {
			v, err := render("pipelineRef.params["+k+"]", cfg.PipelineRef.Params[k])
			if err != nil {
				return nil, err
			}
			ref.Params = append(ref.Params, Param{Name: k, Value: v})
		}
		spec.PipelineRef = ref
	case cfg.Pipeline != "":
		spec.PipelineRef = &PipelineRef{Name: cfg.Pipeline}
	default:
		return nil, exitcode.AsInvalid(errors.New("rebuild.tekton: pipeline or pipelineRef is required"))
	}
	for _, k := range slices.Sorted(maps.Keys(cfg.Params)) {
		v, err := render("params["+k+"]", cfg.Params[k])
		if err != nil {
			return nil, err
		}
		spec.Params = append(spec.Params, Param{Name: k, Value: v})
	}
	if cfg.ServiceAccount != "" {
		spec.TaskRunTemplate = &TaskRunTemplate{ServiceAccountName: cfg.ServiceAccount}
	}
	if cfg.Timeout != "" {
		d, err := time.ParseDuration(cfg.Timeout)
		if err != nil || d < 0 {
			return nil, exitcode.AsInvalid(fmt.Errorf("rebuild.tekton.timeout %q: want a duration like 1h30m", cfg.Timeout))
		}
		spec.Timeouts = &Timeouts{Pipeline: &metav1.Duration{Duration: d}}
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

func workspaceBinding(w config.TektonWorkspace) (WorkspaceBinding, error) {
	b := WorkspaceBinding{Name: w.Name, SubPath: w.SubPath}
	switch {
	case w.PersistentVolumeClaim != nil:
		b.PersistentVolumeClaim = &ClaimVolume{ClaimName: w.PersistentVolumeClaim.ClaimName}
	case w.EmptyDir != nil:
		b.EmptyDir = &struct{}{}
	case w.ConfigMap != nil:
		b.ConfigMap = &ConfigMapVolume{Name: w.ConfigMap.Name}
	case w.Secret != nil:
		b.Secret = &SecretVolume{SecretName: w.Secret.SecretName}
	case w.VolumeClaimTemplate != nil:
		// Passed through as written; the API server validates it as a
		// PersistentVolumeClaim (a refusal is invalid input, exit 2).
		b.VolumeClaimTemplate = w.VolumeClaimTemplate
	default:
		return b, errors.New("needs one volume source")
	}
	return b, nil
}
