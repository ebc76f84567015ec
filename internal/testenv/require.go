package testenv

import (
	"os"
	"os/exec"
	"strconv"
	"testing"
)

// installHints names the Debian package that provides each binary the
// harness uses.
var installHints = map[string]string{
	"docker-registry": "docker-registry",
	"buildah":         "buildah",
	"busybox":         "busybox-static",
	"jq":              "jq",
	"dot":             "graphviz",
}

// Require returns the path of binary on PATH. When it is missing, the test
// fails if the CI environment variable is true and is skipped otherwise; the
// message says how to install it.
func Require(t testing.TB, binary string) string {
	t.Helper()
	path, err := exec.LookPath(binary)
	if err == nil {
		return path
	}
	missing(t, "%s not found on PATH (%v): %s", binary, err, installHint(binary))
	return ""
}

// missing reports a missing or unusable real component: a failure in CI, a
// skip elsewhere.
func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatalf("real component missing in CI: "+format, args...)
		return
	}
	t.Skipf(format, args...)
}

// InCI reports whether the CI environment variable is set to a true value
// ("true", "1", ...), as GitHub Actions and most CI systems do.
func InCI() bool {
	ci, err := strconv.ParseBool(os.Getenv("CI"))
	return err == nil && ci
}

func installHint(binary string) string {
	pkg, ok := installHints[binary]
	if !ok {
		return "install it and put it on PATH"
	}
	return "run .ci/install-deps as root (or apt-get install -y " + pkg + ")"
}
