// Package wire builds the real clients a cascade run needs — the registry,
// the history and claims store, the dispatchers, the workspace's manifests
// and their write-back — from typed Options, once, for every front door:
// the CLI turns its flags and environment into Options, the GitHub Action
// and the Tekton Task their inputs and event. Nothing here reads a flag;
// the GitHub token is a value in Options, never put in the process
// environment.
//
// What wire builds, internal/run drives: wire decides nothing about the
// order of a run.
package wire

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/imagecascade/cascade/internal/config"
	"github.com/imagecascade/cascade/internal/dispatch"
	"github.com/imagecascade/cascade/internal/engine"
	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/history"
	"github.com/imagecascade/cascade/internal/imageref"
	"github.com/imagecascade/cascade/internal/redact"
	"github.com/imagecascade/cascade/internal/registry"
	"github.com/imagecascade/cascade/internal/retry"
	"github.com/imagecascade/cascade/internal/run"
)

// Options are everything the real clients are built from.
type Options struct {
	// Workspace holds the config, Dockerfiles and manifests ("." when
	// empty).
	Workspace string
	// ConfigPath is the config file; empty finds cascade.yaml, then
	// .github/cascade.yaml, in the workspace.
	ConfigPath string
	// DryRun builds what a dry run needs: no token or cluster is required,
	// and no Tekton client is made.
	DryRun bool
	// GitHubToken authenticates GitHub dispatches, pull requests and
	// pushes. A value, never read from the environment here.
	GitHubToken string
	// GitHubAPIURL is the GitHub API root (GitHub Enterprise); empty is
	// api.github.com.
	GitHubAPIURL string
	// Kubeconfig is the kubeconfig for Tekton rebuilds (empty: KUBECONFIG,
	// else in-cluster, as client-go loads them).
	Kubeconfig string
	// NoClusters leaves the config's clusters: section alone: no live
	// workload is listed or rolled (--clusters=false).
	NoClusters bool
	// Write says how changed manifests leave the workspace.
	Write Write
	// ClaimSettle is how long a run waits for concurrent runs' claims to
	// show (history.DefaultClaimSettle when zero).
	ClaimSettle time.Duration
	// RegistryRetryBudget bounds the retries of one registry request (the
	// registry package's default when zero).
	RegistryRetryBudget time.Duration
	// UserAgent is sent to registries ("cascade" when empty).
	UserAgent string
	// Redactor learns the secrets the clients come to hold (the webhook
	// secrets, what the keychain resolves); nil learns nothing.
	Redactor *redact.Redactor
	// Log receives the planner's and the run's progress (quiet when nil).
	Log *slog.Logger
	// Getenv reads the webhook secrets the config names, for the redactor
	// (os.Getenv when nil).
	Getenv func(string) string
}

func (o Options) workspace() string {
	if o.Workspace == "" {
		return "."
	}
	return o.Workspace
}

func (o Options) getenv(k string) string {
	if o.Getenv != nil {
		return o.Getenv(k)
	}
	return os.Getenv(k)
}

// LoadConfig loads the config of a workspace (explicit, when set, is the
// file): it is required.
func LoadConfig(workspace, explicit string) (*config.Config, error) {
	path, err := config.Find(workspace, explicit)
	if err != nil {
		return nil, err
	}
	return config.Load(path)
}

// OptionalConfig loads the config when there is one; nil when the
// workspace has none and none was named.
func OptionalConfig(workspace, explicit string) (*config.Config, error) {
	path, err := config.Find(workspace, explicit)
	if err != nil {
		if explicit == "" && errors.Is(err, config.ErrNotFound) {
			return nil, nil
		}
		return nil, err
	}
	return config.Load(path)
}

// Resolver builds the registry client for a config (nil: none): its
// allowlist and insecure hosts, the Docker config keychain, the retry
// budget.
func Resolver(o Options, cfg *config.Config, extra ...registry.Option) (*registry.Client, error) {
	ua := o.UserAgent
	if ua == "" {
		ua = "cascade"
	}
	opts := []registry.Option{
		registry.WithRetryPolicy(retry.Policy{Budget: o.RegistryRetryBudget}),
		registry.WithUserAgent(ua),
		registry.WithKeychain(learningKeychain{kc: authn.DefaultKeychain, r: o.Redactor}),
	}
	if cfg != nil {
		opts = append(opts, registry.WithAllow(cfg.Registries.Allow), registry.WithInsecure(cfg.Registries.Insecure))
	}
	return registry.New(append(opts, extra...)...)
}

// RunDeps loads the config and builds the clients of `cascade run` and
// `cascade import`: the planner, the registry, the history and claims
// store, the dispatchers (each built once, when a target needs it) and
// the workspace's manifests with their write-back.
func RunDeps(o Options) (*run.Deps, error) {
	if err := o.Write.validate(o.GitHubToken); err != nil {
		return nil, err
	}
	if o.ClaimSettle < 0 {
		return nil, exitcode.AsInvalid(fmt.Errorf("claim settle %s: must be positive", o.ClaimSettle))
	}
	cfg, err := LoadConfig(o.workspace(), o.ConfigPath)
	if err != nil {
		return nil, err
	}
	// Every webhook secret is known to the redactor before anything is
	// sent or printed, not only once its own dispatch reads it.
	for _, im := range cfg.Images {
		if w := im.Rebuild.Webhook; w != nil && w.SecretEnv != "" && o.Redactor != nil {
			o.Redactor.Add(o.getenv(w.SecretEnv))
		}
	}
	d, res, err := planDeps(o, cfg)
	if err != nil {
		return nil, err
	}
	hist := history.New(history.Options{Transport: res.Transport(), Keychain: res.Keychain(), Insecure: res.Insecure})
	d.Tags = res
	d.History = hist
	d.Dispatchers = &dispatchers{o: o, reg: res}
	d.Claims = hist
	d.ClaimOptions = history.ClaimOptions{Settle: o.ClaimSettle}
	d.Manifests = Manifests(o, cfg, nil)
	return d, nil
}

// PlanDeps builds what `cascade plan` needs: the config and the planner
// only (the history is not read, nothing is dispatched).
func PlanDeps(o Options) (*run.Deps, error) {
	cfg, err := LoadConfig(o.workspace(), o.ConfigPath)
	if err != nil {
		return nil, err
	}
	d, _, err := planDeps(o, cfg)
	return d, err
}

// planDeps builds what plan and run share: the registry, the planner, the
// discovery sources and the cluster targets of cfg.
func planDeps(o Options, cfg *config.Config) (*run.Deps, *registry.Client, error) {
	res, err := Resolver(o, cfg)
	if err != nil {
		return nil, nil, err
	}
	disc, err := Discoverer(o, cfg)
	if err != nil {
		return nil, nil, err
	}
	clusters, err := ClusterTargets(o, cfg)
	if err != nil {
		return nil, nil, err
	}
	return &run.Deps{Config: cfg, Log: o.Log, Discover: disc, Clusters: clusters,
		Planner: &engine.Engine{Config: cfg, Workspace: o.workspace(), Resolver: res, Log: o.Log}}, res, nil
}

// UpdateDeps loads the config when there is one and builds the
// collaborators of `cascade update`: the manifests (paths when set, else
// the config's file sets, else the default set; written back as o.Write
// says), and — as RunDeps gives them to a run — the cluster targets of
// the config's clusters: section (none without a config, or when
// o.NoClusters), with the history that records their rollouts and the
// config's blast radius. It also returns the config (nil without one).
func UpdateDeps(o Options, paths []string) (*run.UpdateDeps, *config.Config, error) {
	if err := o.Write.validate(o.GitHubToken); err != nil {
		return nil, nil, err
	}
	cfg, err := OptionalConfig(o.workspace(), o.ConfigPath)
	if err != nil {
		return nil, nil, err
	}
	d := &run.UpdateDeps{Manifests: Manifests(o, cfg, paths), Log: o.Log}
	if d.Clusters, err = ClusterTargets(o, cfg); err != nil {
		return nil, nil, err
	}
	if len(d.Clusters) > 0 {
		res, err := Resolver(o, cfg)
		if err != nil {
			return nil, nil, err
		}
		d.History = history.New(history.Options{Transport: res.Transport(), Keychain: res.Keychain(), Insecure: res.Insecure})
		d.MaxRollouts = cfg.Limits.MaxDispatches
	}
	return d, cfg, nil
}

// Manifests are the workspace's manifests for cfg (nil: no config) and
// paths, guarded by the workspace lock and written back as o.Write says.
func Manifests(o Options, cfg *config.Config, paths []string) *run.WorkspaceManifests {
	ws := o.workspace()
	return &run.WorkspaceManifests{Config: cfg, Workspace: ws, Paths: paths,
		Write: o.writeBack(ws), Lock: o.Write.lock(ws)}
}

// ResolveDigest fills in ref's digest, when it has none, the way plan
// resolves it: one HEAD, within cfg's registries.allow when there is a
// config.
func ResolveDigest(ctx context.Context, o Options, cfg *config.Config, ref imageref.Ref) (imageref.Ref, error) {
	if ref.Digest != "" {
		return ref, nil
	}
	res, err := Resolver(o, cfg)
	if err != nil {
		return ref, err
	}
	desc, err := res.Head(ctx, ref)
	if err != nil {
		return ref, fmt.Errorf("resolving the digest of %s (or pass --digest): %w", ref.Short(), err)
	}
	ref.Digest = desc.Digest
	return ref, nil
}

// ParseCascade reads the incoming cascade ({"id","depth","chain","origin"})
// from its JSON; empty is an origin (the zero Cascade). what names the
// source in errors (a flag, an input).
func ParseCascade(what, raw string) (dispatch.Cascade, error) {
	var c dispatch.Cascade
	if strings.TrimSpace(raw) == "" {
		return c, nil
	}
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, exitcode.AsInvalid(fmt.Errorf("%s: %w", what, err))
	}
	if c.Depth < 0 || len(c.Chain) > 1000 {
		return c, exitcode.AsInvalid(fmt.Errorf("%s: depth %d / chain of %d: out of range", what, c.Depth, len(c.Chain)))
	}
	return c, nil
}

// dispatchers builds each kind's dispatcher once, only when a target needs it.
type dispatchers struct {
	o     Options
	reg   *registry.Client
	mu    sync.Mutex
	built map[string]dispatch.Dispatcher
}

// For returns the dispatcher of kind, building it the first time.
func (d *dispatchers) For(kind string) (dispatch.Dispatcher, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if ds, ok := d.built[kind]; ok {
		return ds, nil
	}
	ds, err := d.build(kind)
	if err != nil {
		return nil, err
	}
	if d.built == nil {
		d.built = map[string]dispatch.Dispatcher{}
	}
	d.built[kind] = ds
	return ds, nil
}

func (d *dispatchers) build(kind string) (dispatch.Dispatcher, error) {
	switch kind {
	case "github":
		if d.o.GitHubToken == "" && !d.o.DryRun {
			return nil, exitcode.AsInvalid(fmt.Errorf("images rebuilt through GitHub need a token: set GITHUB_TOKEN or CASCADE_GITHUB_TOKEN (one that can dispatch to their repositories)"))
		}
		return dispatch.NewGitHub(dispatch.GitHubOptions{Token: d.o.GitHubToken, APIURL: d.o.GitHubAPIURL})
	case "tekton":
		if d.o.DryRun {
			return noopDispatcher(kind), nil
		}
		rules := clientcmd.NewDefaultClientConfigLoadingRules()
		if d.o.Kubeconfig != "" {
			rules.ExplicitPath = d.o.Kubeconfig
		}
		rc, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
		if err != nil {
			return nil, exitcode.AsInvalid(fmt.Errorf("images rebuilt by Tekton need a cluster: loading the Kubernetes config (--kubeconfig, KUBECONFIG or in-cluster): %w", err))
		}
		return dispatch.NewTekton(rc, dispatch.TektonOptions{})
	case "webhook":
		return dispatch.NewWebhook(dispatch.WebhookOptions{}), nil
	case "rebase":
		return dispatch.NewRebase(dispatch.RebaseOptions{Transport: d.reg.Transport(), Keychain: d.reg.Keychain(), Insecure: d.reg.Insecure}), nil
	}
	return nil, exitcode.AsInvalid(fmt.Errorf("rebuild kind %q: not known", kind))
}

// noopDispatcher stands in where a dry run must not build a real client.
type noopDispatcher string

func (n noopDispatcher) Kind() string { return string(n) }
func (n noopDispatcher) Dispatch(_ context.Context, t dispatch.Target) dispatch.Outcome {
	return dispatch.Outcome{Name: t.Name, Kind: string(n), Key: t.Key(), Status: dispatch.StatusSkipped, Detail: "dry run"}
}
