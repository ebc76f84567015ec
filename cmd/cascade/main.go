// Command cascade rebuilds what is built on an image, and rolls its
// deployments, when the image changes. See `cascade --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/imagecascade/cascade/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], cli.Streams{Out: os.Stdout, Err: os.Stderr})
	stop()
	os.Exit(code)
}
