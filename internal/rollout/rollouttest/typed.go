// Package rollouttest implements rollout.API over client-go's typed
// clientset, for unit tests with client-go's fake (fake.NewClientset). The
// cascade binary never links it: it holds k8s.io/api and the typed
// clientset, which cmd/cascade's TestBinaryLinksNoTektonTypes keeps out.
package rollouttest

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/imagecascade/cascade/internal/rollout"
)

// TypedAPI is rollout.API over client-go's typed clients. DeploymentConfigs
// are never served.
type TypedAPI struct{ cs kubernetes.Interface }

// New returns the API over cs (client-go's fake in tests).
func New(cs kubernetes.Interface) *TypedAPI { return &TypedAPI{cs: cs} }

var _ rollout.API = (*TypedAPI)(nil)

// Served implements rollout.API.
func (k *TypedAPI) Served(_ context.Context, kind string) (bool, error) {
	return kind != rollout.KindDeploymentConfig, nil
}

func podSpec(s *corev1.PodSpec) *rollout.PodSpec {
	conv := func(cs []corev1.Container) []rollout.Container {
		var out []rollout.Container
		for _, c := range cs {
			out = append(out, rollout.Container{Name: c.Name, Image: c.Image})
		}
		return out
	}
	return &rollout.PodSpec{InitContainers: conv(s.InitContainers), Containers: conv(s.Containers)}
}

// List implements rollout.API.
func (k *TypedAPI) List(ctx context.Context, kind, ns string, opts metav1.ListOptions) ([]rollout.Object, string, error) {
	var out []rollout.Object
	add := func(apiVersion string, meta metav1.ObjectMeta, spec *corev1.PodSpec) {
		out = append(out, rollout.Object{Kind: kind, APIVersion: apiVersion, Meta: meta, PodSpec: podSpec(spec)})
	}
	switch kind {
	case rollout.KindDeployment:
		l, err := k.cs.AppsV1().Deployments(ns).List(ctx, opts)
		if err != nil {
			return nil, "", err
		}
		for i := range l.Items {
			add("apps/v1", l.Items[i].ObjectMeta, &l.Items[i].Spec.Template.Spec)
		}
		return out, l.Continue, nil
	case rollout.KindStatefulSet:
		l, err := k.cs.AppsV1().StatefulSets(ns).List(ctx, opts)
		if err != nil {
			return nil, "", err
		}
		for i := range l.Items {
			add("apps/v1", l.Items[i].ObjectMeta, &l.Items[i].Spec.Template.Spec)
		}
		return out, l.Continue, nil
	case rollout.KindDaemonSet:
		l, err := k.cs.AppsV1().DaemonSets(ns).List(ctx, opts)
		if err != nil {
			return nil, "", err
		}
		for i := range l.Items {
			add("apps/v1", l.Items[i].ObjectMeta, &l.Items[i].Spec.Template.Spec)
		}
		return out, l.Continue, nil
	case rollout.KindCronJob:
		l, err := k.cs.BatchV1().CronJobs(ns).List(ctx, opts)
		if err != nil {
			return nil, "", err
		}
		for i := range l.Items {
			add("batch/v1", l.Items[i].ObjectMeta, &l.Items[i].Spec.JobTemplate.Spec.Template.Spec)
		}
		return out, l.Continue, nil
	}
	return nil, "", fmt.Errorf("unknown workload kind %q", kind)
}

// Apply implements rollout.API.
func (k *TypedAPI) Apply(ctx context.Context, kind, ns, name string, body []byte, opts metav1.PatchOptions) error {
	var err error
	switch kind {
	case rollout.KindDeployment:
		_, err = k.cs.AppsV1().Deployments(ns).Patch(ctx, name, types.ApplyPatchType, body, opts)
	case rollout.KindStatefulSet:
		_, err = k.cs.AppsV1().StatefulSets(ns).Patch(ctx, name, types.ApplyPatchType, body, opts)
	case rollout.KindDaemonSet:
		_, err = k.cs.AppsV1().DaemonSets(ns).Patch(ctx, name, types.ApplyPatchType, body, opts)
	case rollout.KindCronJob:
		_, err = k.cs.BatchV1().CronJobs(ns).Patch(ctx, name, types.ApplyPatchType, body, opts)
	default:
		return fmt.Errorf("unknown workload kind %q", kind)
	}
	return err
}
