package dispatch_test

import (
	"crypto/sha256"
	"strings"
	"time"

	"github.com/imagecascade/cascade/internal/config"
	"github.com/imagecascade/cascade/internal/dispatch"
	"github.com/imagecascade/cascade/internal/imageref"
	"github.com/imagecascade/cascade/internal/retry"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

var newDigest = imageref.Digest("sha256:" + strings.Repeat("1a2b", 16))

// target returns a dependent of httpd-base at newDigest rebuilt by rb.
func target(name string, rb config.Rebuild) dispatch.Target {
	return dispatch.Target{
		Name:    name,
		Image:   imageref.MustParse("registry.example.com/acme/" + name + ":latest"),
		Rebuild: rb,
		Base: dispatch.BaseRef{
			Name: "httpd-base",
			Ref:  imageref.MustParse("registry.example.com/acme/httpd-base:latest@" + string(newDigest)),
		},
		Cascade: dispatch.Cascade{Depth: 1, Chain: []string{"httpd-base"}, Origin: "registry.example.com/acme/httpd-base@" + string(newDigest)},
	}
}

// fakePolicy retries on a FakeClock with backoff waits at their ceiling.
func fakePolicy(clock *retry.FakeClock) retry.Policy {
	return retry.Policy{Clock: clock, Jitter: func(c time.Duration) time.Duration { return c }}
}

func sha256Sum(s string) [32]byte { return sha256.Sum256([]byte(s)) }
