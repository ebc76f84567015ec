package manifests

import (
	"fmt"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// podSpecPaths says where each workload kind keeps its pod spec.
var podSpecPaths = map[string][]string{
	"Pod":                   {"spec"},
	"PodTemplate":           {"template", "spec"},
	"Deployment":            {"spec", "template", "spec"},
	"StatefulSet":           {"spec", "template", "spec"},
	"DaemonSet":             {"spec", "template", "spec"},
	"ReplicaSet":            {"spec", "template", "spec"},
	"Job":                   {"spec", "template", "spec"},
	"ReplicationController": {"spec", "template", "spec"},
	"DeploymentConfig":      {"spec", "template", "spec"},
	"CronJob":               {"spec", "jobTemplate", "spec", "template", "spec"},
}

// kubernetesGroups are the API groups Kubernetes itself serves ("" is the
// core group, apiVersion "v1"), plus OpenShift's apps group for
// DeploymentConfig. Their kinds have a known schema: the workload kinds of
// podSpecPaths keep images only in their pod template, and every other kind
// of these groups (ConfigMap, Secret, Service, Ingress, Role, a
// CustomResourceDefinition, …) has no pod template, so nothing in it is an
// image field, however it is spelled: a ConfigMap's data.image is data.
// Kinds of any other group are custom resources (Tekton, Knative, Argo
// Rollouts, …), whose schema cascade does not know: the generic rule
// applies to them.
var kubernetesGroups = map[string]bool{
	"": true, "apps": true, "batch": true, "extensions": true, "policy": true, "autoscaling": true,
	"networking.k8s.io": true, "rbac.authorization.k8s.io": true, "storage.k8s.io": true,
	"admissionregistration.k8s.io": true, "apiextensions.k8s.io": true, "apiregistration.k8s.io": true,
	"scheduling.k8s.io": true, "coordination.k8s.io": true, "node.k8s.io": true, "discovery.k8s.io": true,
	"flowcontrol.apiserver.k8s.io": true, "certificates.k8s.io": true, "events.k8s.io": true,
	"authentication.k8s.io": true, "authorization.k8s.io": true, "resource.k8s.io": true,
	"internal.apiserver.k8s.io": true, "storagemigration.k8s.io": true, "apps.openshift.io": true,
}

// apiGroup is the group of an apiVersion ("apps/v1" → "apps", "v1" → "").
func apiGroup(apiVersion string) string {
	g, _, ok := strings.Cut(apiVersion, "/")
	if !ok {
		return ""
	}
	return g
}

// containerLists are the pod spec fields holding containers.
var containerLists = []string{"initContainers", "containers", "ephemeralContainers"}

// document dispatches one YAML document on what it is: a kustomization, a
// List, a Kubernetes object, or (without kind) a values file.
func (r *rewriter) document(doc *yaml.Node, kustomizationFile bool) {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		o := &ObjectResult{}
		r.generic(o, root, "", 0)
		r.addObject(o)
		return
	}
	kind := scalarValue(root, "kind")
	switch {
	case kind == "Kustomization" || kustomizationFile && (kind == "" || kind == "Component"):
		r.formats["kustomize"] = true
		r.kustomization(root)
	case kind != "" && mapGet(root, "apiVersion") != nil:
		r.formats["kubernetes"] = true
		r.object(root, "", 0)
	default:
		r.values(root)
	}
}

func (r *rewriter) addObject(o *ObjectResult) {
	if len(o.Changes) > 0 {
		r.objects = append(r.objects, *o)
	}
}

// object handles one Kubernetes object; field paths start with prefix
// (non-empty for List items).
func (r *rewriter) object(m *yaml.Node, prefix string, depth int) {
	kind := scalarValue(m, "kind")
	meta := mapGet(m, "metadata")
	o := &ObjectResult{Kind: kind, Name: scalarValue(meta, "name")}
	defer r.addObject(o)
	if items := mapGet(m, "items"); items != nil && items.Kind == yaml.SequenceNode && (kind == "List" || len(kind) > 4 && kind[len(kind)-4:] == "List") {
		for i, item := range items.Content {
			if item.Kind == yaml.MappingNode {
				r.object(item, fmt.Sprintf("%sitems[%d].", prefix, i), depth+1)
			}
		}
		return
	}
	path, workload := podSpecPaths[kind]
	if !kubernetesGroups[apiGroup(scalarValue(m, "apiVersion"))] {
		// A custom resource: every "image" field.
		r.generic(o, m, prefix, 0)
		return
	}
	if !workload {
		// A Kubernetes kind without a pod template: nothing to pin, but
		// what looks like one of the image's references is reported.
		r.notImageFields(m, prefix, kind+" is a Kubernetes kind without a pod template: its fields are data, not image references")
		return
	}
	spec, field := m, prefix
	for _, p := range path {
		spec = mapGet(spec, p)
		field += p + "."
	}
	if spec == nil || spec.Kind != yaml.MappingNode {
		return
	}
	trig := r.triggers(meta, prefix)
	for _, list := range containerLists {
		seq := mapGet(spec, list)
		if seq == nil || seq.Kind != yaml.SequenceNode {
			continue
		}
		for i, c := range seq.Content {
			if c.Kind != yaml.MappingNode {
				continue
			}
			name := scalarValue(c, "name")
			id := name
			if id == "" {
				id = strconv.Itoa(i)
			}
			f := fmt.Sprintf("%s%s[%s].image", field, list, id)
			img := mapGet(c, "image")
			if img == nil {
				if mv := mergedValue(c, "image"); mv != nil && mv.Kind == yaml.ScalarNode && r.sameRepo(mv.Value) {
					r.skip(c, f, mv.Value, "image comes from a << merge key; merges are not expanded")
				}
				continue
			}
			r.container(o, f, img, trig.lookup(list, i, name))
		}
	}
	r.imageVolumes(o, spec, field)
}

// imageVolumes pins the Kubernetes image volumes of a pod spec
// (volumes[].image.reference, an OCI image mounted as a volume).
func (r *rewriter) imageVolumes(o *ObjectResult, spec *yaml.Node, field string) {
	vols := mapGet(spec, "volumes")
	if vols == nil || vols.Kind != yaml.SequenceNode {
		return
	}
	for i, v := range vols.Content {
		ref := mapGet(mapGet(v, "image"), "reference")
		if ref == nil {
			continue
		}
		id := scalarValue(v, "name")
		if id == "" {
			id = strconv.Itoa(i)
		}
		r.pinRef(o, fmt.Sprintf("%svolumes[%s].image.reference", field, id), ref)
	}
}

// container pins one container's image, as the trigger annotation allows.
func (r *rewriter) container(o *ObjectResult, field string, img *yaml.Node, sel selection) {
	switch sel {
	case notGoverned:
		r.pinRef(o, field, img)
	case paused:
		if img.Kind == yaml.ScalarNode && r.sameRepo(img.Value) {
			r.skip(img, field, img.Value, "its image.openshift.io/triggers entry is paused")
		}
	case notNamed:
		if img.Kind == yaml.ScalarNode && r.sameRepo(img.Value) {
			r.skip(img, field, img.Value, "not named by the image.openshift.io/triggers entry for this image")
		}
	case named:
		r.triggered(o, field, img)
	}
}

// values handles a document without kind: Helm values, or any other YAML.
func (r *rewriter) values(root *yaml.Node) {
	o := &ObjectResult{}
	defer r.addObject(o)
	for _, h := range r.helm {
		repo := lookupPath(root, h.Repository)
		if repo == nil {
			continue
		}
		r.helmImage(o, "", lookupPath(root, h.Registry), repo, lookupPath(root, h.Tag), lookupPath(root, h.Digest), h)
	}
	if isCompose(root) {
		// A Compose file: services.<name>.image, and whatever image keys
		// its extension fields (x-…) define for services to merge.
		r.formats["compose"] = true
	}
	r.generic(o, root, "", 0)
	if len(o.Changes) > 0 && r.formats["helm"] {
		o.Kind = "values"
	}
}

// isCompose reports whether a document without kind is a Compose file: a
// "services" mapping of mappings, one of which has a key only a Compose
// service has ("image", "build", "extends", or a "<<" merge of shared
// settings).
func isCompose(root *yaml.Node) bool {
	services := mapGet(root, "services")
	if services == nil || services.Kind != yaml.MappingNode {
		return false
	}
	for i := 1; i < len(services.Content); i += 2 {
		s := services.Content[i]
		if s.Kind != yaml.MappingNode {
			continue
		}
		for j := 0; j+1 < len(s.Content); j += 2 {
			switch k := s.Content[j]; {
			case k.Tag == "!!merge", k.Value == "image", k.Value == "build", k.Value == "extends":
				return true
			}
		}
	}
	return false
}

// generic visits every "image" key under n: a scalar is pinned as a
// reference, a mapping with a "repository" key as a Helm image. Aliases are
// never followed.
func (r *rewriter) generic(o *ObjectResult, n *yaml.Node, field string, depth int) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode || k.Tag == "!!merge" {
				continue
			}
			f := field + k.Value
			if k.Value == "image" {
				switch v.Kind {
				case yaml.ScalarNode, yaml.AliasNode:
					r.pinRef(o, f, v)
					continue
				case yaml.MappingNode:
					if repo := mapGet(v, "repository"); repo != nil {
						h := HelmPaths{Registry: f + ".registry", Repository: f + ".repository", Tag: f + ".tag", Digest: f + ".digest"}
						r.helmImage(o, f, mapGet(v, "registry"), repo, mapGet(v, "tag"), mapGet(v, "digest"), h)
						continue
					}
					if ref := mapGet(v, "reference"); ref != nil && ref.Kind == yaml.ScalarNode {
						// A Kubernetes image volume in a pod template
						// embedded in a custom resource.
						r.pinRef(o, f+".reference", ref)
						continue
					}
				}
			}
			r.generic(o, v, f+".", depth+1)
		}
	case yaml.SequenceNode:
		base := field
		if len(base) > 0 && base[len(base)-1] == '.' {
			base = base[:len(base)-1]
		}
		for i, v := range n.Content {
			id := scalarValue(v, "name")
			if id == "" {
				id = strconv.Itoa(i)
			}
			r.generic(o, v, fmt.Sprintf("%s[%s].", base, id), depth+1)
		}
	}
}

// notImageFields reports every "image" key under n holding a reference to
// the updated repository, which the generic rule would pin, as skipped
// with reason: n is known to hold no image field.
func (r *rewriter) notImageFields(n *yaml.Node, field, reason string) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode || k.Tag == "!!merge" {
				continue
			}
			if k.Value == "image" && v.Kind == yaml.ScalarNode && r.sameRepo(v.Value) {
				r.skip(v, field+k.Value, v.Value, reason)
				continue
			}
			r.notImageFields(v, field+k.Value+".", reason)
		}
	case yaml.SequenceNode:
		base := strings.TrimSuffix(field, ".")
		for i, v := range n.Content {
			r.notImageFields(v, fmt.Sprintf("%s[%d].", base, i), reason)
		}
	}
}
