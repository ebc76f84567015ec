package manifests

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imagecascade/cascade/internal/exitcode"
)

// TestR37_WriteAtomicChecksBytesBeforeRename: another writer changes the
// file between cascade's read and its rename (simulated from inside the
// temporary file's write). Appends are kept after cascade's rewrite; any
// other change fails that file and leaves the other writer's bytes.
func TestR37_WriteAtomicChecksBytesBeforeRename(t *testing.T) {
	t.Parallel()
	const original, updated = "image: app:1\n", "image: app:1@sha256:abc\n"
	tests := []struct {
		name     string
		meddle   func(t *testing.T, file string) // runs during the write
		want     string
		wantCode int // 0: success
	}{
		{name: "nobody else", meddle: func(*testing.T, string) {}, want: updated},
		{name: "appended before the rename", meddle: func(t *testing.T, file string) {
			appendTo(t, file, "# one\n")
			appendTo(t, file, "# two\n")
		}, want: updated + "# one\n# two\n"},
		{name: "rewritten in place", meddle: func(t *testing.T, file string) {
			if err := os.WriteFile(file, []byte("image: app:2\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, want: "image: app:2\n", wantCode: exitcode.Transient},
		{name: "replaced by rename", meddle: func(t *testing.T, file string) {
			tmp := file + ".editor"
			if err := os.WriteFile(tmp, []byte(original+"# editor\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, file); err != nil {
				t.Fatal(err)
			}
		}, want: original + "# editor\n", wantCode: exitcode.Transient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			file := filepath.Join(dir, "app.yaml")
			if err := os.WriteFile(file, []byte(original), 0o644); err != nil {
				t.Fatal(err)
			}
			root, err := os.OpenRoot(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer root.Close()
			err = writeAtomic(root, "app.yaml", "app.yaml", []byte(original), []byte(updated), func(f *os.File, data []byte) error {
				tt.meddle(t, file)
				_, err := f.Write(data)
				return err
			})
			if tt.wantCode == 0 && err != nil {
				t.Fatalf("writeAtomic: %v", err)
			}
			if tt.wantCode != 0 && (exitcode.Of(err) != tt.wantCode || !errors.Is(err, errChanged)) {
				t.Fatalf("writeAtomic = %v (code %d), want errChanged, code %d", err, exitcode.Of(err), tt.wantCode)
			}
			got, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("file (-want +got):\n%s", diff)
			}
			if left, _ := filepath.Glob(filepath.Join(dir, ".*.tmp")); len(left) != 0 {
				t.Errorf("temporary files left: %v", left)
			}
		})
	}
}

func appendTo(t *testing.T, file, s string) {
	t.Helper()
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

// TestR37_AppendJustAfterTheRenameIsCarriedOver: a writer that opened the
// file before cascade replaced it and writes only after cascade's own last
// look at it (the replaced file's last check) still has its bytes in the
// new file: the sweep that follows all the renames carries them over.
func TestR37_AppendJustAfterTheRenameIsCarriedOver(t *testing.T) {
	t.Parallel()
	const original, updated = "image: app:1\n", "image: app:1@sha256:abc\n"
	dir := t.TempDir()
	file := filepath.Join(dir, "app.yaml")
	if err := os.WriteFile(file, []byte(original), 0o644); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	// The other writer opens the file before cascade replaces it.
	w, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var kept []replaced
	if err := writeAtomicKeep(root, "app.yaml", "app.yaml", []byte(original), []byte(updated), nil, func(old *os.File, off int64) {
		kept = append(kept, replaced{path: "app.yaml", old: old, off: off})
	}); err != nil {
		t.Fatalf("writeAtomicKeep: %v", err)
	}
	if len(kept) != 1 {
		t.Fatalf("%d replaced files kept, want 1", len(kept))
	}
	// ... and writes after cascade's rename and its last look.
	if _, err := w.WriteString("# late\n"); err != nil {
		t.Fatal(err)
	}
	if err := sweepReplaced(root, kept); err != nil {
		t.Fatalf("sweepReplaced: %v", err)
	}
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(updated+"# late\n", string(got)); diff != "" {
		t.Errorf("file (-want +got):\n%s", diff)
	}
}
