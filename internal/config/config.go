// Package config loads and validates cascade.yaml, the file that lists the
// images built on a base image and how each is rebuilt (docs/contract.md,
// "Configuration: cascade.yaml"). Parse and Load decode it strictly (unknown keys are
// errors), apply defaults and validate it, reporting every problem at once
// with its field path, classified as invalid input (exit 2).
package config

// Version is the only config schema version this build understands.
const Version = 1

// Defaults applied after decoding.
const (
	DefaultMaxDispatches = 50                   // limits.maxDispatches
	DefaultMaxDepth      = 10                   // limits.maxDepth
	DefaultEvent         = "base-image-updated" // rebuild.github.event when neither event nor workflow is set
	DefaultRef           = "main"               // rebuild.github.ref when workflow is set without ref
)

// Config is the decoded cascade.yaml.
type Config struct {
	Version    int           `yaml:"version"`
	Images     []Image       `yaml:"images"`
	Manifests  []ManifestSet `yaml:"manifests,omitempty"`
	Limits     Limits        `yaml:"limits,omitempty"`
	Registries Registries    `yaml:"registries,omitempty"`
	// Discover names where dependents declare themselves (discover.go).
	Discover *Discover `yaml:"discover,omitempty"`
	// Clusters are the live workloads the updated image's new digest is
	// rolled to (the cluster target; see clusters.go).
	Clusters []Cluster `yaml:"clusters,omitempty"`
}

// Image is one image cascade knows about: where it lives, what it is built
// on and how it is rebuilt.
type Image struct {
	// Name is the unique id of the image in the config ("app-a").
	Name string `yaml:"name"`
	// Image is the reference the image is pushed to: a repository and a tag
	// that moves, never a digest.
	Image string `yaml:"image"`
	// Dockerfile is an optional path, relative to the workspace, whose
	// stages' FROM lines name the image's bases.
	Dockerfile string `yaml:"dockerfile,omitempty"`
	// From lists explicit bases, merged with the Dockerfile's.
	From []string `yaml:"from,omitempty"`
	// Rebuild says how a rebuild is started; exactly one kind is set.
	Rebuild Rebuild `yaml:"rebuild"`
	// DeclaredBy says where the image was declared: "" for this config,
	// else a discovered source ("tekton:ns/pipeline",
	// "github:owner/repo@sha"). Never read from YAML.
	DeclaredBy string `yaml:"-"`
}

// Rebuild holds exactly one way of rebuilding an image.
type Rebuild struct {
	GitHub  *GitHub  `yaml:"github,omitempty"`
	Tekton  *Tekton  `yaml:"tekton,omitempty"`
	Webhook *Webhook `yaml:"webhook,omitempty"`
	Rebase  *Rebase  `yaml:"rebase,omitempty"`
}

// Kind names the rebuild kind that is set ("github", "tekton", "webhook",
// "rebase"), or "" when none is. With more than one set it returns the first.
func (r Rebuild) Kind() string {
	switch {
	case r.GitHub != nil:
		return "github"
	case r.Tekton != nil:
		return "tekton"
	case r.Webhook != nil:
		return "webhook"
	case r.Rebase != nil:
		return "rebase"
	}
	return ""
}

// GitHub rebuilds through the GitHub API: a repository_dispatch when Event
// is set, a workflow_dispatch when Workflow is set.
type GitHub struct {
	// Repository is "owner/name".
	Repository string `yaml:"repository"`
	// Event is the repository_dispatch event_type.
	Event string `yaml:"event,omitempty"`
	// Workflow is the workflow file name ("build.yml") or numeric id.
	Workflow string `yaml:"workflow,omitempty"`
	// Ref is the git ref a workflow_dispatch runs on (a template).
	Ref string `yaml:"ref,omitempty"`
	// Inputs are the workflow_dispatch inputs (values are templates).
	Inputs map[string]string `yaml:"inputs,omitempty"`
}

// IsWorkflowDispatch reports whether g dispatches a workflow rather than a
// repository event.
func (g GitHub) IsWorkflowDispatch() bool { return g.Workflow != "" }

// Tekton rebuilds by creating a tekton.dev/v1 PipelineRun.
type Tekton struct {
	Namespace string `yaml:"namespace"`
	// Pipeline names a Pipeline in Namespace; PipelineRef resolves one
	// remotely. Exactly one is set.
	Pipeline       string             `yaml:"pipeline,omitempty"`
	PipelineRef    *TektonResolverRef `yaml:"pipelineRef,omitempty"`
	ServiceAccount string             `yaml:"serviceAccount,omitempty"`
	// Params are the PipelineRun's string params (values are templates).
	Params     map[string]string `yaml:"params,omitempty"`
	Workspaces []TektonWorkspace `yaml:"workspaces,omitempty"`
	// Timeout is the PipelineRun's pipeline timeout, a Go duration ("1h").
	Timeout     string            `yaml:"timeout,omitempty"`
	Labels      map[string]string `yaml:"labels,omitempty"`
	Annotations map[string]string `yaml:"annotations,omitempty"`
}

// TektonResolverRef is a remote pipeline reference resolved by a Tekton
// resolver ("bundles", "git", "hub", "cluster").
type TektonResolverRef struct {
	Resolver string `yaml:"resolver"`
	// Params are the resolver's params (values are templates).
	Params map[string]string `yaml:"params,omitempty"`
}

// TektonWorkspace binds a pipeline workspace to exactly one volume source.
type TektonWorkspace struct {
	Name                  string                 `yaml:"name"`
	SubPath               string                 `yaml:"subPath,omitempty"`
	PersistentVolumeClaim *PersistentVolumeClaim `yaml:"persistentVolumeClaim,omitempty"`
	EmptyDir              *EmptyDir              `yaml:"emptyDir,omitempty"`
	ConfigMap             *ConfigMapVolume       `yaml:"configMap,omitempty"`
	Secret                *SecretVolume          `yaml:"secret,omitempty"`
	// VolumeClaimTemplate is a PersistentVolumeClaim object, passed
	// through as written.
	VolumeClaimTemplate map[string]any `yaml:"volumeClaimTemplate,omitempty"`
}

// PersistentVolumeClaim binds an existing claim.
type PersistentVolumeClaim struct {
	ClaimName string `yaml:"claimName"`
}

// EmptyDir binds a fresh empty directory.
type EmptyDir struct{}

// ConfigMapVolume binds a ConfigMap.
type ConfigMapVolume struct {
	Name string `yaml:"name"`
}

// SecretVolume binds a Secret.
type SecretVolume struct {
	SecretName string `yaml:"secretName"`
}

// Webhook rebuilds by POSTing the dispatch payload as JSON, signed with
// HMAC-SHA256 when SecretEnv is set.
type Webhook struct {
	URL string `yaml:"url"`
	// SecretEnv names the environment variable holding the HMAC secret.
	SecretEnv string `yaml:"secretEnv,omitempty"`
	// Headers are extra request headers (values are templates).
	Headers map[string]string `yaml:"headers,omitempty"`
}

// Rebase rebuilds by swapping the base layers in the registry.
type Rebase struct{}

// ManifestSet selects deployment manifests to pin new digests in.
type ManifestSet struct {
	// Paths are doublestar globs relative to the workspace.
	Paths []string `yaml:"paths"`
	// Exclude are doublestar globs of files to skip.
	Exclude []string `yaml:"exclude,omitempty"`
	// Helm lists where image fields live in Helm values files; empty means
	// DefaultHelmPaths.
	Helm []HelmPaths `yaml:"helm,omitempty"`
}

// HelmPathsOrDefault returns m.Helm, or DefaultHelmPaths when it is empty.
func (m ManifestSet) HelmPathsOrDefault() []HelmPaths {
	if len(m.Helm) == 0 {
		return DefaultHelmPaths()
	}
	return m.Helm
}

// HelmPaths are dotted key paths inside a Helm values file ("image.tag")
// that together spell one image reference. Registry, Tag and Digest are
// optional; Repository is required and one of Tag or Digest is needed.
type HelmPaths struct {
	Registry   string `yaml:"registry,omitempty"`
	Repository string `yaml:"repository"`
	Tag        string `yaml:"tag,omitempty"`
	Digest     string `yaml:"digest,omitempty"`
}

// DefaultHelmPaths returns the two common Helm values conventions:
// image.repository + image.tag + image.digest, and Bitnami's, which adds
// image.registry.
func DefaultHelmPaths() []HelmPaths {
	return []HelmPaths{
		{Repository: "image.repository", Tag: "image.tag", Digest: "image.digest"},
		{Registry: "image.registry", Repository: "image.repository", Tag: "image.tag", Digest: "image.digest"},
	}
}

// Limits bound a cascade run.
type Limits struct {
	// MaxDispatches is the blast radius: more stale dependents than this is
	// refused unless overridden.
	MaxDispatches int `yaml:"maxDispatches,omitempty"`
	// MaxDepth bounds the cascade chain depth.
	MaxDepth int `yaml:"maxDepth,omitempty"`
}

// DefaultLimits returns the limits used when the config sets none.
func DefaultLimits() Limits {
	return Limits{MaxDispatches: DefaultMaxDispatches, MaxDepth: DefaultMaxDepth}
}

// Registries restricts and configures registry access.
type Registries struct {
	// Allow is an optional allowlist of registry hosts (host[:port]);
	// others are never contacted. Leaving the key out (nil) allows every
	// host. An explicit empty list (`allow: []`) is refused as invalid
	// config (exit 2): it reads as "no registry", which no run can work
	// with, and silently treating it as "every host" would widen access
	// the author meant to narrow.
	Allow []string `yaml:"allow,omitempty"`
	// Insecure lists hosts reached over plain HTTP.
	Insecure []string `yaml:"insecure,omitempty"`
}

// ApplyDefaults fills every unset field that has a default: the limits and
// each GitHub rebuild's event or ref. Parse calls it; code that builds a
// Config by hand should too.
func (c *Config) ApplyDefaults() {
	if c.Limits.MaxDispatches == 0 {
		c.Limits.MaxDispatches = DefaultMaxDispatches
	}
	if c.Limits.MaxDepth == 0 {
		c.Limits.MaxDepth = DefaultMaxDepth
	}
	for i := range c.Images {
		g := c.Images[i].Rebuild.GitHub
		if g == nil {
			continue
		}
		if g.Event == "" && g.Workflow == "" {
			g.Event = DefaultEvent
		}
		if g.Workflow != "" && g.Ref == "" {
			g.Ref = DefaultRef
		}
	}
}

// ImageByName returns the image named name.
func (c *Config) ImageByName(name string) (*Image, bool) {
	for i := range c.Images {
		if c.Images[i].Name == name {
			return &c.Images[i], true
		}
	}
	return nil, false
}
