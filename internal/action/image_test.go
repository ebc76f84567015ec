package action

import (
	"archive/tar"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/imagecascade/cascade/internal/testenv"
)

// maxImageSize is the budget of the image (compressed layers and config).
const maxImageSize = 40 << 20

// TestDockerfileOfflineImage builds the image the documented offline way —
// a static binary built here, the Dockerfile's default (local) stage, real
// buildah with chroot isolation — pushes it to a real registry, and checks
// it: at most 40 MB, non-root 65532, entrypoint /cascade, and the /cascade
// taken out of its layers runs `cascade version`. (The image is FROM
// scratch; running the extracted binary is what `buildah run` would do,
// without needing a container runtime.)
func TestDockerfileOfflineImage(t *testing.T) {
	t.Parallel()
	b := testenv.NewBuildah(t)
	reg := testenv.StartRegistry(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	root := repoRoot(t)
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w -X github.com/imagecascade/cascade/internal/cli.Version=v0.0.0-imagetest",
		"-o", filepath.Join(dir, "bin", "cascade"), "./cmd/cascade")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ca, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err != nil {
		testenv.Require(t, "update-ca-certificates") // ca-certificates; skips or fails with a hint
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bin", "ca-certificates.crt"), ca, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"Dockerfile", ".dockerignore"} {
		data, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	tag := reg.Ref("imagecascade/cascade:test")
	if err := b.Build(ctx, dir, tag, testenv.BuildOptions{}); err != nil {
		t.Fatal(err)
	}
	digest, err := b.Push(ctx, tag, "")
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(tag+"@"+digest, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(ref, remote.WithContext(ctx))
	if err != nil {
		t.Fatalf("reading %s: %v", ref, err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.Config.Entrypoint, " "); got != "/cascade" {
		t.Errorf("entrypoint %q, want /cascade", got)
	}
	if cfg.Config.User != "65532:65532" {
		t.Errorf("user %q, want 65532:65532", cfg.Config.User)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var size int64
	if m, err := img.Manifest(); err == nil {
		size = m.Config.Size
	}
	bin := filepath.Join(t.TempDir(), "cascade")
	found := false
	for _, l := range layers {
		s, err := l.Size()
		if err != nil {
			t.Fatal(err)
		}
		size += s
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.TrimPrefix(h.Name, "./") == "cascade" || h.Name == "/cascade" {
				f, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := io.Copy(f, tr); err != nil {
					t.Fatal(err)
				}
				f.Close()
				found = h.Mode&0o111 != 0
			}
		}
		rc.Close()
	}
	t.Logf("image %s: %d layers, %.1f MB", ref, len(layers), float64(size)/(1<<20))
	if size > maxImageSize {
		t.Errorf("image is %d bytes, over the %d budget", size, maxImageSize)
	}
	if !found {
		t.Fatal("no executable /cascade in the image's layers")
	}
	// As in the image: no environment, no shell, nothing but the binary.
	run := exec.CommandContext(ctx, bin, "version")
	run.Env = []string{}
	out, err := run.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "cascade v0.0.0-imagetest" {
		t.Errorf("cascade version in the image: %v, %q", err, out)
	}
}
