package config

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAllowed(t *testing.T) {
	t.Parallel()
	open := &Config{}
	restricted := &Config{Registries: Registries{Allow: []string{"Registry.Example.com", "docker.io", "localhost:5000"}}}
	tests := []struct {
		cfg  *Config
		host string
		want bool
	}{
		{open, "anything.example", true},
		{restricted, "registry.example.com", true},
		{restricted, "REGISTRY.example.COM", true},
		{restricted, "docker.io", true},
		{restricted, "index.docker.io", true},
		{restricted, "registry-1.docker.io", true},
		{restricted, "localhost:5000", true},
		{restricted, "localhost", false},
		{restricted, "localhost:5001", false},
		{restricted, "example.com", false},
		{restricted, "registry.example.com.evil.io", false},
		{restricted, "ghcr.io", false},
	}
	for _, tt := range tests {
		if got := tt.cfg.Allowed(tt.host); got != tt.want {
			t.Errorf("Allowed(%q) with allow=%v = %v, want %v", tt.host, tt.cfg.Registries.Allow, got, tt.want)
		}
	}
	c := &Config{Registries: Registries{Allow: []string{"index.docker.io"}, Insecure: []string{"LOCALHOST:5000"}}}
	if !c.Allowed("docker.io") {
		t.Error("an allowlist entry index.docker.io does not allow docker.io")
	}
	if !c.InsecureHost("localhost:5000") || c.InsecureHost("localhost:5001") {
		t.Error("InsecureHost does not match exactly and case-insensitively")
	}
}

func TestHelmPaths(t *testing.T) {
	t.Parallel()
	want := []HelmPaths{
		{Repository: "image.repository", Tag: "image.tag", Digest: "image.digest"},
		{Registry: "image.registry", Repository: "image.repository", Tag: "image.tag", Digest: "image.digest"},
	}
	if diff := cmp.Diff(want, DefaultHelmPaths()); diff != "" {
		t.Errorf("DefaultHelmPaths (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, ManifestSet{}.HelmPathsOrDefault()); diff != "" {
		t.Errorf("HelmPathsOrDefault of none (-want +got):\n%s", diff)
	}
	own := []HelmPaths{{Repository: "app.image.name", Tag: "app.image.version"}}
	if diff := cmp.Diff(own, ManifestSet{Helm: own}.HelmPathsOrDefault()); diff != "" {
		t.Errorf("HelmPathsOrDefault of configured (-want +got):\n%s", diff)
	}
}
