package testenv

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// TestToolVersionsMatchToolsModule holds KubeVersion and TektonVersion to
// what tools/go.mod requires, which .ci/build-tools builds: otherwise the
// tests would look for binaries under names the script never writes.
func TestToolVersionsMatchToolsModule(t *testing.T) {
	t.Parallel()
	f, err := os.Open(filepath.Join("..", "..", "tools", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && (fields[0] == "k8s.io/kubernetes" || fields[0] == "github.com/tektoncd/pipeline") {
			got[fields[0]] = fields[1]
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"k8s.io/kubernetes": KubeVersion, "github.com/tektoncd/pipeline": TektonVersion}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tools/go.mod requires (-want +got):\n%s", diff)
	}
}

func TestToolPath(t *testing.T) {
	// Not parallel: t.Setenv.
	home, err := os.UserHomeDir()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, cache, want string
	}{
		{"default", "", filepath.Join(home, ".cache", "cascade-tools", "kube-apiserver-v1.2.3", "kube-apiserver")},
		{"env", "/x/cache", "/x/cache/kube-apiserver-v1.2.3/kube-apiserver"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(EnvToolsCache, tt.cache)
			got, err := toolPath("kube-apiserver", "v1.2.3", "kube-apiserver")
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("toolPath = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestKubeStarts starts a real etcd and kube-apiserver: the admin creates a
// namespace, RBAC denies the limited user, and a RoleBinding lets alice in.
func TestKubeStarts(t *testing.T) {
	t.Parallel()
	k := StartKube(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	if err := k.CreateNamespace(ctx, "team-a"); err != nil {
		t.Fatal(err)
	}
	// The admin kubeconfig on disk works as well as RESTConfig.
	adminCfg, err := clientcmd.BuildConfigFromFlags("", k.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	admin := kubernetes.NewForConfigOrDie(adminCfg)
	if _, err := admin.CoreV1().ServiceAccounts("team-a").Get(ctx, "default", metav1.GetOptions{}); err != nil {
		t.Errorf("default service account: %v", err)
	}

	limitedCfg, err := clientcmd.BuildConfigFromFlags("", k.UserKubeconfig(t, LimitedUser))
	if err != nil {
		t.Fatal(err)
	}
	limited := kubernetes.NewForConfigOrDie(limitedCfg)
	_, err = limited.CoreV1().Pods("team-a").List(ctx, metav1.ListOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("limited user listing pods: %v, want Forbidden", err)
	}
	_, err = limited.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "mine"}}, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("limited user creating a namespace: %v, want Forbidden", err)
	}

	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "pod-reader", Namespace: "team-a"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list"}}},
	}
	if _, err := admin.RbacV1().Roles("team-a").Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "alice-reads-pods", Namespace: "team-a"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "pod-reader"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "alice"}},
	}
	if _, err := admin.RbacV1().RoleBindings("team-a").Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	alice := kubernetes.NewForConfigOrDie(k.UserRESTConfig(t, "alice"))
	if _, err := alice.CoreV1().Pods("team-a").List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("alice listing pods after the binding: %v", err)
	}
	if _, err := alice.CoreV1().Pods("default").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("alice listing pods in another namespace: %v, want Forbidden", err)
	}
}
