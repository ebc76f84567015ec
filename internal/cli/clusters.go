package cli

import (
	"fmt"
	"os"

	"github.com/spf13/pflag"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/imagecascade/cascade/internal/config"
	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/redact"
	"github.com/imagecascade/cascade/internal/rollout"
	cascaderun "github.com/imagecascade/cascade/internal/run"
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

// clusterTargets builds one cluster target per entry of cfg.Clusters,
// each from its kubeconfig context, with its credentials taught to the
// redactor. A kubeconfig that cannot be loaded is invalid input (exit 2).
func clusterTargets(c clusterFlags, cfg *config.Config, r *redact.Redactor) ([]cascaderun.ClusterTarget, error) {
	if !c.enabled || len(cfg.Clusters) == 0 {
		return nil, nil
	}
	var out []cascaderun.ClusterTarget
	for _, cl := range cfg.Clusters {
		rules := clientcmd.NewDefaultClientConfigLoadingRules()
		if c.kubeconfig != "" {
			rules.ExplicitPath = c.kubeconfig
		}
		rc, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: cl.Context}).ClientConfig()
		if err != nil {
			return nil, exitcode.AsInvalid(fmt.Errorf("cluster %q: loading the Kubernetes config (context %q; --kubeconfig, KUBECONFIG or in-cluster; --clusters=false leaves clusters alone): %w", cl.Name, cl.Context, err))
		}
		if r != nil {
			for _, s := range []string{rc.BearerToken, string(rc.KeyData), rc.Password} {
				r.Add(s)
			}
			if rc.BearerTokenFile != "" {
				if b, err := os.ReadFile(rc.BearerTokenFile); err == nil {
					r.Add(string(b))
				}
			}
		}
		api, err := rollout.NewKubeAPI(rc)
		if err != nil {
			return nil, fmt.Errorf("cluster %q: %w", cl.Name, err)
		}
		t := rollout.Target{Name: cl.Name, Namespaces: cl.Namespaces, Kinds: cl.Kinds}
		if len(cl.Namespaces) == 1 && cl.Namespaces[0] == config.AllNamespaces {
			t.Namespaces = nil
		}
		out = append(out, rollout.New(api, t))
	}
	return out, nil
}
