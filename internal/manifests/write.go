package manifests

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"

	"github.com/imagecascade/cascade/internal/exitcode"
)

// keptMode are the mode bits a rewrite keeps.
const keptMode = fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky

// writeAtomic replaces name in root (p in the workspace, for messages)
// with data: a temporary file in the same folder, written, synced and
// renamed over name, with name's mode bits. On any failure, even a panic in
// write, the temporary file is removed and name is untouched. The rename
// replaces a symbolic link rather than following it, and name is checked
// not to be one just before. The caller syncs the folder (syncDir) once
// after its renames.
func writeAtomic(root *os.Root, name, p string, data []byte, write func(*os.File, []byte) error) (err error) {
	fi, err := root.Lstat(name)
	if err != nil {
		return fmt.Errorf("writing %q: %w", p, err)
	}
	if !fi.Mode().IsRegular() {
		return exitcode.AsRefused(fmt.Errorf("writing %q: no longer a regular file", p))
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
	if err := root.Rename(tmp, name); err != nil {
		return fmt.Errorf("writing %q: replacing: %w", p, err)
	}
	done = true
	return nil
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
