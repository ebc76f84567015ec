package manifests

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"runtime"
	"slices"
	"time"

	"github.com/imagecascade/cascade/internal/exitcode"
)

// keptMode are the mode bits a rewrite keeps.
const keptMode = fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky

// writeAtomic replaces name in root (p in the workspace, for messages)
// with data, the rewrite of original: a temporary file in the same folder,
// written, synced and renamed over name, with name's mode bits. On any
// failure, even a panic in write, the temporary file is removed and name is
// untouched. The rename replaces a symbolic link rather than following it,
// and name is checked not to be one just before. The caller syncs the
// folder (syncDir) once after its renames.
//
// Another writer may change name between cascade's read and this rename.
// Just before the rename, name's bytes are compared with original: bytes
// appended meanwhile are carried over after data; any other change fails
// this file (exitcode.AsTransient, name left as the other writer made it).
// Bytes appended to the replaced file while the rename happens (by a
// writer that opened it before) are copied to the end of the new file. A
// writer that keeps the file open and writes long after the rename writes
// into the replaced file: no rename-based update can see that.
func writeAtomic(root *os.Root, name, p string, original, data []byte, write func(*os.File, []byte) error) (err error) {
	return writeAtomicKeep(root, name, p, original, data, write, nil)
}

// writeAtomicKeep is writeAtomic that, when keep is set, hands the
// replaced file (still open) and how much of it was carried over to keep
// instead of closing it, so that the caller can watch it for late appends
// once all its files are written (sweepReplaced).
func writeAtomicKeep(root *os.Root, name, p string, original, data []byte, write func(*os.File, []byte) error, keep func(old *os.File, off int64)) (err error) {
	fi, err := root.Lstat(name)
	if err != nil {
		return fmt.Errorf("writing %q: %w", p, err)
	}
	if !fi.Mode().IsRegular() {
		return exitcode.AsRefused(fmt.Errorf("writing %q: no longer a regular file", p))
	}
	// cur is the file as it is now; kept open past the rename to see
	// appends that land in it while it is being replaced.
	cur, err := root.Open(name)
	if err != nil {
		return fmt.Errorf("writing %q: %w", p, err)
	}
	defer func() {
		if cur != nil {
			_ = cur.Close()
		}
	}()
	now, err := io.ReadAll(cur)
	if err != nil {
		return fmt.Errorf("writing %q: re-reading: %w", p, err)
	}
	busy := false // another writer was seen: check harder after the rename
	if !bytes.Equal(now, original) {
		if !bytes.HasPrefix(now, original) {
			return exitcode.AsTransient(fmt.Errorf("writing %q: %w; left as the other writer made it, re-run to pin it", p, errChanged))
		}
		// Appended meanwhile: keep the appended bytes after the rewrite.
		data = append(slices.Clip(data), now[len(original):]...)
		busy = true
	}
	var f *os.File
	var tmp string
	for range 5 {
		var b [6]byte
		_, _ = rand.Read(b[:])
		tmp = path.Join(path.Dir(name), "."+path.Base(name)+".cascade-"+hex.EncodeToString(b[:])+".tmp")
		f, err = root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("writing %q: creating a temporary file: %w", p, err)
	}
	done := false
	defer func() {
		if done {
			return
		}
		if f != nil {
			_ = f.Close()
		}
		_ = root.Remove(tmp)
	}()
	if err := f.Chmod(fi.Mode() & keptMode); err != nil {
		return fmt.Errorf("writing %q: keeping its mode: %w", p, err)
	}
	if write == nil {
		write = plainWrite
	}
	if err := write(f, data); err != nil {
		return fmt.Errorf("writing %q: %w", p, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("writing %q: syncing: %w", p, err)
	}
	err = f.Close()
	f = nil
	if err != nil {
		return fmt.Errorf("writing %q: closing: %w", p, err)
	}
	// Last look, just before the rename: appends since are carried over
	// after it (carryAppends); any other change, or another file put in
	// its place, fails this file.
	if again, err := readFrom(cur, 0); err != nil {
		return fmt.Errorf("writing %q: re-reading: %w", p, err)
	} else if !bytes.HasPrefix(again, now) {
		return exitcode.AsTransient(fmt.Errorf("writing %q: %w; left as the other writer made it, re-run to pin it", p, errChanged))
	}
	if cfi, err := cur.Stat(); err != nil {
		return fmt.Errorf("writing %q: %w", p, err)
	} else if nfi, err := root.Lstat(name); err != nil || !os.SameFile(cfi, nfi) {
		return exitcode.AsTransient(fmt.Errorf("writing %q: %w (replaced); left as the other writer made it, re-run to pin it", p, errChanged))
	}
	if runtime.GOOS == "windows" {
		// Windows cannot replace a file that is open.
		_ = cur.Close()
		cur = nil
	}
	if err := root.Rename(tmp, name); err != nil {
		return fmt.Errorf("writing %q: replacing: %w", p, err)
	}
	done = true
	if cur != nil {
		off, err := carryAppends(root, name, p, cur, int64(len(now)), busy)
		if err != nil {
			return err
		}
		if keep != nil {
			keep(cur, off)
			cur = nil
		}
	}
	return nil
}

// errChanged is a file another writer changed after cascade read it.
var errChanged = errors.New("changed by another writer since cascade read it")

// readFrom reads f from offset off to its end.
func readFrom(f *os.File, off int64) ([]byte, error) {
	var out []byte
	buf := make([]byte, 32<<10)
	for {
		n, err := f.ReadAt(buf, off)
		out = append(out, buf[:n]...)
		off += int64(n)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

// carryAppends copies to the end of name whatever was appended to the
// replaced file (old, of which off bytes were carried already) by writers
// that had it open across the rename, and returns how much of old is
// carried. When another writer was seen it keeps looking until the old
// file has been quiet for a few milliseconds.
func carryAppends(root *os.Root, name, p string, old *os.File, off int64, busy bool) (int64, error) {
	quiet := 0
	for {
		n, err := carryOnce(root, name, p, old, off)
		if err != nil {
			return off, err
		}
		if n > 0 {
			busy, quiet = true, 0
			off += n
			continue
		}
		if !busy || quiet >= 3 {
			return off, nil
		}
		quiet++
		time.Sleep(2 * time.Millisecond)
	}
}

// carryOnce appends to name what old holds past off, and says how many
// bytes that was.
func carryOnce(root *os.Root, name, p string, old *os.File, off int64) (int64, error) {
	extra, err := readFrom(old, off)
	if err != nil {
		return 0, fmt.Errorf("writing %q: re-reading the replaced file: %w", p, err)
	}
	if len(extra) == 0 {
		return 0, nil
	}
	nf, err := root.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return 0, fmt.Errorf("writing %q: carrying over %d appended bytes: %w", p, len(extra), err)
	}
	_, err = nf.Write(extra)
	if cerr := nf.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("writing %q: carrying over %d appended bytes: %w", p, len(extra), err)
	}
	return int64(len(extra)), nil
}

// replaced is a file cascade replaced, still open, watched for appends by
// writers that opened it before the rename and wrote just after.
type replaced struct {
	path string // in the workspace root
	old  *os.File
	off  int64 // bytes of old already in the new file
}

// Sweep bounds: the replaced files are watched together until they have
// all been quiet for sweepQuiet rounds sweepTick apart, for sweepMax at
// most — a constant cost per update, not per file.
const (
	sweepTick  = 5 * time.Millisecond
	sweepQuiet = 4
	sweepMax   = 2 * time.Second
)

// sweepReplaced carries over what writers appended to the replaced files
// after each one's own last look, then closes them. A writer that holds
// a replaced file open and writes after the sweep still writes into the
// replaced file: no rename-based update can see that (documented).
func sweepReplaced(root *os.Root, files []replaced) error {
	defer func() {
		for _, r := range files {
			_ = r.old.Close()
		}
	}()
	if len(files) == 0 {
		return nil
	}
	var errs []error
	deadline := time.Now().Add(sweepMax)
	for quiet := 0; quiet < sweepQuiet && time.Now().Before(deadline); {
		time.Sleep(sweepTick)
		moved := false
		for i := range files {
			r := &files[i]
			if r.old == nil {
				continue
			}
			n, err := carryOnce(root, r.path, r.path, r.old, r.off)
			if err != nil {
				errs = append(errs, err)
				_ = r.old.Close()
				r.old = nil
				continue
			}
			if n > 0 {
				r.off += n
				moved = true
			}
		}
		if moved {
			quiet = 0
		} else {
			quiet++
		}
	}
	return errors.Join(errs...)
}

func plainWrite(f *os.File, data []byte) error {
	_, err := f.Write(data)
	return err
}

// syncDir makes the rename durable where the platform allows it.
func syncDir(root *os.Root, dir string) {
	if d, err := root.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}
