package b1

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	udiff "github.com/aymanbagabas/go-udiff"
)

// Correctness compares a tool's output tree with the original and the
// expected trees.
type Correctness struct {
	// FilesChanged and BytesChanged measure the output against the
	// original.
	FilesChanged, BytesChanged int
	// Missed counts files that should have changed and did not.
	Missed int
	// Wrong counts files that changed, but not into the expected bytes
	// (reformatted, or a value that should not have moved).
	Wrong int
	// BytesOff is the byte difference between the wrong files and their
	// expected content.
	BytesOff int
	// Extra counts files in the output that the original does not have
	// (temporary files left behind).
	Extra int
}

// OnlyValues reports whether the output is exactly the expected tree.
func (c Correctness) OnlyValues() bool { return c.Missed == 0 && c.Wrong == 0 && c.Extra == 0 }

// changedBytes is the size of a byte diff between a and b: for each edit of
// a minimal-ish byte-level diff, the larger of the bytes removed and the
// bytes inserted.
func changedBytes(a, b []byte) int {
	if bytes.Equal(a, b) {
		return 0
	}
	n := 0
	for _, e := range udiff.Bytes(a, b) {
		n += max(e.End-e.Start, len(e.New))
	}
	return n
}

// Compare judges the tree got against original and expected, which must
// hold the same files (a file missing from got counts as wrong).
func Compare(original, expected, got string) (Correctness, error) {
	var c Correctness
	err := filepath.WalkDir(original, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(original, p)
		if err != nil {
			return err
		}
		orig, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		want, err := os.ReadFile(filepath.Join(expected, rel))
		if err != nil {
			return err
		}
		out, err := os.ReadFile(filepath.Join(got, rel))
		if err != nil {
			c.Wrong++
			c.BytesOff += len(want)
			return nil
		}
		if !bytes.Equal(orig, out) {
			c.FilesChanged++
			c.BytesChanged += changedBytes(orig, out)
		}
		switch {
		case bytes.Equal(out, want):
		case bytes.Equal(out, orig):
			c.Missed++
		default:
			c.Wrong++
			c.BytesOff += changedBytes(want, out)
		}
		return nil
	})
	if err == nil {
		err = filepath.WalkDir(got, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, err := filepath.Rel(got, p)
			if err != nil {
				return err
			}
			if _, err := os.Lstat(filepath.Join(original, rel)); err != nil {
				c.Extra++
			}
			return nil
		})
	}
	if err != nil {
		return c, fmt.Errorf("comparing %s with %s: %w", got, expected, err)
	}
	return c, nil
}
