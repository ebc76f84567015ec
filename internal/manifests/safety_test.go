package manifests

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/imageref"
)

const podYAML = `apiVersion: v1
kind: Pod
metadata:
  name: p
spec:
  containers:
  - name: a
    image: registry.example.com/acme/app:1.0
`

func testOptions(ws string) Options {
	return Options{Workspace: ws, Image: imageref.MustParse(defaultImage)}
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// leftovers lists files in dir other than want.
func leftovers(t *testing.T, dir string, want ...string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var extra []string
	for _, e := range entries {
		found := false
		for _, w := range want {
			found = found || e.Name() == w
		}
		if !found {
			extra = append(extra, e.Name())
		}
	}
	return extra
}

// TestR21_WriteFailureKeepsOriginal injects ENOSPC in the middle of the
// write and a crash (a panic) after half the bytes: the original stays
// byte for byte, with its mode, and no temporary file is left.
func TestR21_WriteFailureKeepsOriginal(t *testing.T) {
	t.Parallel()
	enospc := func(f *os.File, data []byte) error {
		if _, err := f.Write(data[:len(data)/2]); err != nil {
			return err
		}
		return &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
	crash := func(f *os.File, data []byte) error {
		_, _ = f.Write(data[:len(data)/2])
		panic("simulated crash mid-write")
	}
	for name, write := range map[string]func(*os.File, []byte) error{"enospc": enospc, "crash": crash} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ws := t.TempDir()
			p := filepath.Join(ws, "pod.yaml")
			if err := os.WriteFile(p, []byte(podYAML), 0o640); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, 0o640); err != nil {
				t.Fatal(err)
			}
			opts := testOptions(ws)
			opts.Write = write
			var err error
			func() {
				defer func() {
					if r := recover(); r != nil {
						err = fmt.Errorf("panic: %v", r)
					}
				}()
				_, err = Update(context.Background(), opts)
			}()
			if err == nil {
				t.Fatal("Update succeeded, want the injected failure")
			}
			if name == "enospc" && !errors.Is(err, syscall.ENOSPC) {
				t.Errorf("error %v does not wrap ENOSPC", err)
			}
			got, _ := os.ReadFile(p)
			if diff := cmp.Diff(podYAML, string(got)); diff != "" {
				t.Errorf("original changed (-want +got):\n%s", diff)
			}
			fi, _ := os.Stat(p)
			if fi.Mode().Perm() != 0o640 {
				t.Errorf("mode = %v, want 0640", fi.Mode().Perm())
			}
			if extra := leftovers(t, ws, "pod.yaml"); len(extra) > 0 {
				t.Errorf("temporary files left: %v", extra)
			}
		})
	}
}

// TestR21_SuccessfulWriteKeepsMode checks the atomic replace keeps the mode
// bits and leaves nothing behind.
func TestR21_SuccessfulWriteKeepsMode(t *testing.T) {
	t.Parallel()
	ws := t.TempDir()
	p := filepath.Join(ws, "pod.yaml")
	if err := os.WriteFile(p, []byte(podYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o751); err != nil {
		t.Fatal(err)
	}
	res, err := Update(context.Background(), testOptions(ws))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"pod.yaml"}, res.Changed()); diff != "" {
		t.Errorf("Changed (-want +got):\n%s", diff)
	}
	fi, _ := os.Stat(p)
	if fi.Mode().Perm() != 0o751 {
		t.Errorf("mode = %v, want 0751", fi.Mode().Perm())
	}
	got, _ := os.ReadFile(p)
	if want := strings.Replace(podYAML, "app:1.0", "app:1.0@"+newDigest, 1); string(got) != want {
		t.Errorf("content:\n%s\nwant:\n%s", got, want)
	}
	if extra := leftovers(t, ws, "pod.yaml"); len(extra) > 0 {
		t.Errorf("temporary files left: %v", extra)
	}
}

// TestR21_DryRunWritesNothing: a dry run reports the diff and writes nothing.
func TestR21_DryRunWritesNothing(t *testing.T) {
	t.Parallel()
	ws := t.TempDir()
	writeFiles(t, ws, map[string]string{"pod.yaml": podYAML})
	opts := testOptions(ws)
	opts.DryRun = true
	res, err := Update(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Diff(), "+    image: registry.example.com/acme/app:1.0@"+newDigest) {
		t.Errorf("Diff misses the change:\n%s", res.Diff())
	}
	got, _ := os.ReadFile(filepath.Join(ws, "pod.yaml"))
	if string(got) != podYAML {
		t.Errorf("dry run wrote the file")
	}
}

// TestR22_PathsLeavingTheWorkspace: "..", absolute paths, symlinks out of
// the workspace (final or in the middle) are refused with exit code 5
// before any write.
func TestR22_PathsLeavingTheWorkspace(t *testing.T) {
	t.Parallel()
	outside := t.TempDir()
	writeFiles(t, outside, map[string]string{"x.yaml": podYAML, "dir/app.yaml": podYAML})
	tests := []struct {
		name  string
		setup func(t *testing.T, ws string)
		paths []string
	}{
		{name: "dotdot", paths: []string{"../x.yaml"}},
		{name: "dotdot glob", paths: []string{"deploy/../../**/*.yaml"}},
		{name: "absolute", paths: []string{"/etc/x.yaml"}},
		{name: "absolute outside", paths: []string{filepath.Join(outside, "x.yaml")}},
		{name: "final symlink, default set", setup: func(t *testing.T, ws string) {
			symlink(t, filepath.Join(outside, "x.yaml"), filepath.Join(ws, "link.yaml"))
		}},
		{name: "final symlink, literal path", paths: []string{"link.yaml"}, setup: func(t *testing.T, ws string) {
			symlink(t, filepath.Join(outside, "x.yaml"), filepath.Join(ws, "link.yaml"))
		}},
		{name: "relative symlink", paths: []string{"**/*.yaml"}, setup: func(t *testing.T, ws string) {
			rel, _ := filepath.Rel(ws, filepath.Join(outside, "x.yaml"))
			symlink(t, rel, filepath.Join(ws, "rel.yaml"))
		}},
		{name: "symlinked folder in the middle, literal path", paths: []string{"deploy/dir/app.yaml"}, setup: func(t *testing.T, ws string) {
			_ = os.Mkdir(filepath.Join(ws, "deploy"), 0o755)
			symlink(t, outside, filepath.Join(ws, "deploy", "dir"))
		}},
		{name: "symlinked folder in the middle, glob", paths: []string{"deploy/**/*.yaml"}, setup: func(t *testing.T, ws string) {
			_ = os.Mkdir(filepath.Join(ws, "deploy"), 0o755)
			symlink(t, outside, filepath.Join(ws, "deploy", "dir"))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ws := t.TempDir()
			writeFiles(t, ws, map[string]string{"a/pod.yaml": podYAML})
			if tt.setup != nil {
				tt.setup(t, ws)
			}
			opts := testOptions(ws)
			opts.Paths = tt.paths
			if len(tt.paths) > 0 {
				opts.Paths = append([]string{"a/pod.yaml"}, tt.paths...)
			}
			_, err := Update(context.Background(), opts)
			if got := exitcode.Of(err); got != exitcode.Refused {
				t.Fatalf("exit code %d (%v), want %d", got, err, exitcode.Refused)
			}
			if got, _ := os.ReadFile(filepath.Join(ws, "a/pod.yaml")); string(got) != podYAML {
				t.Errorf("a file inside the workspace was written before the refusal")
			}
			if got, _ := os.ReadFile(filepath.Join(outside, "x.yaml")); string(got) != podYAML {
				t.Errorf("the file outside the workspace was written")
			}
		})
	}
}

// TestR22_FinalSymlinkNeverFollowedOnWrite: a symlink to a file inside the
// workspace is left a symlink; its target is pinned under its own path.
func TestR22_FinalSymlinkNeverFollowedOnWrite(t *testing.T) {
	t.Parallel()
	ws := t.TempDir()
	writeFiles(t, ws, map[string]string{"real/pod.yaml": podYAML})
	symlink(t, filepath.Join("real", "pod.yaml"), filepath.Join(ws, "link.yaml"))
	res, err := Update(context.Background(), testOptions(ws))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"real/pod.yaml"}, res.Changed()); diff != "" {
		t.Errorf("Changed (-want +got):\n%s", diff)
	}
	fi, err := os.Lstat(filepath.Join(ws, "link.yaml"))
	if err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("link.yaml is no longer a symlink (%v, %v)", fi, err)
	}
	var skipped bool
	for _, f := range res.Files {
		skipped = skipped || f.Path == "link.yaml" && len(f.Skipped) == 1
	}
	if !skipped {
		t.Errorf("link.yaml not reported as skipped: %+v", res.Files)
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Skipf("symlinks unavailable: %v", err)
	}
}

// TestR23_HostileYAML: each hostile file is handled within fixed bounds
// of time and memory, without a panic, and is never modified. Explicitly
// selected, it is refused as invalid (exit code 2) and nothing is written,
// not even the other selected files; in the default file set it is
// skipped (reported when it might name the image, R41) and the other
// files are pinned.
func TestR23_HostileYAML(t *testing.T) {
	t.Parallel()
	var laughs strings.Builder
	laughs.WriteString("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n")
	for i := 'b'; i <= 'i'; i++ {
		fmt.Fprintf(&laughs, "%c: &%c [*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	tests := map[string]string{
		"billion-laughs.yaml": laughs.String(),
		"big.yaml":            "a: " + strings.Repeat("x", 50<<20) + "\n",
		"flow-depth.yaml":     strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + "\n",
		"block-depth.yaml":    strings.Repeat("- ", 10000) + "x\n",
		"map-depth.yaml":      strings.Repeat("a: {", 5000) + "b: c" + strings.Repeat("}", 5000) + "\n",
		"documents.yaml":      strings.Repeat("---\na: b\n", 10000),
		"duplicate-keys.yaml": "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: a\n    image: registry.example.com/acme/app:1.0\n    image: registry.example.com/acme/app:1.0\n",
		"alias-cycle.yaml":    "a: &a [*a]\n",
		"utf16.yaml":          "\xff\xfea\x00:\x00 \x00b\x00\n\x00",
	}
	for name, content := range tests {
		for _, selected := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/selected=%v", name, selected), func(t *testing.T) { // serial: the time bound is for one file at a time
				ws := t.TempDir()
				writeFiles(t, ws, map[string]string{name: content, "ok/pod.yaml": podYAML})
				opts := testOptions(ws)
				if selected {
					opts.Paths = []string{name, "ok/pod.yaml"}
				}
				var before runtime.MemStats
				runtime.ReadMemStats(&before)
				start := time.Now()
				res, err := Update(context.Background(), opts)
				elapsed := time.Since(start)
				var after runtime.MemStats
				runtime.ReadMemStats(&after)
				if err != nil {
					t.Fatalf("Update: %v", err)
				}
				wantCode, wantPod := exitcode.OK, podYAML
				if selected {
					wantCode = exitcode.Invalid
				} else {
					wantPod = strings.Replace(podYAML, "app:1.0", "app:1.0@"+newDigest, 1)
				}
				if got := exitcode.Of(res.Err()); got != wantCode {
					t.Errorf("exit code %d (%v), want %d", got, res.Err(), wantCode)
				}
				if got, _ := os.ReadFile(filepath.Join(ws, "ok/pod.yaml")); string(got) != wantPod {
					t.Errorf("ok/pod.yaml is\n%s\nwant\n%s", got, wantPod)
				}
				if selected && res.NotWritten == "" {
					t.Errorf("NotWritten is empty")
				}
				if elapsed > time.Second {
					t.Errorf("took %v, want well under a second", elapsed)
				}
				// Other tests run in parallel, so this is a loose bound.
				if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 512<<20 {
					t.Errorf("allocated %d MiB", alloc>>20)
				}
				if got, _ := os.ReadFile(filepath.Join(ws, name)); string(got) != content {
					t.Errorf("hostile file was modified")
				}
			})
		}
	}
}
