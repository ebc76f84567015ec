package engine

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imagecascade/cascade/internal/config"
	"github.com/imagecascade/cascade/internal/exitcode"
)

// TestR22_DockerfileSymlinkEscapeIsRefused: a config dockerfile: path that
// leaves the workspace through a symbolic link is refused for safety (exit
// 5), as a manifest path is, even when another image's config is merely
// invalid.
func TestR22_DockerfileSymlinkEscapeIsRefused(t *testing.T) {
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "Dockerfile"), []byte("FROM registry.example.com/secret/base:1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		link   string // the symlink created in the workspace
		target string
		path   string // the config's dockerfile:
		also   string // a second image's dockerfile (missing: invalid)
		want   int
	}{
		{name: "file link", link: "Dockerfile", target: filepath.Join(outside, "Dockerfile"), path: "Dockerfile", want: exitcode.Refused},
		{name: "dir link", link: "app", target: outside, path: "app/Dockerfile", want: exitcode.Refused},
		{name: "with an invalid sibling", link: "app", target: outside, path: "app/Dockerfile", also: "missing/Dockerfile", want: exitcode.Refused},
		{name: "inside link is fine", link: "Dockerfile.link", target: "Dockerfile.real", path: "Dockerfile.link", want: exitcode.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws := t.TempDir()
			if err := os.WriteFile(filepath.Join(ws, "Dockerfile.real"), []byte("FROM registry.example.com/acme/base:1\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(tt.target, filepath.Join(ws, tt.link)); err != nil {
				t.Fatal(err)
			}
			cfg := &config.Config{Images: []config.Image{{Name: "app", Image: "registry.example.com/acme/app:1", Dockerfile: tt.path}}}
			if tt.also != "" {
				cfg.Images = append(cfg.Images, config.Image{Name: "other", Image: "registry.example.com/acme/other:1", Dockerfile: tt.also})
			}
			e := &Engine{Config: cfg, Workspace: ws}
			_, err := e.Graph()
			if diff := cmp.Diff(tt.want, exitcode.Of(err)); diff != "" {
				t.Errorf("exit code (-want +got):\n%s\nerr: %v", diff, err)
			}
		})
	}
}
