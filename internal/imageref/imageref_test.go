package imageref

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const (
	hexA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	hexB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want Ref
	}{
		{"nginx", Ref{WrittenName: "nginx", Registry: "docker.io", Repository: "library/nginx"}},
		{"library/nginx:1.25", Ref{WrittenName: "library/nginx", Registry: "docker.io", Repository: "library/nginx", Tag: "1.25"}},
		{"docker.io/library/nginx", Ref{WrittenName: "docker.io/library/nginx", Registry: "docker.io", Repository: "library/nginx"}},
		{"index.docker.io/library/nginx", Ref{WrittenName: "index.docker.io/library/nginx", Registry: "docker.io", Repository: "library/nginx"}},
		{"host:5000/app:v1", Ref{WrittenName: "host:5000/app", Registry: "host:5000", Repository: "app", Tag: "v1"}},
		{"localhost/app", Ref{WrittenName: "localhost/app", Registry: "localhost", Repository: "app"}},
		{"Registry.Example.com/acme/app-a:latest@sha256:" + hexA, Ref{WrittenName: "Registry.Example.com/acme/app-a", Registry: "registry.example.com", Repository: "acme/app-a", Tag: "latest", Digest: Digest("sha256:" + hexA)}},
		{"quay.io/centos/centos@sha256:" + hexB, Ref{WrittenName: "quay.io/centos/centos", Registry: "quay.io", Repository: "centos/centos", Digest: Digest("sha256:" + hexB)}},
		{"[::1]:5000/a/b", Ref{WrittenName: "[::1]:5000/a/b", Registry: "[::1]:5000", Repository: "a/b"}},
		{"127.0.0.1:5000/shifts_api", Ref{WrittenName: "127.0.0.1:5000/shifts_api", Registry: "127.0.0.1:5000", Repository: "shifts_api"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			tt.want.Original = tt.in
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

// TestR05_BadDigestsAndRefs: malformed digests and references are refused at
// parse time with an error that wraps ErrInvalid.
func TestR05_BadDigestsAndRefs(t *testing.T) {
	t.Parallel()
	bad := []string{
		"repo@sha256:::" + hexA[:61],
		"repo@sha256:" + hexA[:63],
		"repo@sha256:" + hexA + "a",
		"repo@sha256:" + strings.ToUpper(hexA),
		"repo@md5:d41d8cd98f00b204e9800998ecf8427e",
		"repo:sha256:" + hexA,
		"repo@" + hexA,
		"",
		"acme/UPPER",
		"repo:",
		"repo:-bad",
		"a//b",
		"repo name",
		"repo\n:tag",
		"/repo",
		"repo/",
		":tag",
		"@sha256:" + hexA,
	}
	for _, in := range bad {
		t.Run(fmt.Sprintf("%q", in), func(t *testing.T) {
			t.Parallel()
			_, err := Parse(in)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse(%q) = %v, want ErrInvalid", in, err)
			}
		})
	}
	for _, d := range []string{"sha256:" + hexA[:63], "sha256:" + strings.ToUpper(hexA), "md5:abc", "sha256" + hexA, "sha512:" + hexA + hexA} {
		if _, err := ParseDigest(d); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseDigest(%q) = %v, want ErrInvalid", d, err)
		}
	}
	if _, err := ParseDigest("sha256:" + hexA); err != nil {
		t.Errorf("ParseDigest(valid) = %v", err)
	}
}

// TestR06_NameBoundaries: repositories match only on exact normalized names.
func TestR06_NameBoundaries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b string
		same bool
	}{
		{"app", "app-api", false},
		{"app", "app", true},
		{"shifts", "shifts_api", false},
		{"nginx", "library/nginx", true},
		{"nginx", "docker.io/library/nginx", true},
		{"nginx", "index.docker.io/library/nginx:1", true},
		{"nginx", "registry-1.docker.io/library/nginx", true},
		{"nginx", "quay.io/nginx", false},
		{"host:5000/app", "host/app", false},
		{"host:5000/app", "host:5000/app:v2", true},
		{"host:5000/app", "host:5001/app", false},
		{"acme/app", "acme/app/sub", false},
		{"acme/app", "other/acme/app", false},
	}
	for _, tt := range tests {
		a, b := MustParse(tt.a), MustParse(tt.b)
		if got := a.SameRepository(b); got != tt.same {
			t.Errorf("SameRepository(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.same)
		}
		if got := b.SameRepository(a); got != tt.same {
			t.Errorf("SameRepository(%q, %q) = %v, want %v (symmetry)", tt.b, tt.a, got, tt.same)
		}
	}
}

func TestTracks(t *testing.T) {
	t.Parallel()
	updated := MustParse("registry.example.com/acme/httpd-base:latest@sha256:" + hexB)
	tests := []struct {
		ref  string
		want bool
	}{
		{"registry.example.com/acme/httpd-base", true},
		{"registry.example.com/acme/httpd-base:latest", true},
		{"registry.example.com/acme/httpd-base:latest@sha256:" + hexA, true},
		{"registry.example.com/acme/httpd-base@sha256:" + hexA, true},
		{"registry.example.com/acme/httpd-base:v2", false},
		{"registry.example.com/acme/httpd-base:v2@sha256:" + hexA, false},
		{"registry.example.com/acme/httpd-base-x", false},
		{"registry.example.com/acme/httpd", false},
	}
	for _, tt := range tests {
		if got := MustParse(tt.ref).Tracks(updated); got != tt.want {
			t.Errorf("%q.Tracks(%q) = %v, want %v", tt.ref, updated.Original, got, tt.want)
		}
	}
	noTag := MustParse("registry.example.com/acme/httpd-base@sha256:" + hexB)
	if !MustParse("registry.example.com/acme/httpd-base:v9").Tracks(noTag) {
		t.Error("an update without a tag should be tracked by every tag of the repository")
	}
}

func TestWithDigestKeepsSpelling(t *testing.T) {
	t.Parallel()
	d := Digest("sha256:" + hexB)
	tests := map[string]string{
		"nginx":      "nginx@" + string(d),
		"nginx:1.25": "nginx:1.25@" + string(d),
		"docker.io/library/nginx:1.25@sha256:" + hexA: "docker.io/library/nginx:1.25@" + string(d),
		"host:5000/app@sha256:" + hexA:                "host:5000/app@" + string(d),
	}
	for in, want := range tests {
		if got := MustParse(in).WithDigest(d); got != want {
			t.Errorf("WithDigest(%q) = %q, want %q", in, got, want)
		}
	}
}

func ExampleParse() {
	r, _ := Parse("nginx:1.25")
	fmt.Println(r.Name(), r.Tag)
	// Output: docker.io/library/nginx 1.25
}

// TestNonASCIIIsNamedAsSuch: a non-ASCII letter is not called whitespace.
func TestNonASCIIIsNamedAsSuch(t *testing.T) {
	t.Parallel()
	_, err := Parse("ngïnx:latest")
	if err == nil || !strings.Contains(err.Error(), "non-ASCII") || strings.Contains(err.Error(), "whitespace") {
		t.Errorf("error = %v", err)
	}
}
