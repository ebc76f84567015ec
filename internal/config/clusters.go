package config

import (
	"fmt"
	"regexp"
	"slices"
)

// Cluster is one cluster whose live workloads follow the updated image:
// cascade run moves the opted-in ones to the new digest (see
// docs/contract.md, "Cluster target").
type Cluster struct {
	// Name names the cluster in reports; unique.
	Name string `yaml:"name"`
	// Context is the kubeconfig context to use ("" for the current one,
	// or the in-cluster service account when there is no kubeconfig).
	Context string `yaml:"context,omitempty"`
	// Namespaces to look in; required. ["*"] means every namespace.
	Namespaces []string `yaml:"namespaces"`
	// Kinds to look at: Deployment, StatefulSet, DaemonSet, CronJob,
	// DeploymentConfig. Empty means all of them (DeploymentConfig only
	// where the apps.openshift.io API exists).
	Kinds []string `yaml:"kinds,omitempty"`
}

// ClusterKinds are the kinds a Cluster may name.
var ClusterKinds = []string{"Deployment", "StatefulSet", "DaemonSet", "CronJob", "DeploymentConfig"}

// AllNamespaces is the Namespaces entry that means every namespace.
const AllNamespaces = "*"

var namespaceRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

func (v *validator) clusters(cs []Cluster) {
	names := map[string]int{}
	for i, c := range cs {
		p := fmt.Sprintf("clusters[%d]", i)
		switch j, dup := names[c.Name]; {
		case c.Name == "":
			v.add(p+".name", "required")
		case dup:
			v.add(p+".name", "duplicate name %q (also clusters[%d])", c.Name, j)
		default:
			names[c.Name] = i
		}
		if len(c.Namespaces) == 0 {
			v.add(p+".namespaces", "required: list the namespaces to roll workloads in, or [\"*\"] for every namespace")
		}
		for k, ns := range c.Namespaces {
			switch {
			case ns == AllNamespaces && len(c.Namespaces) > 1:
				v.add(fmt.Sprintf("%s.namespaces[%d]", p, k), "\"*\" (every namespace) must be the only entry")
			case ns != AllNamespaces && (len(ns) > 63 || !namespaceRE.MatchString(ns)):
				v.add(fmt.Sprintf("%s.namespaces[%d]", p, k), "%q is not a namespace name", ns)
			}
		}
		for k, kind := range c.Kinds {
			if !slices.Contains(ClusterKinds, kind) {
				v.add(fmt.Sprintf("%s.kinds[%d]", p, k), "unknown kind %q (one of %v)", kind, ClusterKinds)
			}
		}
	}
}
