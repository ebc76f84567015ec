package config

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

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
