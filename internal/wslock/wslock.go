// Package wslock serialises the write phase of cascade runs on one
// workspace: an advisory, exclusive flock(2) on the workspace folder
// itself, so that nothing is created in the workspace and the lock follows
// the folder whatever path names it.
//
// The lock is released by Release, and by the kernel when the process ends
// in any way (the lock belongs to an open file descriptor), so a crashed
// run never leaves a stale lock behind. Acquire waits a bounded time; when
// it gives up, its error names the folder and, where the platform tells
// (Linux /proc/locks), the process id holding it.
//
// Only cascade takes this lock: another program writing to the workspace
// is not held off by it. internal/manifests checks each file's bytes just
// before replacing it for that case.
//
// Where flock(2) is not available (Windows), Acquire returns a Lock that
// holds nothing: runs are not serialised there.
package wslock

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/imagecascade/cascade/internal/exitcode"
)

// DefaultTimeout bounds the wait for the lock.
const DefaultTimeout = 5 * time.Minute

// Lock is a held workspace lock.
type Lock struct {
	f    *os.File
	path string
}

// Acquire takes the exclusive lock on folder dir, waiting up to timeout
// (DefaultTimeout when zero or negative) or until ctx ends. A timeout is
// exitcode.AsTransient: re-running once the other run has finished is safe.
func Acquire(ctx context.Context, dir string, timeout time.Duration) (*Lock, error) {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, exitcode.AsInvalid(fmt.Errorf("locking workspace %q: %w", dir, err))
	}
	f, err := os.Open(abs)
	if err != nil {
		return nil, exitcode.AsInvalid(fmt.Errorf("locking workspace %q: %w", abs, err))
	}
	l := &Lock{f: f, path: abs}
	deadline := time.Now().Add(timeout)
	wait := 10 * time.Millisecond
	for {
		ok, err := tryLock(f)
		if err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("locking workspace %q: %w", abs, err)
		}
		if ok {
			return l, nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			holder := holderOf(f)
			_ = f.Close()
			return nil, exitcode.AsTransient(fmt.Errorf("workspace %q is being written by another cascade run (%s); gave up after waiting %s: re-run when it has finished",
				abs, holder, timeout))
		}
		t := time.NewTimer(min(wait, left))
		select {
		case <-ctx.Done():
			t.Stop()
			_ = f.Close()
			return nil, fmt.Errorf("locking workspace %q: %w", abs, ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, 250*time.Millisecond)
	}
}

// Path is the locked folder.
func (l *Lock) Path() string { return l.path }

// Release gives the lock up. It is safe to call more than once and on a
// nil Lock.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the descriptor drops the flock
	l.f = nil
	if err != nil {
		return fmt.Errorf("unlocking workspace %q: %w", l.path, err)
	}
	return nil
}
