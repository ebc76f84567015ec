package testenv

import (
	"context"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// baseDockerfile builds the stand-in base: a static busybox and its applets
// as symlinks in /bin, so dependents can RUN shell commands.
const baseDockerfile = `FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "sh", "-c", "/bin/busybox --install -s /bin && mkdir -p /etc /root /tmp && chmod 1777 /tmp"]
CMD ["/bin/sh"]
`

// WriteBaseContext writes into dir a build context for a tiny base image
// that stands in for images like centos:7 without any download: FROM
// scratch, the static busybox at busyboxPath as /bin/busybox, and its
// applets (sh, echo, cat, ...) installed as symlinks. busyboxPath must be a
// statically linked executable: the image has no libc.
func WriteBaseContext(dir, busyboxPath string) error {
	if err := checkStatic(busyboxPath); err != nil {
		return err
	}
	if err := copyFile(busyboxPath, filepath.Join(dir, "busybox"), 0o755); err != nil {
		return fmt.Errorf("writing base context: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(baseDockerfile), 0o644); err != nil {
		return fmt.Errorf("writing base context: %w", err)
	}
	return nil
}

// BuildBase builds the stand-in base image (see [WriteBaseContext]) from
// the busybox on PATH and tags it tag. Push it to a [Registry] under the name
// the dependents' FROM lines use, e.g. HOST/centos:7.
func (b *Buildah) BuildBase(ctx context.Context, tag string) error {
	t := b.t
	t.Helper()
	busybox := Require(t, "busybox")
	if err := checkStatic(busybox); err != nil {
		missing(t, "%v: %s", err, installHint("busybox"))
		return err
	}
	dir := t.TempDir()
	if err := WriteBaseContext(dir, busybox); err != nil {
		return err
	}
	return b.Build(ctx, dir, tag, BuildOptions{})
}

// checkStatic reports an error unless path is an ELF executable without a
// dynamic loader (Debian's busybox-static, not the dynamic busybox).
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("checking %s is a static executable: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked; the base image needs a static busybox", path)
		}
	}
	return nil
}

func copyFile(src, dst string, mode os.FileMode) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
	}()
	_, err = io.Copy(out, in)
	return err
}
