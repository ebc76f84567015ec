package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	// registryReadyTimeout bounds how long StartRegistry waits for GET /v2/.
	registryReadyTimeout = 10 * time.Second
	// registryStartAttempts bounds retries when the chosen port was taken
	// between picking it and the registry binding it.
	registryStartAttempts = 3
)

// Registry is a running docker-registry child process on loopback, without
// TLS or auth, with deletes enabled and storage under t.TempDir().
type Registry struct {
	// Host is "127.0.0.1:PORT", ready to prefix repository names.
	Host string

	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has been waited for
	output *syncBuffer
}

// StartRegistry starts `docker-registry serve` on a free loopback port and
// waits until GET /v2/ answers. Cleanup kills that process and waits for it;
// if the test failed, the registry's output is logged.
func StartRegistry(t testing.TB) *Registry {
	t.Helper()
	bin := Require(t, "docker-registry")
	dir := t.TempDir()

	var errs []error
	for range registryStartAttempts {
		r, err := startRegistry(t, bin, dir)
		if err == nil {
			return r
		}
		errs = append(errs, err)
		if !errors.Is(err, errAddrInUse) {
			break
		}
	}
	t.Fatalf("starting docker-registry: %v", errors.Join(errs...))
	return nil
}

// Ref returns the reference of repo (e.g. "centos:7") in this registry.
func (r *Registry) Ref(repo string) string {
	return r.Host + "/" + repo
}

// Output returns what the registry has written to stdout and stderr so far.
func (r *Registry) Output() string {
	return r.output.String()
}

var errAddrInUse = errors.New("address already in use")

func startRegistry(t testing.TB, bin, dir string) (*Registry, error) {
	t.Helper()
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	host := fmt.Sprintf("127.0.0.1:%d", port)
	cfg := filepath.Join(dir, fmt.Sprintf("config-%d.yml", port))
	if err := os.WriteFile(cfg, RegistryConfig(filepath.Join(dir, "storage"), host, ""), 0o600); err != nil {
		return nil, fmt.Errorf("writing registry config: %w", err)
	}

	r := &Registry{Host: host, exited: make(chan struct{}), output: &syncBuffer{}}
	// Not exec.CommandContext: the process must outlive this call and is
	// ended by the cleanup below, by its own PID.
	r.cmd = exec.Command(bin, "serve", cfg)
	r.cmd.Stdout = r.output
	r.cmd.Stderr = r.output
	if err := r.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	var waitErr error
	go func() {
		waitErr = r.cmd.Wait()
		close(r.exited)
	}()
	t.Cleanup(func() {
		r.stop()
		if t.Failed() {
			t.Logf("docker-registry %s output:\n%s", r.Host, r.Output())
		}
	})

	if err := r.waitReady(); err != nil {
		r.stop() // waits, so waitErr is set
		out := r.Output()
		if strings.Contains(out, "address already in use") {
			return nil, fmt.Errorf("port %d: %w", port, errAddrInUse)
		}
		return nil, fmt.Errorf("%w (exit: %v); output:\n%s", err, waitErr, out)
	}
	return r, nil
}

// waitReady polls GET /v2/ until it answers 200, the process exits, or
// registryReadyTimeout passes.
func (r *Registry) waitReady() error {
	ctx, cancel := context.WithTimeout(context.Background(), registryReadyTimeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	url := "http://" + r.Host + "/v2/"
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("building readiness request: %w", err)
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		last = err
		select {
		case <-r.exited:
			return fmt.Errorf("docker-registry exited before answering GET %s", url)
		case <-ctx.Done():
			return fmt.Errorf("docker-registry not ready after %v: %w", registryReadyTimeout, last)
		case <-tick.C:
		}
	}
}

// stop kills the registry process (exactly its PID) and waits for it.
// Safe to call more than once.
func (r *Registry) stop() {
	select {
	case <-r.exited:
		return
	default:
	}
	_ = r.cmd.Process.Kill()
	<-r.exited
}

// RegistryConfig is the configuration of a docker-registry serving
// storageDir on addr, quiet (warnings only, no access log), with deletes on
// and no upload purging; extra (YAML, such as an auth: section) is appended
// at the top level. StartRegistry and benchmark B2 run it.
func RegistryConfig(storageDir, addr, extra string) []byte {
	secret := make([]byte, 16)
	_, _ = rand.Read(secret) // crypto/rand.Read never returns an error.
	return fmt.Appendf(nil, `version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %q
  cache:
    blobdescriptor: inmemory
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: %q
  secret: %q
%s`, storageDir, addr, hex.EncodeToString(secret), extra)
}

// freePort asks the kernel for a free loopback TCP port. Another process may
// take it before the registry binds it; StartRegistry retries when it does.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// syncBuffer is a bytes.Buffer safe for a writing child process and a
// reading test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
