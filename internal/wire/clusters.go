package wire

import (
	"fmt"
	"os"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/imagecascade/cascade/internal/config"
	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/rollout"
	"github.com/imagecascade/cascade/internal/run"
)

// ClusterTargets builds one cluster target per entry of the config's
// clusters: section, each from its kubeconfig context (o.Kubeconfig, else
// KUBECONFIG, else in-cluster), with its credentials taught to the
// redactor; none when o.NoClusters. A kubeconfig that cannot be loaded is
// invalid input (exit 2).
func ClusterTargets(o Options, cfg *config.Config) ([]run.ClusterTarget, error) {
	if o.NoClusters || cfg == nil || len(cfg.Clusters) == 0 {
		return nil, nil
	}
	var out []run.ClusterTarget
	for _, cl := range cfg.Clusters {
		rules := clientcmd.NewDefaultClientConfigLoadingRules()
		if o.Kubeconfig != "" {
			rules.ExplicitPath = o.Kubeconfig
		}
		rc, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: cl.Context}).ClientConfig()
		if err != nil {
			return nil, exitcode.AsInvalid(fmt.Errorf("cluster %q: loading the Kubernetes config (context %q; --kubeconfig, KUBECONFIG or in-cluster; --clusters=false leaves clusters alone): %w", cl.Name, cl.Context, err))
		}
		if o.Redactor != nil {
			for _, s := range []string{rc.BearerToken, string(rc.KeyData), rc.Password} {
				o.Redactor.Add(s)
			}
			if rc.BearerTokenFile != "" {
				if b, err := os.ReadFile(rc.BearerTokenFile); err == nil {
					o.Redactor.Add(string(b))
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
