package rollout

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/outbound"
)

// API is what the cluster target needs of a cluster: the Kubernetes API
// (KubeAPI) in cascade, client-go's fake clientset in unit tests.
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

// KubeAPI is API over client-go: typed clients for Kubernetes' own kinds,
// the dynamic client for DeploymentConfigs.
type KubeAPI struct {
	cs    kubernetes.Interface
	dyn   dynamic.Interface
	disco discovery.DiscoveryInterface
}

// NewKubeAPI returns the API of the cluster cfg points at (the caller
// loads a kubeconfig). Every request goes through the outbound policy; a
// zero QPS or Burst becomes DefaultQPS or DefaultBurst; cfg itself is not
// changed.
func NewKubeAPI(cfg *rest.Config) (*KubeAPI, error) {
	cfg = rest.CopyConfig(cfg)
	if cfg.QPS == 0 {
		cfg.QPS = DefaultQPS
	}
	if cfg.Burst == 0 {
		cfg.Burst = DefaultBurst
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	cfg.Wrap(outbound.Transport)
	if cfg.Timeout == 0 {
		cfg.Timeout = outbound.DefaultTimeout
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, exitcode.AsInvalid(fmt.Errorf("configuring the Kubernetes client: %w", err))
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, exitcode.AsInvalid(fmt.Errorf("configuring the Kubernetes client: %w", err))
	}
	return NewKubeAPIFor(cs, dyn), nil
}

// NewKubeAPIFor returns the API over clients (fakes in tests). dyn may be
// nil: DeploymentConfigs are then never served.
func NewKubeAPIFor(cs kubernetes.Interface, dyn dynamic.Interface) *KubeAPI {
	return &KubeAPI{cs: cs, dyn: dyn, disco: cs.Discovery()}
}

// Served implements API: Kubernetes' own kinds always are; DeploymentConfig
// where discovery lists it.
func (k *KubeAPI) Served(ctx context.Context, kind string) (bool, error) {
	switch kind {
	case KindDeployment, KindStatefulSet, KindDaemonSet, KindCronJob:
		return true, nil
	case KindDeploymentConfig:
		if k.dyn == nil {
			return false, nil
		}
		rl, err := k.disco.ServerResourcesForGroupVersion(DeploymentConfigs.GroupVersion().String())
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, classify(err)
		}
		for _, r := range rl.APIResources {
			if r.Name == DeploymentConfigs.Resource {
				return true, nil
			}
		}
		return false, nil
	}
	return false, exitcode.AsInvalid(fmt.Errorf("unknown workload kind %q (known: %v)", kind, Kinds))
}

// List implements API.
func (k *KubeAPI) List(ctx context.Context, kind, ns string, opts metav1.ListOptions) ([]Object, string, error) {
	var out []Object
	add := func(apiVersion string, meta metav1.ObjectMeta, spec *corev1.PodSpec) {
		out = append(out, Object{Kind: kind, APIVersion: apiVersion, Meta: meta, PodSpec: spec})
	}
	switch kind {
	case KindDeployment:
		l, err := k.cs.AppsV1().Deployments(ns).List(ctx, opts)
		if err != nil {
			return nil, "", err
		}
		for i := range l.Items {
			add("apps/v1", l.Items[i].ObjectMeta, &l.Items[i].Spec.Template.Spec)
		}
		return out, l.Continue, nil
	case KindStatefulSet:
		l, err := k.cs.AppsV1().StatefulSets(ns).List(ctx, opts)
		if err != nil {
			return nil, "", err
		}
		for i := range l.Items {
			add("apps/v1", l.Items[i].ObjectMeta, &l.Items[i].Spec.Template.Spec)
		}
		return out, l.Continue, nil
	case KindDaemonSet:
		l, err := k.cs.AppsV1().DaemonSets(ns).List(ctx, opts)
		if err != nil {
			return nil, "", err
		}
		for i := range l.Items {
			add("apps/v1", l.Items[i].ObjectMeta, &l.Items[i].Spec.Template.Spec)
		}
		return out, l.Continue, nil
	case KindCronJob:
		l, err := k.cs.BatchV1().CronJobs(ns).List(ctx, opts)
		if err != nil {
			return nil, "", err
		}
		for i := range l.Items {
			add("batch/v1", l.Items[i].ObjectMeta, &l.Items[i].Spec.JobTemplate.Spec.Template.Spec)
		}
		return out, l.Continue, nil
	case KindDeploymentConfig:
		l, err := k.dyn.Resource(DeploymentConfigs).Namespace(ns).List(ctx, opts)
		if err != nil {
			return nil, "", err
		}
		for i := range l.Items {
			u := l.Items[i].UnstructuredContent()
			var dc struct {
				Meta metav1.ObjectMeta `json:"metadata"`
				Spec struct {
					Template *corev1.PodTemplateSpec `json:"template"`
				} `json:"spec"`
			}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u, &dc); err != nil {
				return nil, "", fmt.Errorf("reading DeploymentConfig %s/%s: %w", l.Items[i].GetNamespace(), l.Items[i].GetName(), err)
			}
			var spec *corev1.PodSpec
			if dc.Spec.Template != nil {
				spec = &dc.Spec.Template.Spec
			}
			add(DeploymentConfigs.GroupVersion().String(), dc.Meta, spec)
		}
		return out, l.GetContinue(), nil
	}
	return nil, "", exitcode.AsInvalid(fmt.Errorf("unknown workload kind %q", kind))
}

// Apply implements API.
func (k *KubeAPI) Apply(ctx context.Context, kind, ns, name string, body []byte, opts metav1.PatchOptions) error {
	var err error
	switch kind {
	case KindDeployment:
		_, err = k.cs.AppsV1().Deployments(ns).Patch(ctx, name, types.ApplyPatchType, body, opts)
	case KindStatefulSet:
		_, err = k.cs.AppsV1().StatefulSets(ns).Patch(ctx, name, types.ApplyPatchType, body, opts)
	case KindDaemonSet:
		_, err = k.cs.AppsV1().DaemonSets(ns).Patch(ctx, name, types.ApplyPatchType, body, opts)
	case KindCronJob:
		_, err = k.cs.BatchV1().CronJobs(ns).Patch(ctx, name, types.ApplyPatchType, body, opts)
	case KindDeploymentConfig:
		_, err = k.dyn.Resource(DeploymentConfigs).Namespace(ns).Patch(ctx, name, types.ApplyPatchType, body, opts)
	default:
		return exitcode.AsInvalid(fmt.Errorf("unknown workload kind %q", kind))
	}
	return err
}
