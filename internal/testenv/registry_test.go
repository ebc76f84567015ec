package testenv

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func TestStartRegistry(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var reg *Registry
	t.Run("serving", func(t *testing.T) {
		reg = StartRegistry(t)
		if !strings.HasPrefix(reg.Host, "127.0.0.1:") {
			t.Errorf("Host = %q, want 127.0.0.1:PORT", reg.Host)
		}
		resp, err := http.Get("http://" + reg.Host + "/v2/")
		if err != nil {
			t.Fatalf("GET /v2/: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET /v2/ = %s, want 200 without auth", resp.Status)
		}

		// Push and delete: storage works and deletes are enabled.
		img, err := random.Image(64, 1)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := name.ParseReference(reg.Ref("scratch/app:1"), name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(ref, img, remote.WithContext(ctx)); err != nil {
			t.Fatalf("pushing: %v", err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Delete(ref.Context().Digest(d.String()), remote.WithContext(ctx)); err != nil {
			t.Errorf("deleting: %v", err)
		}
	})
	if reg == nil {
		t.Fatal("no registry")
	}

	// The subtest's cleanup ended the process and waited for it.
	select {
	case <-reg.exited:
	default:
		t.Fatalf("registry PID %d still running after cleanup", reg.cmd.Process.Pid)
	}
	if conn, err := net.DialTimeout("tcp", reg.Host, time.Second); err == nil {
		conn.Close()
		t.Errorf("%s still accepts connections after cleanup", reg.Host)
	}
}

func TestStartRegistryTwice(t *testing.T) {
	t.Parallel()
	a, b := StartRegistry(t), StartRegistry(t)
	if a.Host == b.Host {
		t.Errorf("two registries on one address %s", a.Host)
	}
}
