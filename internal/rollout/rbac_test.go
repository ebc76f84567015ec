package rollout_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"

	"github.com/imagecascade/cascade/internal/rollout"
	"github.com/imagecascade/cascade/internal/testenv"
)

// rolloutRole reads the Role of tekton/rbac-rollout.yaml.
func rolloutRole(t *testing.T) *rbacv1.Role {
	t.Helper()
	data, err := os.ReadFile("../../tekton/rbac-rollout.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		var role rbacv1.Role
		if err := dec.Decode(&role); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if role.Kind == "Role" {
			return &role
		}
	}
	t.Fatal("tekton/rbac-rollout.yaml has no Role")
	return nil
}

// TestRBACRolloutRoleIsExactlyEnough: with tekton/rbac-rollout.yaml's Role
// a user rolls a Deployment on the real rollout.API server; without any one of its
// verbs the run fails before changing anything (no list: the listing; no
// patch: the server-side dry run).
func TestRBACRolloutRoleIsExactlyEnough(t *testing.T) {
	t.Parallel()
	role := rolloutRole(t)
	verbs := map[string]bool{}
	for _, r := range role.Rules {
		for _, v := range r.Verbs {
			verbs[v] = true
		}
	}
	if len(verbs) != 2 || !verbs["list"] || !verbs["patch"] {
		t.Fatalf("the Role's verbs are %v, want exactly list and patch", verbs)
	}
	k := testenv.StartKube(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin := kubernetes.NewForConfigOrDie(k.RESTConfig())
	repo := "registry.example/acme/app-a"
	for i, user := range []string{"alice", "bob", testenv.LimitedUser} {
		ns := []string{"full", "no-patch", "no-list"}[i]
		drop := []string{"", "patch", "list"}[i]
		if err := k.CreateNamespace(ctx, ns); err != nil {
			t.Fatal(err)
		}
		d := deployment("web", map[string]string{rollout.FollowAnnotation: "true"}, ctr("web", repo+":1.0"))
		d.Namespace = ns
		if _, err := admin.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		r := role.DeepCopy()
		r.Namespace = ns
		for j := range r.Rules {
			r.Rules[j].Verbs = slices.DeleteFunc(r.Rules[j].Verbs, func(v string) bool { return v == drop })
		}
		if _, err := admin.RbacV1().Roles(ns).Create(ctx, r, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := admin.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "cascade-rollout", Namespace: ns},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: r.Name},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// The authorizer learns of a new binding through its informers, a
		// moment after the create: wait for the verb the Role keeps.
		keep := map[string]string{"": "patch", "patch": "list", "list": "patch"}[drop]
		waitAllowed(ctx, t, admin, user, ns, keep)
		api, err := rollout.NewKubeAPI(k.UserRESTConfig(t, user))
		if err != nil {
			t.Fatal(err)
		}
		c := rollout.New(api, rollout.Target{Namespaces: []string{ns}})
		res, err := c.Plan(ctx, updated)
		switch drop {
		case "":
			if err != nil {
				t.Fatalf("%s with the Role: %v", ns, err)
			}
			if res.Err() != nil {
				t.Fatalf("%s with the Role: %v", ns, res.Err())
			}
			c.Apply(ctx, updated, res)
			if res.Count(rollout.StatusRolled) != 1 {
				t.Errorf("%s with the Role: %+v", ns, res.Workloads)
			}
		case "patch":
			if err != nil || res.Err() == nil || !strings.Contains(res.Err().Error(), "server-side dry run") {
				t.Errorf("%s: %v / %+v, want a failed dry run", ns, err, res)
			}
		case "list":
			if err == nil || !strings.Contains(err.Error(), "forbidden") {
				t.Errorf("%s: %v, want a forbidden list", ns, err)
			}
		}
		got, err := admin.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		moved := got.Spec.Template.Spec.Containers[0].Image != repo+":1.0"
		if moved != (drop == "") {
			t.Errorf("%s: image %s", ns, got.Spec.Template.Spec.Containers[0].Image)
		}
	}
}

// waitAllowed waits (10 s at most) until the API server's authorizer lets
// user do verb on Deployments in ns.
func waitAllowed(ctx context.Context, t *testing.T, admin kubernetes.Interface, user, ns, verb string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := admin.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
			Spec: authorizationv1.SubjectAccessReviewSpec{User: user, ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: ns, Verb: verb, Group: "apps", Resource: "deployments"}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("access review: %v", err)
		}
		if r.Status.Allowed {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s may still not %s deployments in %s after 10s", user, verb, ns)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
