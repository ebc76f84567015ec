package b2

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"log"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sync/errgroup"

	"github.com/imagecascade/cascade/internal/faultproxy"
	"github.com/imagecascade/cascade/internal/testenv"
)

// Env is a running B2 setup: docker-registry with token auth, its token
// service beside it on the same host (a mux in front of both), and the
// latency proxy in front of that, whose host the images are named by.
//
//	client → faultproxy (latency, request log) → mux ┬ /token → issuer
//	                                                  └ /v2/…  → docker-registry
type Env struct {
	Stream *Stream
	// Host is the proxy's "127.0.0.1:PORT": what every reference names.
	Host  string
	Proxy *faultproxy.Proxy
	// Dir is the work folder: storage/, cascade.yaml, refs.txt, docker/.
	Dir string
	// Config is the cascade.yaml of the stream; Refs lists the
	// dependents' references, one a line (the crane loop's input);
	// DockerConfig is an empty Docker config folder (anonymous pulls).
	Config, Refs, DockerConfig string
	// Filled reports whether this setup pushed the images (false: the
	// registry of an earlier run with the same spec was reused).
	Filled bool
	// Backend describes the registry ("docker-registry 2.8.2+ds1").
	Backend string

	iss    *issuer
	direct string // the registry's own host
	memory *httptest.Server
	// memoryHandler is the in-memory registry, which the mux serves
	// itself (no second proxy hop).
	memoryHandler http.Handler
	mux           *http.Server
	cmd           *exec.Cmd
	exited        chan struct{}
	output        *lockedBuffer
}

// stamp records what a work folder's registry storage holds.
type stamp struct {
	Version int    `json:"version"`
	Spec    Spec   `json:"spec"`
	Host    string `json:"host"`
}

// Memory, as Setup's registry binary, runs go-containerregistry's
// in-memory registry in this process instead of docker-registry, with the
// same token auth in front (issuer.guard): a registry whose own cost per
// request is small, so that the wall time against the limit measures the
// client rather than distribution's CPU on a shared machine.
const Memory = "memory"

// Setup starts the registry for spec in dir (created if needed) and fills
// it, unless dir already holds the same stream and the proxy can listen on
// the host its manifests name again. bin is the docker-registry binary, or
// Memory.
func Setup(ctx context.Context, dir, bin string, spec Spec, logw io.Writer) (_ *Env, err error) {
	if logw == nil {
		logw = io.Discard
	}
	memory := bin == Memory
	e0, v3 := "go-containerregistry's in-memory registry", false
	if !memory {
		e0, v3 = registryVersion(bin)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	e := &Env{Dir: dir, Config: filepath.Join(dir, "cascade.yaml"), Refs: filepath.Join(dir, "refs.txt"),
		DockerConfig: filepath.Join(dir, "docker"), exited: make(chan struct{}), output: &lockedBuffer{}, Backend: e0}
	defer func() {
		if err != nil {
			e.Close()
		}
	}()
	if e.iss, err = newIssuer(); err != nil {
		return nil, err
	}
	e.iss.jwkKeyID = v3
	if memory {
		e.memoryHandler = ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
		srv := httptest.NewServer(e.memoryHandler)
		e.memory = srv
		e.direct = srv.Listener.Addr().String()
	} else if e.direct, err = freeHost(); err != nil {
		return nil, err
	}
	muxURL, err := e.startMux()
	if err != nil {
		return nil, err
	}

	// Reuse the storage when it holds this stream and its host is free.
	var st stamp
	stampPath := filepath.Join(dir, "stamp.json")
	if b, err := os.ReadFile(stampPath); err == nil && !memory && json.Unmarshal(b, &st) == nil && st.Version == genVersion && st.Spec == spec {
		if p, err := faultproxy.StartOn(st.Host, muxURL); err == nil {
			e.Proxy = p
		}
	}
	if e.Proxy == nil {
		e.Filled = true
		if err := os.RemoveAll(filepath.Join(dir, "storage")); err != nil {
			return nil, err
		}
		if err := os.Remove(stampPath); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		if e.Proxy, err = faultproxy.Start(muxURL); err != nil {
			return nil, err
		}
	}
	e.Proxy.LogHeaders(false)
	e.Host = e.Proxy.Host()

	start := time.Now()
	if e.Stream, err = Generate(spec, e.Host); err != nil {
		return nil, err
	}
	fmt.Fprintf(logw, "b2: generated %d images in %.1fs\n", len(e.Stream.Nodes), time.Since(start).Seconds())
	if memory {
		start := time.Now()
		if err := e.push(ctx); err != nil {
			return nil, err
		}
		fmt.Fprintf(logw, "b2: pushed %d images into the in-memory registry in %.1fs\n", len(e.Stream.Nodes), time.Since(start).Seconds())
	} else {
		if e.Filled {
			start := time.Now()
			if err := writeStorage(filepath.Join(e.Dir, "storage"), e.Stream); err != nil {
				return nil, err
			}
			fmt.Fprintf(logw, "b2: wrote %d images into the registry storage in %.1fs\n", len(e.Stream.Nodes), time.Since(start).Seconds())
		}
		if err := e.startRegistry(ctx, bin); err != nil {
			return nil, err
		}
	}
	if err := e.check(ctx); err != nil {
		return nil, err
	}
	if e.Filled && !memory {
		b, err := json.Marshal(stamp{Version: genVersion, Spec: spec, Host: e.Host})
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(stampPath, b, 0o644); err != nil {
			return nil, err
		}
	}
	if err := e.writeFiles(); err != nil {
		return nil, err
	}
	e.Proxy.TakeRequests() // nothing before the runs is measured
	return e, nil
}

// Close stops the proxy, the mux and the registry process (by its PID).
func (e *Env) Close() {
	if e.Proxy != nil {
		e.Proxy.Close()
	}
	if e.mux != nil {
		_ = e.mux.Close()
	}
	if e.memory != nil {
		e.memory.Close()
	}
	if e.cmd != nil && e.cmd.Process != nil {
		select {
		case <-e.exited:
		default:
			_ = e.cmd.Process.Kill()
			<-e.exited
		}
	}
}

// RegistryOutput is what docker-registry printed so far.
func (e *Env) RegistryOutput() string { return e.output.String() }

func (e *Env) startMux() (*url.URL, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listening for the registry mux: %w", err)
	}
	target := &url.URL{Scheme: "http", Host: e.direct}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 256, 256
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host // the registry names the proxy in its answers
		},
		Transport: tr,
	}
	mux := http.NewServeMux()
	mux.Handle("/token", e.iss)
	if e.memoryHandler != nil {
		mux.Handle("/", e.iss.guard(func() string { return "http://" + e.Host + "/token" }, e.memoryHandler))
	} else {
		mux.Handle("/", rp)
	}
	e.mux = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = e.mux.Serve(l) }()
	return &url.URL{Scheme: "http", Host: l.Addr().String()}, nil
}

func (e *Env) startRegistry(ctx context.Context, bin string) error {
	certs := filepath.Join(e.Dir, "token-cert.pem")
	if err := os.WriteFile(certs, e.iss.certPEM(), 0o644); err != nil {
		return err
	}
	cfg := testenv.RegistryConfig(filepath.Join(e.Dir, "storage"), e.direct, fmt.Sprintf(`auth:
  token:
    realm: %q
    service: %q
    issuer: %q
    rootcertbundle: %q
`, "http://"+e.Host+"/token", tokenService, tokenIssuer, certs))
	cfgPath := filepath.Join(e.Dir, "registry.yml")
	if err := os.WriteFile(cfgPath, cfg, 0o644); err != nil {
		return err
	}
	// Not CommandContext: Close ends it, by its PID.
	e.cmd = exec.Command(bin, "serve", cfgPath)
	e.cmd.Stdout, e.cmd.Stderr = e.output, e.output
	if err := e.cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", bin, err)
	}
	go func() {
		_ = e.cmd.Wait()
		close(e.exited)
	}()
	deadline := time.Now().Add(10 * time.Second)
	client := &http.Client{Timeout: time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+e.direct+"/v2/", nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized {
				return nil // up, and asking for a token
			}
			err = fmt.Errorf("GET /v2/: %s, want 401 with a token challenge", resp.Status)
		}
		select {
		case <-e.exited:
			return fmt.Errorf("docker-registry exited: %s", e.RegistryOutput())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("docker-registry not ready: %w; output: %s", err, e.RegistryOutput())
		}
	}
}

// push writes every image to the in-memory registry through its API,
// straight (not through the proxy or the token guard), 16 at a time.
func (e *Env) push(ctx context.Context) error {
	tr := &http.Transport{MaxIdleConns: 64, MaxIdleConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for _, n := range e.Stream.Nodes {
		g.Go(func() error {
			ref, err := name.ParseReference(e.direct+"/"+n.Repo+":latest", name.Insecure)
			if err != nil {
				return err
			}
			opts := []remote.Option{remote.WithTransport(tr), remote.WithContext(gctx)}
			if n.Multi {
				err = remote.WriteIndex(ref, n.idx, opts...)
			} else {
				err = remote.Write(ref, n.img, opts...)
			}
			if err != nil {
				return fmt.Errorf("pushing %s: %w", n.Repo, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// check GETs the base and one dependent of each kind (single-platform,
// index) straight from the registry, with a token from the issuer, and
// compares their digests with the generator's: the storage written
// without the registry is served as pushed.
func (e *Env) check(ctx context.Context) error {
	picks := []*Node{e.Stream.Base()}
	var single, multi bool
	for _, n := range e.Stream.Dependents() {
		if (n.Multi && !multi) || (!n.Multi && !single) {
			picks = append(picks, n)
			multi, single = multi || n.Multi, single || !n.Multi
		}
	}
	var grants []access
	for _, n := range picks {
		grants = append(grants, access{Type: "repository", Name: n.Repo, Actions: []string{"pull"}})
	}
	tok, err := e.iss.token(grants)
	if err != nil {
		return err
	}
	tr := &bearer{token: tok, inner: http.DefaultTransport}
	for _, n := range picks {
		ref, err := name.ParseReference(e.direct+"/"+n.Repo+":latest", name.Insecure)
		if err != nil {
			return err
		}
		desc, err := remote.Get(ref, remote.WithTransport(tr), remote.WithContext(ctx))
		if err != nil {
			return fmt.Errorf("checking the registry storage: %w (registry output: %s)", err, e.RegistryOutput())
		}
		if desc.Digest != n.Digest {
			return fmt.Errorf("checking the registry storage: %s has digest %s, want %s", n.Repo, desc.Digest, n.Digest)
		}
	}
	return nil
}

// bearer adds a fixed token to every request.
type bearer struct {
	token string
	inner http.RoundTripper
}

func (b *bearer) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+b.token)
	return b.inner.RoundTrip(req)
}

// writeFiles writes cascade.yaml, refs.txt and the empty Docker config.
func (e *Env) writeFiles() error {
	s := e.Stream
	var cfg, refs bytes.Buffer
	fmt.Fprintf(&cfg, "# B2 stream: %d dependents in %d tiers (generated, seed %d)\nversion: 1\nimages:\n", len(s.Dependents()), s.Spec.Tiers, s.Spec.Seed)
	for _, n := range s.Nodes {
		fmt.Fprintf(&cfg, "  - name: %s\n    image: %s\n", n.Name, s.Ref(n))
		if n.Parent >= 0 {
			fmt.Fprintf(&cfg, "    from: [%s]\n", s.Ref(s.Nodes[n.Parent]))
			fmt.Fprintln(&refs, s.Ref(n))
		}
		fmt.Fprintf(&cfg, "    rebuild: {github: {repository: %s}}\n", n.Repo)
	}
	fmt.Fprintf(&cfg, "limits:\n  maxDispatches: %d\nregistries:\n  allow: [%q]\n", len(s.Nodes), e.Host)
	if err := os.WriteFile(e.Config, cfg.Bytes(), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(e.Refs, refs.Bytes(), 0o644); err != nil {
		return err
	}
	if err := os.MkdirAll(e.DockerConfig, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(e.DockerConfig, "config.json"), []byte("{}\n"), 0o644)
}

// Env returns the environment a timed command runs with: anonymous pulls.
func (e *Env) Env() []string {
	return []string{"DOCKER_CONFIG=" + e.DockerConfig, "B2_CONFIG=" + e.Config, "B2_REFS=" + e.Refs,
		"B2_IMAGE=" + e.Stream.Ref(e.Stream.Base()), "B2_WORKSPACE=" + e.Dir}
}

// registryVersion is "NAME VERSION" as the binary says it — Debian's
// "docker-registry 2.8.2+ds1", or "distribution v3.1.2" for a registry built
// from github.com/distribution/distribution/v3 — and whether it is the
// latter, whose token check names keys by their JWK thumbprint.
func registryVersion(bin string) (name string, v3 bool) {
	out, err := exec.Command(bin, "--version").Output()
	f := strings.Fields(string(out))
	switch {
	case err != nil || len(f) == 0:
		return "docker-registry", false
	case strings.Contains(string(out), "distribution/distribution/v3"):
		return "distribution " + f[len(f)-1], true
	}
	return "docker-registry " + f[len(f)-1], false
}

func freeHost() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > 1<<20 {
		return len(p), nil
	}
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.TrimSpace(b.buf.String())
}
