package testenv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteBaseContext(t *testing.T) {
	t.Parallel()
	busybox := Require(t, "busybox")
	dir := t.TempDir()
	if err := WriteBaseContext(dir, busybox); err != nil {
		t.Fatalf("WriteBaseContext: %v", err)
	}
	df, err := os.ReadFile(filepath.Join(dir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(df), "FROM scratch\n") {
		t.Errorf("Dockerfile does not start FROM scratch:\n%s", df)
	}
	fi, err := os.Stat(filepath.Join(dir, "busybox"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm()&0o111 == 0 {
		t.Errorf("busybox mode %v, want executable", fi.Mode())
	}
}

func TestWriteBaseContextRefusesDynamicBinary(t *testing.T) {
	t.Parallel()
	// /bin/sh is dynamically linked on Debian: it would not run in a FROM
	// scratch image.
	err := WriteBaseContext(t.TempDir(), "/bin/sh")
	if err == nil || !strings.Contains(err.Error(), "dynamically linked") {
		t.Errorf("WriteBaseContext(/bin/sh) = %v, want a dynamically-linked error", err)
	}
}
