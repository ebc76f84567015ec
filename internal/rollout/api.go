package rollout

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/kuberest"
)

// API is what the cluster target needs of a cluster: the Kubernetes REST
// API (KubeAPI) in cascade, client-go's fake clientset in unit tests
// (package rollouttest).
type API interface {
	// Served reports whether the API server serves kind.
	Served(ctx context.Context, kind string) (bool, error)
	// List returns one page of kind's objects in namespace ("" for all)
	// and the continue token of the next page ("" after the last).
	List(ctx context.Context, kind, namespace string, opts metav1.ListOptions) ([]Object, string, error)
	// Apply sends a server-side apply patch.
	Apply(ctx context.Context, kind, namespace, name string, body []byte, opts metav1.PatchOptions) error
}

// DeploymentConfigs are OpenShift's apps.openshift.io/v1 DeploymentConfigs.
var DeploymentConfigs = schema.GroupVersionResource{Group: "apps.openshift.io", Version: "v1", Resource: "deploymentconfigs"}

// Client-side limits of KubeAPI when the rest.Config leaves them zero, as a
// kubeconfig does: above client-go's 5/10, so that a rollout of hundreds of
// workloads is not throttled into minutes; a cluster's API priority and
// fairness still protects it.
const (
	DefaultQPS   = 50
	DefaultBurst = 100
)

// resources are where each kind is served.
var resources = map[string]schema.GroupVersionResource{
	KindDeployment:       {Group: "apps", Version: "v1", Resource: "deployments"},
	KindStatefulSet:      {Group: "apps", Version: "v1", Resource: "statefulsets"},
	KindDaemonSet:        {Group: "apps", Version: "v1", Resource: "daemonsets"},
	KindCronJob:          {Group: "batch", Version: "v1", Resource: "cronjobs"},
	KindDeploymentConfig: DeploymentConfigs,
}

// KubeAPI is API over client-go's REST client with cascade's own wire
// types: the workloads are read as JSON into the few fields the target
// needs (name, annotations, labels, managed fields, containers), without
// k8s.io/api's types or the typed clientset, which the binary does not link
// (see cmd/cascade's TestBinaryLinksNoTektonTypes).
type KubeAPI struct {
	clients map[schema.GroupVersion]*rest.RESTClient
}

// NewKubeAPI returns the API of the cluster cfg points at (the caller
// loads a kubeconfig). Every request goes through the outbound policy; a
// zero QPS or Burst becomes DefaultQPS or DefaultBurst; cfg itself is not
// changed.
func NewKubeAPI(cfg *rest.Config) (*KubeAPI, error) {
	// The outbound policy is closest to the wire: it sees every
	// credential sent and refuses a redirect of a patch.
	cfg = kuberest.Config(cfg)
	if cfg.QPS == 0 {
		cfg.QPS = DefaultQPS
	}
	if cfg.Burst == 0 {
		cfg.Burst = DefaultBurst
	}
	// One HTTP client and one rate limiter for every group.
	if cfg.RateLimiter == nil {
		cfg.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(cfg.QPS, cfg.Burst)
	}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, exitcode.AsInvalid(fmt.Errorf("configuring the Kubernetes client: %w", err))
	}
	k := &KubeAPI{clients: map[schema.GroupVersion]*rest.RESTClient{}}
	for _, gvr := range resources {
		gv := gvr.GroupVersion()
		if _, ok := k.clients[gv]; ok {
			continue
		}
		c := rest.CopyConfig(cfg)
		c.GroupVersion = &gv
		rc, err := rest.RESTClientForConfigAndClient(c, hc)
		if err != nil {
			return nil, exitcode.AsInvalid(fmt.Errorf("configuring the Kubernetes client: %w", err))
		}
		k.clients[gv] = rc
	}
	return k, nil
}

func (k *KubeAPI) client(kind string) (*rest.RESTClient, schema.GroupVersionResource, error) {
	gvr, ok := resources[kind]
	if !ok {
		return nil, gvr, exitcode.AsInvalid(fmt.Errorf("unknown workload kind %q (known: %v)", kind, Kinds))
	}
	return k.clients[gvr.GroupVersion()], gvr, nil
}

// Served implements API: Kubernetes' own kinds always are; DeploymentConfig
// where discovery lists it.
func (k *KubeAPI) Served(ctx context.Context, kind string) (bool, error) {
	c, gvr, err := k.client(kind)
	if err != nil {
		return false, err
	}
	if kind != KindDeploymentConfig {
		return true, nil
	}
	body, err := c.Get().AbsPath("/apis", gvr.Group, gvr.Version).Do(ctx).Raw()
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, classify(err)
	}
	var rl metav1.APIResourceList
	if err := json.Unmarshal(body, &rl); err != nil {
		return false, fmt.Errorf("reading the resources of %s: %w", gvr.GroupVersion(), err)
	}
	for _, r := range rl.APIResources {
		if r.Name == gvr.Resource {
			return true, nil
		}
	}
	return false, nil
}

// wireList is a list of workloads, as much as the target reads of it.
type wireList struct {
	APIVersion string `json:"apiVersion"`
	Metadata   struct {
		Continue string `json:"continue"`
	} `json:"metadata"`
	Items []struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
		Spec     struct {
			Template    *wireTemplate `json:"template"`
			JobTemplate *struct {
				Spec struct {
					Template *wireTemplate `json:"template"`
				} `json:"spec"`
			} `json:"jobTemplate"`
		} `json:"spec"`
	} `json:"items"`
}

type wireTemplate struct {
	Spec PodSpec `json:"spec"`
}

// List implements API.
func (k *KubeAPI) List(ctx context.Context, kind, ns string, opts metav1.ListOptions) ([]Object, string, error) {
	c, gvr, err := k.client(kind)
	if err != nil {
		return nil, "", err
	}
	req := c.Get().Namespace(ns).Resource(gvr.Resource)
	if opts.Limit > 0 {
		req = req.Param("limit", strconv.FormatInt(opts.Limit, 10))
	}
	if opts.Continue != "" {
		req = req.Param("continue", opts.Continue)
	}
	body, err := req.Do(ctx).Raw()
	if err != nil {
		return nil, "", withReason(err)
	}
	var l wireList
	if err := json.Unmarshal(body, &l); err != nil {
		return nil, "", fmt.Errorf("reading the %s list: %w", gvr.Resource, err)
	}
	out := make([]Object, 0, len(l.Items))
	for _, it := range l.Items {
		o := Object{Kind: kind, APIVersion: gvr.GroupVersion().String(), Meta: it.Metadata}
		tmpl := it.Spec.Template
		if kind == KindCronJob {
			tmpl = nil
			if jt := it.Spec.JobTemplate; jt != nil {
				tmpl = jt.Spec.Template
			}
		}
		if tmpl != nil {
			spec := tmpl.Spec
			o.PodSpec = &spec
		}
		out = append(out, o)
	}
	return out, l.Metadata.Continue, nil
}

// Apply implements API: PATCH with application/apply-patch+yaml (of which
// JSON is a subset).
func (k *KubeAPI) Apply(ctx context.Context, kind, ns, name string, body []byte, opts metav1.PatchOptions) error {
	c, gvr, err := k.client(kind)
	if err != nil {
		return err
	}
	req := c.Patch(types.ApplyPatchType).Namespace(ns).Resource(gvr.Resource).Name(name).
		Param("fieldManager", opts.FieldManager).Body(body)
	if opts.Force != nil && *opts.Force {
		req = req.Param("force", "true")
	}
	for _, d := range opts.DryRun {
		req = req.Param("dryRun", d)
	}
	return withReason(req.Do(ctx).Error())
}

// withReason puts the API server's reason (Forbidden, Invalid, Conflict,
// …) in front of an error whose message lacks it: client-go reports a
// Status it did not decode as "unknown (get deployments.apps)".
func withReason(err error) error {
	if err == nil {
		return nil
	}
	reason := string(apierrors.ReasonForError(err))
	if reason == "" || strings.Contains(strings.ToLower(err.Error()), strings.ToLower(reason)) {
		return err
	}
	return fmt.Errorf("%s: %w", strings.ToLower(reason), err)
}
