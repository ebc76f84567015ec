package cli

import (
	"context"
	"errors"
	"fmt"
	"os"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/imagecascade/cascade/internal/config"
	"github.com/imagecascade/cascade/internal/discover"
	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/githubapi"
	cascaderun "github.com/imagecascade/cascade/internal/run"
)

// newDiscoverer builds the sources the config's discover: section names,
// or nil when it names none. githubAPIURL and kubeconfig are the flags
// (empty: GITHUB_API_URL, and KUBECONFIG or in-cluster).
func newDiscoverer(cfg *config.Config, githubAPIURL, kubeconfig string) (cascaderun.Discoverer, error) {
	if cfg.Discover == nil {
		return nil, nil
	}
	d := &discover.Discoverer{}
	if g := cfg.Discover.GitHub; g != nil {
		tok := githubToken()
		if tok == "" {
			return nil, exitcode.AsInvalid(errors.New("discover.github needs a token that can read the owner's repositories: set GITHUB_TOKEN or CASCADE_GITHUB_TOKEN"))
		}
		if githubAPIURL == "" {
			githubAPIURL = os.Getenv("GITHUB_API_URL")
		}
		b, err := githubapi.New(githubapi.Options{Token: tok, APIURL: githubAPIURL})
		if err != nil {
			return nil, err
		}
		d.Sources = append(d.Sources, &discover.GitHub{Client: b.Client(), Owner: g.Owner, Topic: g.Topic})
	}
	if t := cfg.Discover.Tekton; t != nil {
		rules := clientcmd.NewDefaultClientConfigLoadingRules()
		if kubeconfig != "" {
			rules.ExplicitPath = kubeconfig
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

// discoverForGraph adds the discovered dependents to cfg for `cascade
// graph`, which has no run: skipped declarations are logged.
func discoverForGraph(ctx context.Context, g *globals, cfg *config.Config) error {
	d, err := newDiscoverer(cfg, "", "")
	if err != nil || d == nil {
		return err
	}
	res, err := d.Apply(ctx, cfg)
	if err != nil {
		return err
	}
	for _, s := range res.Skipped {
		g.logger().Warn("declaration skipped", "source", s.Source, "path", s.Path, "reason", s.Reason)
	}
	return nil
}
