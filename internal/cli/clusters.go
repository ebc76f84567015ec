package cli

import (
	"github.com/spf13/pflag"
)

// clusterFlags select the cluster target (the config's clusters: section).
type clusterFlags struct {
	enabled    bool
	kubeconfig string
}

func (c *clusterFlags) register(fl *pflag.FlagSet, withKubeconfig bool) {
	fl.BoolVar(&c.enabled, "clusters", true, "roll the live workloads of the config's clusters: section that opted in to the updated image (--clusters=false leaves every cluster alone)")
	if withKubeconfig {
		fl.StringVar(&c.kubeconfig, "kubeconfig", "", "kubeconfig for the clusters: section (default: $KUBECONFIG, else in-cluster)")
	}
}
