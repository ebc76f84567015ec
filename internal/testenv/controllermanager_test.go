package testenv

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// TestControllerManagerRollsDeployment starts kube-controller-manager on
// the real API server: a Deployment gets a ReplicaSet, and a new pod
// template a second one (its pods stay Pending: there is no kubelet).
func TestControllerManagerRollsDeployment(t *testing.T) {
	t.Parallel()
	k := StartKube(t)
	k.StartControllerManager(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := k.CreateNamespace(ctx, "apps"); err != nil {
		t.Fatal(err)
	}
	cs := kubernetes.NewForConfigOrDie(k.RESTConfig())
	labels := map[string]string{"app": "web"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "apps"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.example/web:1"}}},
			},
		},
	}
	if _, err := cs.AppsV1().Deployments("apps").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitReplicaSets(ctx, t, cs, 1)
	// A patch, not Get+Update: the controller updates the Deployment's
	// status meanwhile, and an Update would conflict with it.
	patch := []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"registry.example/web:2"}]}}}}`)
	if _, err := cs.AppsV1().Deployments("apps").Patch(ctx, "web", types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	waitReplicaSets(ctx, t, cs, 2)
}

func waitReplicaSets(ctx context.Context, t *testing.T, cs kubernetes.Interface, n int) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		l, err := cs.AppsV1().ReplicaSets("apps").List(ctx, metav1.ListOptions{})
		if err == nil && len(l.Items) >= n {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %d ReplicaSets: %v (last error %v)", n, ctx.Err(), err)
		case <-tick.C:
		}
	}
}
