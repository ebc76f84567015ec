package config

import (
	"testing"

	"github.com/imagecascade/cascade/internal/exitcode"
)

// FuzzLoadConfig checks that Parse never panics, that whatever it accepts
// validates, and that whatever it refuses is invalid input (exit 2).
func FuzzLoadConfig(f *testing.F) {
	f.Add(Example())
	f.Add([]byte(header))
	f.Add([]byte(header + "limits: {maxDispatches: 0, maxDepth: 1000}\n"))
	f.Add([]byte(header + "  - name: x\n    image: x\n    rebuild: {github: {repository: a/b, workflow: w.yml, inputs: {a: '{{ .Base.Ref }}'}}}\n"))
	f.Add([]byte(header + "  - name: y\n    image: y\n    rebuild: {tekton: {namespace: ci, pipeline: p, workspaces: [{name: w, emptyDir: }]}}\n"))
	f.Add([]byte("version: 1\nimages: &a [*a]\n"))
	f.Add([]byte("version: 1\n<<: {images: []}\n"))
	f.Add([]byte("{"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "fuzz.yaml")
		if err != nil {
			if got := exitcode.Of(err); got != exitcode.Invalid {
				t.Fatalf("Parse error has exit code %d, want %d: %v", got, exitcode.Invalid, err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted a config that does not validate: %v", err)
		}
	})
}
