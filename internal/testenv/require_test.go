package testenv

import (
	"fmt"
	"strings"
	"testing"
)

// fakeTB records Fatalf and Skipf instead of ending the test. Other testing.TB
// methods are not used by Require and would panic on the nil embedded TB.
type fakeTB struct {
	testing.TB
	fatal, skip string
}

func (f *fakeTB) Helper()                        {}
func (f *fakeTB) Fatalf(format string, a ...any) { f.fatal = fmt.Sprintf(format, a...) }
func (f *fakeTB) Skipf(format string, a ...any)  { f.skip = fmt.Sprintf(format, a...) }

// Not parallel: the cases set the process-wide CI variable.
func TestRequire(t *testing.T) {
	tests := []struct {
		name      string
		ci        string
		binary    string
		wantPath  bool
		wantFatal string // substring; "" means no Fatalf
		wantSkip  string // substring; "" means no Skipf
	}{
		{name: "present", ci: "true", binary: "sh", wantPath: true},
		{name: "missing in CI fails", ci: "true", binary: "cascade-no-such-tool",
			wantFatal: "real component missing in CI: cascade-no-such-tool not found"},
		{name: "missing in CI=1 fails", ci: "1", binary: "buildah-no-such",
			wantFatal: "install it and put it on PATH"},
		{name: "missing locally skips", ci: "", binary: "cascade-no-such-tool",
			wantSkip: "cascade-no-such-tool not found on PATH"},
		{name: "missing with CI=false skips", ci: "false", binary: "cascade-no-such-tool",
			wantSkip: "not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("CI", tt.ci)
			f := &fakeTB{}
			path := Require(f, tt.binary)
			if got := path != ""; got != tt.wantPath {
				t.Errorf("Require(%q) = %q, want a path: %v", tt.binary, path, tt.wantPath)
			}
			check := func(what, got, want string) {
				t.Helper()
				if (want == "") != (got == "") || !strings.Contains(got, want) {
					t.Errorf("%s = %q, want it to contain %q", what, got, want)
				}
			}
			check("Fatalf message", f.fatal, tt.wantFatal)
			check("Skipf message", f.skip, tt.wantSkip)
		})
	}
}

func TestInstallHint(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"docker-registry": "apt-get install -y docker-registry",
		"buildah":         "apt-get install -y buildah",
		"busybox":         "apt-get install -y busybox-static",
		"other":           "install it and put it on PATH",
	}
	for bin, want := range tests {
		if got := installHint(bin); !strings.Contains(got, want) {
			t.Errorf("installHint(%q) = %q, want it to contain %q", bin, got, want)
		}
	}
}
