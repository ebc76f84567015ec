package writeback_test

import (
	"fmt"
	"testing"

	"github.com/imagecascade/cascade/internal/writeback"
)

func TestBranchName(t *testing.T) {
	t.Parallel()
	const d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		image, want string
	}{
		{"registry.example.com/acme/app-a", "cascade/registry.example.com/acme/app-a-0123456789ab"},
		{"registry.example.com/acme/app-a:latest", "cascade/registry.example.com/acme/app-a-0123456789ab"},
		{"registry.example.com/acme/app-a:1@" + d, "cascade/registry.example.com/acme/app-a-0123456789ab"},
		{"nginx", "cascade/docker.io/library/nginx-0123456789ab"},
		{"docker.io/library/nginx:1.27", "cascade/docker.io/library/nginx-0123456789ab"},
		{"index.docker.io/library/nginx", "cascade/docker.io/library/nginx-0123456789ab"},
		{"host:5000/team/app", "cascade/host-5000/team/app-0123456789ab"},
		{"Weird..Name/../x.lock", "cascade/weird.name/x-0123456789ab"},
	}
	for _, tt := range tests {
		t.Run(tt.image, func(t *testing.T) {
			t.Parallel()
			if got := writeback.BranchName(tt.image, d); got != tt.want {
				t.Errorf("BranchName(%q) = %q, want %q", tt.image, got, tt.want)
			}
		})
	}
}

func TestIsCascadeCommit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		msg  string
		want bool
	}{
		{"cascade: pin x to 1\n\nbody\n\nCascade-Update: x@sha256:1\n", true},
		{"subject\n\nSigned-off-by: a <a@b>\nCascade-Update: x@sha256:1", true},
		{"subject\r\n\r\nCascade-Update: x@sha256:1\r\n", true},
		{"Cascade-Update: x@sha256:1", false}, // a subject is not a trailer
		{"fix\n\nmentions Cascade-Update: in prose\n\nSigned-off-by: a <a@b>", false},
		{"Manual fix\n", false},
	}
	for _, tt := range tests {
		if got := writeback.IsCascadeCommit(tt.msg); got != tt.want {
			t.Errorf("IsCascadeCommit(%q) = %v, want %v", tt.msg, got, tt.want)
		}
	}
}

func ExampleBranchName() {
	fmt.Println(writeback.BranchName("registry.example.com/acme/httpd-base:latest",
		"sha256:4f2a9c0e1b7d3a5f6e8c9b0a1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e"))
	// Output: cascade/registry.example.com/acme/httpd-base-4f2a9c0e1b7d
}

func ExampleMessage() {
	image, digest := "registry.example.com/acme/app-a", "sha256:4f2a9c0e1b7d3a5f6e8c9b0a1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e"
	fmt.Println(writeback.Message(image, digest, []string{"deploy/app-a.yaml"}))
	fmt.Println()
	fmt.Println(writeback.Trailer(image, digest))
	// Output:
	// cascade: pin registry.example.com/acme/app-a to 4f2a9c0e1b7d
	//
	// Pin registry.example.com/acme/app-a to sha256:4f2a9c0e1b7d3a5f6e8c9b0a1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e in:
	//
	// - deploy/app-a.yaml
	//
	// Cascade-Update: registry.example.com/acme/app-a@sha256:4f2a9c0e1b7d3a5f6e8c9b0a1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e
}
