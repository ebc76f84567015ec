//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package wslock

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

func tryLock(f *os.File) (bool, error) {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EWOULDBLOCK):
			return false, nil
		}
		return false, fmt.Errorf("flock: %w", err)
	}
}

// holderOf names the process holding the flock on f's file, from Linux's
// /proc/locks ("1: FLOCK ADVISORY WRITE <pid> <maj>:<min>:<inode> 0 EOF").
func holderOf(f *os.File) string {
	fi, err := f.Stat()
	if err != nil {
		return "holder unknown"
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "holder unknown"
	}
	locks, err := os.Open("/proc/locks")
	if err != nil {
		return "holder unknown"
	}
	defer locks.Close()
	ino := strconv.FormatUint(uint64(st.Ino), 10)
	sc := bufio.NewScanner(locks)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[1] != "FLOCK" {
			continue // not a flock, or a waiter ("->")
		}
		id := strings.Split(fields[5], ":")
		if len(id) == 3 && id[2] == ino {
			return "held by process " + fields[4] + cmdline(fields[4])
		}
	}
	return "holder unknown"
}

// cmdline is " (<command line>)" for pid, or "".
func cmdline(pid string) string {
	b, err := os.ReadFile("/proc/" + pid + "/cmdline")
	if err != nil || len(b) == 0 {
		return ""
	}
	s := strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return " (" + s + ")"
}
