package e2e

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"github.com/imagecascade/cascade/internal/cli"
)

// execAsCascade, set to "cascade" in a child's environment, makes this test
// binary behave exactly like cmd/cascade: the suite runs cascade as a
// separate process (with its own environment, as a pipeline step does, and
// inside act's workflow steps) without a separate go build.
const execAsCascade = "E2E_EXEC_AS"

func TestMain(m *testing.M) {
	if os.Getenv(execAsCascade) == "cascade" {
		// The same few lines as cmd/cascade/main.go.
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := cli.Run(ctx, os.Args[1:], cli.Streams{Out: os.Stdout, Err: os.Stderr})
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}
