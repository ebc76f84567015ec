package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imagecascade/cascade/internal/exitcode"
)

// TestR24_EmptyAllowListIsInvalid: `registries.allow: []` is refused as
// invalid config (exit 2) instead of silently allowing every host; leaving
// the key out still allows every host.
func TestR24_EmptyAllowListIsInvalid(t *testing.T) {
	t.Parallel()
	const images = `version: 1
images:
  - name: app
    image: registry.example.com/acme/app:1
    from: [registry.example.com/acme/base:1]
    rebuild:
      webhook:
        url: https://hooks.example.com/rebuild
`
	tests := []struct {
		name      string
		registry  string
		wantPaths []string
		wantCode  int
		wantAllow []string
	}{
		{name: "key left out", registry: "", wantCode: exitcode.OK},
		{name: "no allow key", registry: "registries:\n  insecure: [localhost:5000]\n", wantCode: exitcode.OK},
		{name: "explicit empty list", registry: "registries:\n  allow: []\n", wantPaths: []string{"registries.allow"}, wantCode: exitcode.Invalid},
		{name: "explicit empty block list", registry: "registries:\n  allow:\n", wantCode: exitcode.OK},
		{name: "one host", registry: "registries:\n  allow: [registry.example.com]\n", wantCode: exitcode.OK, wantAllow: []string{"registry.example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Parse([]byte(images+tt.registry), "cascade.yaml")
			if diff := cmp.Diff(tt.wantCode, exitcode.Of(err)); diff != "" {
				t.Errorf("exit code (-want +got):\n%s\nerr: %v", diff, err)
			}
			if diff := cmp.Diff(tt.wantPaths, paths(err)); diff != "" {
				t.Errorf("field paths (-want +got):\n%s", diff)
			}
			if err != nil {
				if !strings.Contains(err.Error(), "allow no registry") {
					t.Errorf("error %q does not say what the empty list means", err)
				}
				return
			}
			if diff := cmp.Diff(tt.wantAllow, c.Registries.Allow); diff != "" {
				t.Errorf("Allow (-want +got):\n%s", diff)
			}
		})
	}
}
