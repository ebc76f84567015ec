package testenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

// The YAML objects testenv installs (Tekton's and Triggers' config/
// folders, tests' manifests): read, created with create (never apply), and
// for CRDs waited on until established.

var crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// readObjects decodes every non-empty document of a YAML file.
func readObjects(file string) ([]*unstructured.Unstructured, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	defer f.Close()
	return decodeObjects(f, file)
}

// decodeObjects decodes every non-empty YAML document of r; name says
// where r comes from in errors.
func decodeObjects(r io.Reader, name string) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(r, 4096)
	var objs []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			return objs, nil
		} else if err != nil {
			return nil, fmt.Errorf("decoding %s: %w", name, err)
		}
		if len(m) > 0 {
			objs = append(objs, &unstructured.Unstructured{Object: m})
		}
	}
}

// createAll creates objs in the cluster of cfg: Namespaces first, one at a
// time, then the rest 8 at a time (the API server spends seconds compiling
// CRD schemas, which overlap), then waits until every CRD among them is
// established. Kinds are mapped through discovery at the time of the call,
// so objects of a CRD need a later call.
func createAll(ctx context.Context, cfg *rest.Config, objs []*unstructured.Unstructured) error {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return err
	}
	groups, err := restmapper.GetAPIGroupResources(dc)
	if err != nil {
		return fmt.Errorf("discovering API resources: %w", err)
	}
	mapper := restmapper.NewDiscoveryRESTMapper(groups)
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	var crds []string
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, obj := range objs {
		switch obj.GetKind() {
		case "Namespace":
			if err := createObject(ctx, dyn, mapper, obj); err != nil {
				return err
			}
			continue
		case "CustomResourceDefinition":
			crds = append(crds, obj.GetName())
		}
		g.Go(func() error { return createObject(gctx, dyn, mapper, obj) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for _, name := range crds {
		if err := waitEstablished(ctx, dyn.Resource(crdResource), name); err != nil {
			return err
		}
	}
	return nil
}

// createObject creates obj through the dynamic client, mapping its kind
// with mapper.
func createObject(ctx context.Context, dyn dynamic.Interface, mapper meta.RESTMapper, obj *unstructured.Unstructured) error {
	gvk := obj.GroupVersionKind()
	m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return fmt.Errorf("creating %s %s: %w", gvk.Kind, obj.GetName(), err)
	}
	var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		ri = dyn.Resource(m.Resource).Namespace(obj.GetNamespace())
	}
	if _, err := ri.Create(ctx, obj, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating %s %s/%s: %w", gvk.Kind, obj.GetNamespace(), obj.GetName(), err)
	}
	return nil
}

func waitEstablished(ctx context.Context, crds dynamic.ResourceInterface, name string) error {
	for {
		crd, err := crds.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("waiting for CRD %s: %w", name, err)
		}
		conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
		for _, c := range conds {
			c, _ := c.(map[string]any)
			if c["type"] == "Established" && c["status"] == "True" {
				return nil
			}
		}
		if err := sleep(ctx, pollInterval); err != nil {
			return fmt.Errorf("waiting for CRD %s to be established: %w", name, err)
		}
	}
}
