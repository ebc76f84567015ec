package wire

import (
	"errors"
	"fmt"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/imagecascade/cascade/internal/config"
	"github.com/imagecascade/cascade/internal/discover"
	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/githubapi"
	"github.com/imagecascade/cascade/internal/run"
)

// Discoverer builds the sources the config's discover: section names, or
// nil when it names none: the GitHub source with o's token and API root
// (GITHUB_API_URL when empty), the Tekton source with o's kubeconfig
// (KUBECONFIG or in-cluster when empty).
func Discoverer(o Options, cfg *config.Config) (run.Discoverer, error) {
	if cfg == nil || cfg.Discover == nil {
		return nil, nil
	}
	d := &discover.Discoverer{}
	if g := cfg.Discover.GitHub; g != nil {
		if o.GitHubToken == "" {
			return nil, exitcode.AsInvalid(errors.New("discover.github needs a token that can read the owner's repositories: set GITHUB_TOKEN or CASCADE_GITHUB_TOKEN (the action's token input)"))
		}
		api := o.GitHubAPIURL
		if api == "" {
			api = o.getenv("GITHUB_API_URL")
		}
		b, err := githubapi.New(githubapi.Options{Token: o.GitHubToken, APIURL: api})
		if err != nil {
			return nil, err
		}
		d.Sources = append(d.Sources, &discover.GitHub{Client: b.Client(), Owner: g.Owner, Topic: g.Topic})
	}
	if t := cfg.Discover.Tekton; t != nil {
		rules := clientcmd.NewDefaultClientConfigLoadingRules()
		if o.Kubeconfig != "" {
			rules.ExplicitPath = o.Kubeconfig
		}
		rc, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
		if err != nil {
			return nil, exitcode.AsInvalid(fmt.Errorf("discover.tekton needs a cluster: loading the Kubernetes config (--kubeconfig, KUBECONFIG or in-cluster): %w", err))
		}
		src, err := discover.NewTekton(rc, t.Namespaces)
		if err != nil {
			return nil, err
		}
		d.Sources = append(d.Sources, src)
	}
	return d, nil
}
