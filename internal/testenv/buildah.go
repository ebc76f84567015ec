package testenv

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imagecascade/cascade/internal/imageref"
)

// CommandTimeout bounds every buildah command the harness runs. The builds
// the tests make take about a second; the bound only stops a hung build.
const CommandTimeout = 2 * time.Minute

// waitDelay bounds how long a killed buildah's children may keep its output
// pipe open.
const waitDelay = 5 * time.Second

// Buildah runs buildah against private storage under t.TempDir(): the vfs
// storage driver, chroot isolation, its own registries.conf, storage.conf,
// containers.conf and an accept-anything signature policy, so neither the
// host's container configuration nor its image store is read or changed.
type Buildah struct {
	t       testing.TB // for BuildBase's Require and TempDir
	bin     string
	dir     string // everything below belongs to this Buildah
	root    string // --root: images and layers
	runroot string // --runroot: locks and state
	tmp     string // TMPDIR: blobs being copied
	env     []string

	policy string // --signature-policy file

	cleanupOnce sync.Once
	cleanupErr  error
}

// BuildOptions are the optional settings of [Buildah.Build].
type BuildOptions struct {
	// Format is the manifest and config format: "oci" (the default) or
	// "docker". Only OCI images carry the org.opencontainers.image.base.*
	// annotations.
	Format string
	// BuildArgs are passed as --build-arg KEY=VALUE, in key order.
	BuildArgs map[string]string
	// Dockerfile is the Dockerfile to build, relative to the context
	// directory unless absolute; "" means contextDir/Dockerfile.
	Dockerfile string
	// Platform is passed as --platform (e.g. "linux/amd64") when set. RUN
	// steps for a foreign architecture need emulation this harness lacks.
	Platform string
}

// NewBuildah returns a Buildah with fresh private storage. Cleanup, removing
// the storage, is registered with t.
func NewBuildah(t testing.TB) *Buildah {
	t.Helper()
	bin := Require(t, "buildah")
	b, err := newBuildah(bin, t.TempDir())
	if err != nil {
		t.Fatalf("setting up buildah: %v", err)
	}
	b.t = t
	// Registered after t.TempDir, so it runs before the directory's removal
	// and leaves it removable.
	t.Cleanup(func() {
		if err := b.Cleanup(); err != nil {
			t.Errorf("cleaning up buildah storage: %v", err)
		}
	})
	return b
}

// OpenBuildah is NewBuildah outside a test (a benchmark): buildah from
// PATH, fresh private storage in dir. The caller calls Cleanup.
func OpenBuildah(dir string) (*Buildah, error) {
	bin, err := exec.LookPath("buildah")
	if err != nil {
		return nil, fmt.Errorf("buildah not found on PATH (%w): %s", err, installHint("buildah"))
	}
	return newBuildah(bin, dir)
}

// PushOCI writes the local image tag to dir as an OCI image layout, with
// its layers compressed as a push to a registry compresses them.
func (b *Buildah) PushOCI(ctx context.Context, tag, dir string) error {
	if _, err := b.run(ctx, "push", "--signature-policy", b.policy, "--retry", "0", tag, "oci:"+dir); err != nil {
		return fmt.Errorf("pushing %s to %s: %w", tag, dir, err)
	}
	return nil
}

func newBuildah(bin, dir string) (*Buildah, error) {
	b := &Buildah{
		bin:     bin,
		dir:     dir,
		root:    filepath.Join(dir, "root"),
		runroot: filepath.Join(dir, "runroot"),
		tmp:     filepath.Join(dir, "tmp"),
		policy:  filepath.Join(dir, "policy.json"),
	}
	for _, d := range []string{b.root, b.runroot, b.tmp} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("creating %s: %w", d, err)
		}
	}
	storageConf := filepath.Join(dir, "storage.conf")
	registriesConf := filepath.Join(dir, "registries.conf")
	containersConf := filepath.Join(dir, "containers.conf")
	files := map[string]string{
		b.policy: `{"default":[{"type":"insecureAcceptAnything"}]}` + "\n",
		storageConf: fmt.Sprintf("[storage]\ndriver = \"vfs\"\ngraphroot = %q\nrunroot = %q\n",
			b.root, b.runroot),
		// Fully qualified references only: nothing is resolved against
		// docker.io or the host's search list.
		registriesConf: "unqualified-search-registries = []\nshort-name-mode = \"enforcing\"\n",
		containersConf: "[engine]\n",
	}
	for path, content := range files {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			return nil, fmt.Errorf("writing %s: %w", path, err)
		}
	}
	b.env = append(hostEnv(),
		"CONTAINERS_STORAGE_CONF="+storageConf,
		"CONTAINERS_REGISTRIES_CONF="+registriesConf,
		"CONTAINERS_CONF="+containersConf,
		"TMPDIR="+b.tmp,
	)
	return b, nil
}

// hostEnv is the environment without the variables through which buildah
// and containers/* would read settings other than the ones given here.
func hostEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool {
		for _, p := range []string{"BUILDAH_", "CONTAINERS_", "STORAGE_", "REGISTRY_AUTH_FILE=", "TMPDIR="} {
			if strings.HasPrefix(kv, p) {
				return true
			}
		}
		return false
	})
}

// Build builds contextDir with buildah (chroot isolation, --pull=always so
// base images are read from their registry over plain HTTP) and tags the
// result tag. Bases must be in a registry: a FROM naming an image that is
// only in local storage fails. (Built on a local-only base, buildah would
// record the local manifest digest, which no registry serves, as
// org.opencontainers.image.base.digest.)
func (b *Buildah) Build(ctx context.Context, contextDir, tag string, opts BuildOptions) error {
	format := opts.Format
	switch format {
	case "":
		format = "oci"
	case "oci", "docker":
	default:
		return fmt.Errorf("building %s: format %q is neither \"oci\" nor \"docker\"", tag, format)
	}
	args := []string{"build",
		"--isolation", "chroot",
		"--format", format,
		"--pull=always",
		"--tls-verify=false",
		"--signature-policy", b.policy,
		"--retry", "0",
		"--layers=false",
		"--tag", tag,
	}
	if opts.Dockerfile != "" {
		df := opts.Dockerfile
		if !filepath.IsAbs(df) {
			df = filepath.Join(contextDir, df)
		}
		args = append(args, "--file", df)
	}
	for _, k := range slices.Sorted(maps.Keys(opts.BuildArgs)) {
		args = append(args, "--build-arg", k+"="+opts.BuildArgs[k])
	}
	if opts.Platform != "" {
		args = append(args, "--platform", opts.Platform)
	}
	args = append(args, contextDir)
	if _, err := b.run(ctx, args...); err != nil {
		return fmt.Errorf("building %s from %s: %w", tag, contextDir, err)
	}
	return nil
}

// Push pushes the local image tag to the registry reference dest (no
// transport prefix; "" means tag itself) over plain HTTP and returns the
// digest of the manifest as pushed, the digest a registry HEAD on dest
// answers.
func (b *Buildah) Push(ctx context.Context, tag, dest string) (string, error) {
	if dest == "" {
		dest = tag
	}
	f, err := os.CreateTemp(b.tmp, "digest-")
	if err != nil {
		return "", fmt.Errorf("pushing %s: creating digest file: %w", tag, err)
	}
	digestFile := f.Name()
	f.Close()
	defer os.Remove(digestFile)

	if _, err := b.run(ctx, "push",
		"--tls-verify=false",
		"--signature-policy", b.policy,
		"--retry", "0",
		"--digestfile", digestFile,
		tag, "docker://"+dest,
	); err != nil {
		return "", fmt.Errorf("pushing %s to %s: %w", tag, dest, err)
	}
	raw, err := os.ReadFile(digestFile)
	if err != nil {
		return "", fmt.Errorf("pushing %s to %s: reading digest file: %w", tag, dest, err)
	}
	d, err := imageref.ParseDigest(strings.TrimSpace(string(raw)))
	if err != nil {
		return "", fmt.Errorf("pushing %s to %s: digest file: %w", tag, dest, err)
	}
	return d.String(), nil
}

// Cleanup removes every container and image and then the storage itself.
// vfs layers contain read-only directories, which are made writable first
// so the removal also works without root. NewBuildah registers it with the
// test; calling it again does nothing.
func (b *Buildah) Cleanup() error {
	b.cleanupOnce.Do(func() {
		ctx := context.Background()
		var errs []error
		// Best effort: what these miss, the removal below still gets.
		if _, err := b.run(ctx, "rm", "--all"); err != nil {
			errs = append(errs, err)
		}
		if _, err := b.run(ctx, "rmi", "--all", "--force"); err != nil {
			errs = append(errs, err)
		}
		if err := removeAll(b.dir); err != nil {
			// Only a failed removal is an error; the commands above were
			// the gentle way.
			b.cleanupErr = errors.Join(append([]error{err}, errs...)...)
		}
	})
	return b.cleanupErr
}

// removeAll removes the contents of dir (not dir itself, which belongs to
// t.TempDir), making read-only directories writable on the way.
func removeAll(dir string) error {
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(path, 0o700)
		}
		return nil
	})
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("removing %s: %w", dir, err)
	}
	var errs []error
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// run runs one buildah command against this storage, bounded by
// CommandTimeout, and returns its combined output, which also goes into the
// error.
func (b *Buildah) run(ctx context.Context, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, CommandTimeout)
	defer cancel()
	full := append([]string{"--root", b.root, "--runroot", b.runroot, "--storage-driver", "vfs"}, args...)
	cmd := exec.CommandContext(ctx, b.bin, full...)
	cmd.Env = b.env
	cmd.Dir = b.dir
	cmd.WaitDelay = waitDelay
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
			err = fmt.Errorf("%w (%w)", err, ctxErr)
		}
		return out, fmt.Errorf("buildah %s: %w; output:\n%s", strings.Join(args, " "), err, out)
	}
	return out, nil
}
