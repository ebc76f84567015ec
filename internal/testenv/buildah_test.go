package testenv

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestBuildahCleanupRemovesStorage(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var dir string
	t.Run("build", func(t *testing.T) {
		b := NewBuildah(t)
		dir = b.dir
		if err := b.BuildBase(ctx, "localhost/stand-in:1"); err != nil {
			t.Fatal(err)
		}
		// The failing test's own TempDir removal is what must not fail.
	})
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("buildah storage %s still there after cleanup (stat: %v)", dir, err)
	}
}

func TestBuildErrors(t *testing.T) {
	t.Parallel()
	b := NewBuildah(t)

	tests := []struct {
		name       string
		dockerfile string
		opts       BuildOptions
		wantErr    []string // substrings
	}{
		{
			name:       "unknown format",
			dockerfile: "FROM scratch\n",
			opts:       BuildOptions{Format: "v2s1"},
			wantErr:    []string{`format "v2s1" is neither`},
		},
		{
			name:       "failing RUN shows buildah's output",
			dockerfile: "FROM scratch\nRUN [\"/no/such/program\"]\n",
			wantErr:    []string{"building localhost/broken:1", "buildah build", "/no/such/program"},
		},
		{
			name:       "missing Dockerfile",
			dockerfile: "FROM scratch\n",
			opts:       BuildOptions{Dockerfile: "Other.Dockerfile"},
			wantErr:    []string{"Other.Dockerfile"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(tt.dockerfile), 0o644); err != nil {
				t.Fatal(err)
			}
			err := b.Build(ctx, dir, "localhost/broken:1", tt.opts)
			if err == nil {
				t.Fatal("Build succeeded, want an error")
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestPushErrorNamesDestination(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := NewBuildah(t)
	_, err := b.Push(ctx, "localhost/never-built:1", "127.0.0.1:1/x:1")
	if err == nil || !strings.Contains(err.Error(), "pushing localhost/never-built:1 to 127.0.0.1:1/x:1") {
		t.Errorf("Push error = %v, want it to name source and destination", err)
	}
}

func TestRemoveAllReadOnlyDirs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ro := filepath.Join(dir, "layer", "usr", "bin")
	if err := os.MkdirAll(ro, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ro, "f"), []byte("x"), 0o444); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{ro, filepath.Dir(ro), filepath.Join(dir, "layer")} {
		if err := os.Chmod(d, 0o555); err != nil {
			t.Fatal(err)
		}
	}
	if err := removeAll(dir); err != nil {
		t.Fatalf("removeAll: %v", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 0 {
		t.Errorf("after removeAll: %d entries, err %v; want an empty dir", len(entries), err)
	}
}
