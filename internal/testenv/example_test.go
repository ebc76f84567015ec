package testenv_test

import (
	"context"
	"testing"

	"github.com/imagecascade/cascade/internal/testenv"
)

// A test of code that reads base-image annotations: push a stand-in
// centos:7 and an image built on it to a real registry. (Not run: examples
// have no *testing.T.)
func Example() {
	_ = func(t *testing.T) {
		ctx := context.Background()
		reg := testenv.StartRegistry(t)
		b := testenv.NewBuildah(t)

		if err := b.BuildBase(ctx, "localhost/stand-in:1"); err != nil {
			t.Fatal(err)
		}
		baseDigest, err := b.Push(ctx, "localhost/stand-in:1", reg.Ref("centos:7"))
		if err != nil {
			t.Fatal(err)
		}

		// contextDir holds a Dockerfile "FROM <reg.Host>/centos:7" with RUN steps.
		contextDir := t.TempDir()
		app := reg.Ref("app:1")
		if err := b.Build(ctx, contextDir, app, testenv.BuildOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Push(ctx, app, ""); err != nil {
			t.Fatal(err)
		}
		// app's manifest now carries
		// org.opencontainers.image.base.digest = baseDigest.
		_ = baseDigest
	}
}
