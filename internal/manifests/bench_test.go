package manifests

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkUpdate10kFiles is B1's shape: a tree of 10,000 manifests, one
// reference to pin in each (dry run, so every iteration does the same work).
func BenchmarkUpdate10kFiles(b *testing.B) {
	ws := b.TempDir()
	for i := range 10000 {
		dir := filepath.Join(ws, fmt.Sprintf("team%02d", i%100))
		_ = os.MkdirAll(dir, 0o755)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("app%05d.yaml", i)), []byte(podYAML), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	opts := Options{Workspace: ws, Image: testOptions(ws).Image, DryRun: true}
	b.ResetTimer()
	for b.Loop() {
		res, err := Update(context.Background(), opts)
		if err != nil || len(res.Changed()) != 10000 {
			b.Fatalf("Update: %v, %d changed", err, len(res.Changed()))
		}
	}
}
