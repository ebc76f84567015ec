package wslock_test

import (
	"context"
	"errors"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/wslock"
)

func TestLockExcludesWaitsAndNamesHolder(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("no flock on Windows: the lock holds nothing there (package doc)")
	}
	dir := t.TempDir()
	ctx := context.Background()
	first, err := wslock.Acquire(ctx, dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}

	_, err = wslock.Acquire(ctx, dir, 100*time.Millisecond)
	if err == nil {
		t.Fatal("second Acquire succeeded while the first holds the lock")
	}
	if exitcode.Of(err) != exitcode.Transient || !strings.Contains(err.Error(), dir) {
		t.Errorf("timeout error = %v (code %d), want transient naming %s", err, exitcode.Of(err), dir)
	}
	if runtime.GOOS == "linux" && !strings.Contains(err.Error(), "process "+strconv.Itoa(os.Getpid())) {
		t.Errorf("timeout error %q does not name the holder, pid %d", err, os.Getpid())
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := wslock.Acquire(cctx, dir, time.Minute); !errors.Is(err, context.Canceled) {
		t.Errorf("Acquire with a canceled context = %v, want context.Canceled", err)
	}

	// A waiter gets the lock as soon as the holder releases it.
	got := make(chan error, 1)
	go func() {
		l, err := wslock.Acquire(ctx, dir, 10*time.Second)
		if err == nil {
			err = l.Release()
		}
		got <- err
	}()
	time.Sleep(50 * time.Millisecond)
	if err := first.Release(); err != nil {
		t.Fatal(err)
	}
	if err := first.Release(); err != nil {
		t.Errorf("second Release = %v, want nil", err)
	}
	if err := <-got; err != nil {
		t.Errorf("waiter: %v", err)
	}
}
