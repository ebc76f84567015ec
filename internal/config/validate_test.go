package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imagecascade/cascade/internal/exitcode"
)

// exampleConfig parses the embedded example: a valid config to break.
func exampleConfig(t *testing.T) *Config {
	t.Helper()
	c, err := Parse(Example(), "example.yaml")
	if err != nil {
		t.Fatalf("Parse(example): %v", err)
	}
	return c
}

func paths(err error) []string {
	var out []string
	for _, fe := range FieldErrors(err) {
		out = append(out, fe.Path)
	}
	return out
}

// Example images by index: 0 httpd-base (github event), 1 app-a (tekton),
// 2 app-b (github workflow), 3 app-c (webhook), 4 static-site (rebase).
func TestValidateRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   []string
	}{
		{"valid example", func(c *Config) {}, nil},
		{"version missing", func(c *Config) { c.Version = 0 }, []string{"version"}},
		{"version 2", func(c *Config) { c.Version = 2 }, []string{"version"}},
		{"no images", func(c *Config) { c.Images = nil }, []string{"images"}},
		{"name required", func(c *Config) { c.Images[1].Name = "" }, []string{"images[1].name"}},
		{"name uppercase", func(c *Config) { c.Images[1].Name = "App-A" }, []string{"images[1].name"}},
		{"name ends with dash", func(c *Config) { c.Images[1].Name = "app-" }, []string{"images[1].name"}},
		{"name too long", func(c *Config) { c.Images[1].Name = strings.Repeat("a", 64) }, []string{"images[1].name"}},
		{"name with dots ok", func(c *Config) { c.Images[1].Name = "app.a-1" }, nil},
		{"name duplicate", func(c *Config) { c.Images[3].Name = "app-a" }, []string{"images[3].name"}},
		{"image required", func(c *Config) { c.Images[2].Image = "" }, []string{"images[2].image"}},
		{"image unparsable", func(c *Config) { c.Images[2].Image = "Registry.example.com/UPPER:latest" }, []string{"images[2].image"}},
		{"image with digest", func(c *Config) {
			c.Images[2].Image = "registry.example.com/acme/app-b:latest@sha256:" + strings.Repeat("a", 64)
		}, []string{"images[2].image"}},
		{"image same repo and tag", func(c *Config) { c.Images[3].Image = "registry.example.com/acme/app-a" }, []string{"images[3].image"}},
		{"image same repo other tag ok", func(c *Config) { c.Images[3].Image = "registry.example.com/acme/app-a:v2" }, nil},
		{"from unparsable", func(c *Config) { c.Images[2].From = []string{"ok/base:1", "bad:tag:x"} }, []string{"images[2].from[1]"}},
		{"from with digest ok", func(c *Config) { c.Images[2].From = []string{"base@sha256:" + strings.Repeat("b", 64)} }, nil},
		{"dockerfile absolute", func(c *Config) { c.Images[1].Dockerfile = "/etc/Dockerfile" }, []string{"images[1].dockerfile"}},
		{"dockerfile escapes", func(c *Config) { c.Images[1].Dockerfile = "../other/Dockerfile" }, []string{"images[1].dockerfile"}},
		{"dockerfile not clean", func(c *Config) { c.Images[1].Dockerfile = "./app-a//Dockerfile" }, []string{"images[1].dockerfile"}},
		{"dockerfile drive", func(c *Config) { c.Images[1].Dockerfile = `C:\Dockerfile` }, []string{"images[1].dockerfile"}},
		{"rebuild none", func(c *Config) { c.Images[4].Rebuild = Rebuild{} }, []string{"images[4].rebuild"}},
		{"rebuild two", func(c *Config) { c.Images[4].Rebuild.Webhook = &Webhook{URL: "https://x.example"} }, []string{"images[4].rebuild"}},
		{"github repository required", func(c *Config) { c.Images[0].Rebuild.GitHub.Repository = "" }, []string{"images[0].rebuild.github.repository"}},
		{"github repository no owner", func(c *Config) { c.Images[0].Rebuild.GitHub.Repository = "httpd-base" }, []string{"images[0].rebuild.github.repository"}},
		{"github repository three parts", func(c *Config) { c.Images[0].Rebuild.GitHub.Repository = "a/b/c" }, []string{"images[0].rebuild.github.repository"}},
		{"github event and workflow", func(c *Config) { c.Images[0].Rebuild.GitHub.Workflow = "build.yml" }, []string{"images[0].rebuild.github"}},
		{"github event too long", func(c *Config) { c.Images[0].Rebuild.GitHub.Event = strings.Repeat("e", 101) }, []string{"images[0].rebuild.github.event"}},
		{"github ref with event", func(c *Config) { c.Images[0].Rebuild.GitHub.Ref = "main" }, []string{"images[0].rebuild.github.ref"}},
		{"github inputs with event", func(c *Config) { c.Images[0].Rebuild.GitHub.Inputs = map[string]string{"a": "b"} }, []string{"images[0].rebuild.github.inputs"}},
		{"github workflow path", func(c *Config) { c.Images[2].Rebuild.GitHub.Workflow = ".github/workflows/build.yml" }, []string{"images[2].rebuild.github.workflow"}},
		{"github workflow extension", func(c *Config) { c.Images[2].Rebuild.GitHub.Workflow = "build.json" }, []string{"images[2].rebuild.github.workflow"}},
		{"github workflow numeric ok", func(c *Config) { c.Images[2].Rebuild.GitHub.Workflow = "161335" }, nil},
		{"github workflow yaml ok", func(c *Config) { c.Images[2].Rebuild.GitHub.Workflow = "build.yaml" }, nil},
		{"github too many inputs", func(c *Config) {
			for i := range 26 {
				c.Images[2].Rebuild.GitHub.Inputs[fmt.Sprintf("in%02d", i)] = "x"
			}
		}, []string{"images[2].rebuild.github.inputs"}},
		{"github 25 inputs ok", func(c *Config) {
			c.Images[2].Rebuild.GitHub.Inputs = map[string]string{}
			for i := range 25 {
				c.Images[2].Rebuild.GitHub.Inputs[fmt.Sprintf("in%02d", i)] = "x"
			}
		}, nil},
		{"github input template", func(c *Config) { c.Images[2].Rebuild.GitHub.Inputs["base-image"] = "{{ .Base.Nope }}" }, []string{"images[2].rebuild.github.inputs[base-image]"}},
		{"github ref template", func(c *Config) { c.Images[2].Rebuild.GitHub.Ref = "{{ .Base.Ref" }, []string{"images[2].rebuild.github.ref"}},
		{"tekton namespace required", func(c *Config) { c.Images[1].Rebuild.Tekton.Namespace = "" }, []string{"images[1].rebuild.tekton.namespace"}},
		{"tekton namespace not a label", func(c *Config) { c.Images[1].Rebuild.Tekton.Namespace = "ci.prod" }, []string{"images[1].rebuild.tekton.namespace"}},
		{"tekton pipeline required", func(c *Config) { c.Images[1].Rebuild.Tekton.Pipeline = "" }, []string{"images[1].rebuild.tekton.pipeline"}},
		{"tekton pipeline and ref", func(c *Config) {
			c.Images[1].Rebuild.Tekton.PipelineRef = &TektonResolverRef{Resolver: "bundles"}
		}, []string{"images[1].rebuild.tekton"}},
		{"tekton pipelineRef ok", func(c *Config) {
			c.Images[1].Rebuild.Tekton.Pipeline = ""
			c.Images[1].Rebuild.Tekton.PipelineRef = &TektonResolverRef{Resolver: "bundles", Params: map[string]string{
				"bundle": "registry.example.com/acme/pipelines:{{ .Base.Tag }}", "name": "build", "kind": "pipeline",
			}}
		}, nil},
		{"tekton pipelineRef resolver required", func(c *Config) {
			c.Images[1].Rebuild.Tekton.Pipeline = ""
			c.Images[1].Rebuild.Tekton.PipelineRef = &TektonResolverRef{Params: map[string]string{"x": "{{ .Nope }}"}}
		}, []string{"images[1].rebuild.tekton.pipelineRef.resolver", "images[1].rebuild.tekton.pipelineRef.params[x]"}},
		{"tekton pipeline name", func(c *Config) { c.Images[1].Rebuild.Tekton.Pipeline = "App_Build" }, []string{"images[1].rebuild.tekton.pipeline"}},
		{"tekton serviceAccount", func(c *Config) { c.Images[1].Rebuild.Tekton.ServiceAccount = "Builder!" }, []string{"images[1].rebuild.tekton.serviceAccount"}},
		{"tekton param template", func(c *Config) { c.Images[1].Rebuild.Tekton.Params["BASE_IMAGE"] = "{{ .Base.Nope }}" }, []string{"images[1].rebuild.tekton.params[BASE_IMAGE]"}},
		{"tekton param name", func(c *Config) { c.Images[1].Rebuild.Tekton.Params["bad name"] = "x" }, []string{"images[1].rebuild.tekton.params[bad name]"}},
		{"tekton timeout", func(c *Config) { c.Images[1].Rebuild.Tekton.Timeout = "an hour" }, []string{"images[1].rebuild.tekton.timeout"}},
		{"tekton timeout negative", func(c *Config) { c.Images[1].Rebuild.Tekton.Timeout = "-1h" }, []string{"images[1].rebuild.tekton.timeout"}},
		{"tekton timeout ok", func(c *Config) { c.Images[1].Rebuild.Tekton.Timeout = "1h30m" }, nil},
		{"tekton workspaces", func(c *Config) {
			c.Images[1].Rebuild.Tekton.Workspaces = []TektonWorkspace{
				{Name: "source", PersistentVolumeClaim: &PersistentVolumeClaim{ClaimName: "src"}},
				{Name: "cache", EmptyDir: &EmptyDir{}},
				{Name: "cm", ConfigMap: &ConfigMapVolume{Name: "cfg"}},
				{Name: "sec", Secret: &SecretVolume{SecretName: "s"}, SubPath: "sub/dir"},
				{Name: "vct", VolumeClaimTemplate: map[string]any{"spec": map[string]any{}}},
			}
		}, nil},
		{"tekton workspace problems", func(c *Config) {
			c.Images[1].Rebuild.Tekton.Workspaces = []TektonWorkspace{
				{Name: "", EmptyDir: &EmptyDir{}},
				{Name: "a", PersistentVolumeClaim: &PersistentVolumeClaim{}},
				{Name: "a", ConfigMap: &ConfigMapVolume{}},
				{Name: "b", Secret: &SecretVolume{}},
				{Name: "c"},
				{Name: "d", EmptyDir: &EmptyDir{}, ConfigMap: &ConfigMapVolume{Name: "x"}},
				{Name: "e", EmptyDir: &EmptyDir{}, SubPath: "../up"},
			}
		}, []string{
			"images[1].rebuild.tekton.workspaces[0].name",
			"images[1].rebuild.tekton.workspaces[1].persistentVolumeClaim.claimName",
			"images[1].rebuild.tekton.workspaces[2].name",
			"images[1].rebuild.tekton.workspaces[2].configMap.name",
			"images[1].rebuild.tekton.workspaces[3].secret.secretName",
			"images[1].rebuild.tekton.workspaces[4]",
			"images[1].rebuild.tekton.workspaces[5]",
			"images[1].rebuild.tekton.workspaces[6].subPath",
		}},
		{"tekton labels", func(c *Config) {
			c.Images[1].Rebuild.Tekton.Labels = map[string]string{
				"team": "web", "acme.com/tier": "gold", "bad key!": "x", "cascade.dev/dependent": "y", "ok": "bad value!",
			}
			c.Images[1].Rebuild.Tekton.Annotations = map[string]string{"acme.com/note": "any text at all", "/x": "y"}
		}, []string{
			"images[1].rebuild.tekton.labels[bad key!]",
			"images[1].rebuild.tekton.labels[cascade.dev/dependent]",
			"images[1].rebuild.tekton.labels[ok]",
			"images[1].rebuild.tekton.annotations[/x]",
		}},
		{"webhook url required", func(c *Config) { c.Images[3].Rebuild.Webhook.URL = "" }, []string{"images[3].rebuild.webhook.url"}},
		{"webhook url relative", func(c *Config) { c.Images[3].Rebuild.Webhook.URL = "/hook" }, []string{"images[3].rebuild.webhook.url"}},
		{"webhook url scheme", func(c *Config) { c.Images[3].Rebuild.Webhook.URL = "ftp://host/x" }, []string{"images[3].rebuild.webhook.url"}},
		{"webhook url no host", func(c *Config) { c.Images[3].Rebuild.Webhook.URL = "http:///x" }, []string{"images[3].rebuild.webhook.url"}},
		{"webhook url userinfo", func(c *Config) { c.Images[3].Rebuild.Webhook.URL = "https://u:p@host/x" }, []string{"images[3].rebuild.webhook.url"}},
		{"webhook url garbage", func(c *Config) { c.Images[3].Rebuild.Webhook.URL = "http://[::1" }, []string{"images[3].rebuild.webhook.url"}},
		{"webhook secretEnv", func(c *Config) { c.Images[3].Rebuild.Webhook.SecretEnv = "1-SECRET" }, []string{"images[3].rebuild.webhook.secretEnv"}},
		{"webhook headers", func(c *Config) {
			c.Images[3].Rebuild.Webhook.Headers = map[string]string{
				"X-Base":                  "{{ .Base.Ref }}",
				"X-Bad":                   "{{ .Base.Nope }}",
				"Bad Header":              "x",
				"X-Cascade-Signature-256": "forged",
				"X-Split":                 "a\r\nInjected: 1",
			}
		}, []string{
			"images[3].rebuild.webhook.headers[Bad Header]",
			"images[3].rebuild.webhook.headers[X-Bad]",
			"images[3].rebuild.webhook.headers[X-Cascade-Signature-256]",
			"images[3].rebuild.webhook.headers[X-Split]",
		}},
		{"limits below 1", func(c *Config) { c.Limits = Limits{MaxDispatches: 0, MaxDepth: -1} }, []string{"limits.maxDispatches", "limits.maxDepth"}},
		{"maxDepth over 100", func(c *Config) { c.Limits.MaxDepth = 101 }, []string{"limits.maxDepth"}},
		{"manifests paths required", func(c *Config) { c.Manifests[0].Paths = nil }, []string{"manifests[0].paths"}},
		{"manifests bad globs", func(c *Config) {
			c.Manifests[0].Paths = []string{"/etc/*.yaml", "../x/*.yaml", "deploy/../../x", "deploy/[a-", "", "ok/**/*.yml"}
			c.Manifests[0].Exclude = []string{`C:\x`, "a/{b,c"}
		}, []string{
			"manifests[0].paths[0]", "manifests[0].paths[1]", "manifests[0].paths[2]", "manifests[0].paths[3]", "manifests[0].paths[4]",
			"manifests[0].exclude[0]", "manifests[0].exclude[1]",
		}},
		{"helm paths", func(c *Config) {
			c.Manifests[0].Helm = []HelmPaths{
				{Repository: "image.repository", Tag: "image.tag"},
				{Tag: "image.tag"},
				{Repository: "image.repository"},
				{Repository: "image..repository", Digest: "image.digest."},
			}
		}, []string{
			"manifests[0].helm[1].repository", "manifests[0].helm[2]",
			"manifests[0].helm[3].repository", "manifests[0].helm[3].digest",
		}},
		{"registries", func(c *Config) {
			c.Registries.Allow = []string{"localhost:5000", "[::1]:5000", "[::1]", "https://ghcr.io", "ghcr.io/acme", "host:99999", "-bad.io", ""}
			c.Registries.Insecure = []string{"localhost:5000", "a b"}
		}, []string{
			"registries.allow[3]", "registries.allow[4]", "registries.allow[5]", "registries.allow[6]", "registries.allow[7]",
			"registries.insecure[1]",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := exampleConfig(t)
			tt.mutate(c)
			err := c.Validate()
			if diff := cmp.Diff(tt.want, paths(err)); diff != "" {
				t.Errorf("Validate() paths mismatch (-want +got):\n%s\nerror: %v", diff, err)
			}
			if err != nil && exitcode.Of(err) != exitcode.Invalid {
				t.Errorf("exitcode.Of = %d, want %d", exitcode.Of(err), exitcode.Invalid)
			}
		})
	}
}

func TestValidateReportsEverythingAtOnce(t *testing.T) {
	t.Parallel()
	c := &Config{
		Version: 3,
		Images: []Image{
			{Name: "Bad_Name", Image: "x@sha256:" + strings.Repeat("a", 64), Dockerfile: "../Dockerfile",
				Rebuild: Rebuild{Tekton: &Tekton{Params: map[string]string{"P": "{{ .Base.Nope }}"}}}},
			{Name: "ok", Image: "", From: []string{"::"},
				Rebuild: Rebuild{GitHub: &GitHub{Repository: "nope", Event: "e", Workflow: "w.yml"}}},
			{Name: "ok", Image: "app", Rebuild: Rebuild{Webhook: &Webhook{URL: "mailto:x"}, Rebase: &Rebase{}}},
		},
		Manifests:  []ManifestSet{{Paths: []string{"/abs"}}},
		Limits:     Limits{MaxDispatches: -1, MaxDepth: 1000},
		Registries: Registries{Allow: []string{"not a host"}},
	}
	err := c.Validate()
	want := []string{
		"version",
		"images[0].name",
		"images[0].image",
		"images[0].dockerfile",
		"images[0].rebuild.tekton.namespace",
		"images[0].rebuild.tekton.pipeline",
		"images[0].rebuild.tekton.params[P]",
		"images[1].image",
		"images[1].from[0]",
		"images[1].rebuild.github.repository",
		"images[1].rebuild.github",
		"images[2].rebuild.webhook.url",
		"images[2].rebuild",
		"images[2].name",
		"manifests[0].paths[0]",
		"limits.maxDispatches",
		"limits.maxDepth",
		"registries.allow[0]",
	}
	if diff := cmp.Diff(want, paths(err)); diff != "" {
		t.Errorf("Validate() paths mismatch (-want +got):\n%s\nerror: %v", diff, err)
	}
	if got := exitcode.Of(err); got != exitcode.Invalid {
		t.Errorf("exitcode.Of = %d, want %d", got, exitcode.Invalid)
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != len(want) {
		t.Errorf("error has %d lines, want one per problem (%d):\n%v", n, len(want), err)
	}
}

func TestFieldErrorMessage(t *testing.T) {
	t.Parallel()
	c := exampleConfig(t)
	c.Images[1].Rebuild.Tekton.Pipeline = ""
	err := c.Validate()
	want := "images[1].rebuild.tekton.pipeline: required (or pipelineRef)"
	if err == nil || err.Error() != want {
		t.Errorf("Validate() = %v, want %q", err, want)
	}
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Path != "images[1].rebuild.tekton.pipeline" {
		t.Errorf("errors.As(*FieldError) = %v", fe)
	}
}
