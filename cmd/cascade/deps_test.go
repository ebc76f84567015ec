package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestBinaryLinksNoTektonTypes holds what the cascade binary links (B6:
// start-up ≤ 30 ms, a small image): not Tekton's Go types or generated
// clientset (with knative, CEL and OpenTelemetry they tripled start-up),
// not client-go's typed clientset of every Kubernetes API, and none of the
// test-only packages. Tests use those through internal/tektontest.
func TestBinaryLinksNoTektonTypes(t *testing.T) {
	t.Parallel()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list the binary's packages: %v", err)
	}
	out, err := exec.Command(goBin, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	forbidden := []string{
		"github.com/tektoncd/", "knative.dev/", "github.com/google/cel-go/", "go.opentelemetry.io/",
		"k8s.io/api/", "k8s.io/client-go/kubernetes",
		"github.com/google/go-cmp/", "testing",
		"github.com/imagecascade/cascade/internal/tektontest", "github.com/imagecascade/cascade/internal/testenv",
		"github.com/imagecascade/cascade/internal/githubtest", "github.com/imagecascade/cascade/internal/faultproxy",
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if pkg == strings.TrimSuffix(f, "/") || strings.HasPrefix(pkg, f) && strings.HasSuffix(f, "/") || f == "k8s.io/client-go/kubernetes" && strings.HasPrefix(pkg, f) {
				t.Errorf("the binary links %s (%s)", pkg, f)
			}
		}
	}
}
