package b3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/imagecascade/cascade/internal/testenv"
)

// CRDDir finds Tekton's CRDs (config/300-crds of the
// github.com/tektoncd/pipeline module at testenv.TektonVersion): beside the
// controller in the tools cache when .ci/build-tools has run, else in the Go
// module cache.
func CRDDir() (string, error) {
	var tried []string
	if cache, err := testenv.ToolsCache(); err == nil {
		dir := filepath.Join(cache, "tekton-pipeline-"+testenv.TektonVersion, "config", "300-crds")
		if _, err := os.Stat(dir); err == nil {
			return dir, nil
		}
		tried = append(tried, dir)
	}
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err == nil {
		dir := filepath.Join(strings.TrimSpace(string(out)), "github.com", "tektoncd", "pipeline@"+testenv.TektonVersion, "config", "300-crds")
		if _, err := os.Stat(dir); err == nil {
			return dir, nil
		}
		tried = append(tried, dir)
	}
	return "", fmt.Errorf("Tekton's CRDs not found (tried %s): run .ci/build-tools or go mod download github.com/tektoncd/pipeline", strings.Join(tried, ", "))
}

var crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// InstallCRDs creates every CRD of dir and waits until each is
// established. Only the CRDs: no controller, no webhook, no config maps.
func InstallCRDs(ctx context.Context, cfg *rest.Config, dir string) error {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("installing Tekton's CRDs: %w", err)
	}
	crds := dyn.Resource(crdResource)
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("installing Tekton's CRDs: no YAML in %s (%v)", dir, err)
	}
	var names []string
	for _, file := range files {
		objs, err := readCRDs(file)
		if err != nil {
			return err
		}
		for _, crd := range objs {
			if _, err := crds.Create(ctx, crd, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("installing Tekton's CRDs: creating %s: %w", crd.GetName(), err)
			}
			names = append(names, crd.GetName())
		}
	}
	for _, name := range names {
		for {
			crd, err := crds.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return fmt.Errorf("waiting for CRD %s: %w", name, err)
			}
			if established(crd) {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("waiting for CRD %s to be established: %w", name, ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

func established(crd *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	for _, c := range conds {
		if c, ok := c.(map[string]any); ok && c["type"] == "Established" && c["status"] == "True" {
			return true
		}
	}
	return false
}

func readCRDs(file string) ([]*unstructured.Unstructured, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	defer f.Close()
	dec := utilyaml.NewYAMLOrJSONDecoder(f, 4096)
	var out []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			return out, nil
		} else if err != nil {
			return nil, fmt.Errorf("decoding %s: %w", file, err)
		}
		if u := (&unstructured.Unstructured{Object: m}); len(m) > 0 && u.GetKind() == "CustomResourceDefinition" {
			out = append(out, u)
		}
	}
}
