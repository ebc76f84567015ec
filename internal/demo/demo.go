// Package demo plays cascade's seed scenario — the OpenShift "Image Stream"
// lab, centos:7 → httpd-base:latest → app-a and app-b, each deployed — end to
// end on the embedded default: an in-process registry (go-containerregistry's
// pkg/registry behind an in-memory transport: no sockets, no network), a
// temporary workspace with the config, Dockerfiles and deployment manifests,
// and an embedded executor standing in for the GitHub and Tekton pipelines
// that rebuild the apps. Everything else is cascade's real code: the engine's
// plan, dispatch's fan-out, the manifests rewriter.
package demo

import (
	"archive/tar"
	"bytes"
	"context"
	"embed"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"

	"github.com/imagecascade/cascade/internal/config"
	"github.com/imagecascade/cascade/internal/dispatch"
	"github.com/imagecascade/cascade/internal/engine"
	"github.com/imagecascade/cascade/internal/history"
	"github.com/imagecascade/cascade/internal/imageref"
	"github.com/imagecascade/cascade/internal/plan"
	"github.com/imagecascade/cascade/internal/registry"
	"github.com/imagecascade/cascade/internal/report"
	"github.com/imagecascade/cascade/internal/run"
)

//go:embed workspace
var workspaceFS embed.FS

// Host is the demo registry's name; it resolves only inside this process.
const Host = "demo.cascade.local"

// Images of the seed scenario.
const (
	Centos    = Host + "/library/centos:7"
	HttpdBase = Host + "/acme/httpd-base:latest"
	AppA      = Host + "/acme/app-a:latest"
	AppB      = Host + "/acme/app-b:latest"
)

// Options tune Run.
type Options struct {
	// Keep leaves the workspace in place and prints where it is.
	Keep bool
}

// Result is what the demo did, for tests.
type Result struct {
	Workspace  string
	Before     *plan.Plan
	After      *plan.Plan
	Dispatches []dispatch.Outcome
	// Final is the plan once the rebuilt apps are pushed: all current.
	Final *plan.Plan
	// Diff is the manifest diff the apps' cascade steps made.
	Diff string
}

// InMemory is an http.RoundTripper that serves every request with an
// http.Handler in-process: a registry without a socket.
type InMemory struct{ Handler http.Handler }

// RoundTrip serves req with the handler.
func (t InMemory) RoundTrip(req *http.Request) (*http.Response, error) {
	in := req.Clone(req.Context())
	if in.Body == nil {
		in.Body = http.NoBody // a server always sees a body
	}
	rec := httptest.NewRecorder()
	t.Handler.ServeHTTP(rec, in)
	resp := rec.Result()
	resp.Request = req
	return resp, nil
}

// Run plays the scenario and tells its story on w.
func Run(ctx context.Context, w io.Writer, opts Options) (*Result, error) {
	start := time.Now()
	tr := InMemory{Handler: ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))}
	ws, cleanup, err := newWorkspace(opts)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	res := &Result{Workspace: ws}
	b := &builder{ctx: ctx, tr: tr, w: w}

	fmt.Fprintf(w, "cascade demo: the OpenShift \"Image Stream\" lab on an in-process registry (%s, no network)\n", Host)
	fmt.Fprintln(w, "\n1. Seed: centos:7 -> httpd-base:latest -> app-a, app-b, and their deployments pinned by digest")
	centos, err := b.build(Centos, nil, "centos 7 userland", true)
	if err != nil {
		return nil, err
	}
	baseV1, err := b.build(HttpdBase, &centos, "httpd 2.4.6", true)
	if err != nil {
		return nil, err
	}
	appA, err := b.build(AppA, &baseV1, "app-a v1.0", true)
	if err != nil {
		return nil, err
	}
	// app-b is pushed in Docker format, without base annotations: cascade
	// decides it by comparing layers.
	appB, err := b.build(AppB, &baseV1, "app-b v3.2", false)
	if err != nil {
		return nil, err
	}
	if err := pinSeed(ws, map[string]string{"APP_A_DIGEST": appA.digest.String(), "APP_B_DIGEST": appB.digest.String()}); err != nil {
		return nil, err
	}

	cfg, err := config.Load(filepath.Join(ws, config.DefaultFile))
	if err != nil {
		return nil, err
	}
	reg, err := registry.New(registry.WithTransport(tr), registry.WithAllow(cfg.Registries.Allow),
		registry.WithKeychain(authn.NewMultiKeychain()))
	if err != nil {
		return nil, err
	}
	e := &engine.Engine{Config: cfg, Workspace: ws, Resolver: reg}
	updated := imageref.MustParse(HttpdBase)

	fmt.Fprintf(w, "\n2. cascade plan --image %s   (nothing has changed yet)\n\n", HttpdBase)
	if res.Before, err = e.Plan(ctx, updated, engine.PlanOptions{}); err != nil {
		return nil, fmt.Errorf("planning before the rebuild: %w", err)
	}
	if err := report.Plan(indent(w), res.Before, report.Text); err != nil {
		return nil, err
	}

	fmt.Fprintln(w, "\n3. Start build: httpd-base is rebuilt (a security update) and pushed")
	baseV2, err := b.build(HttpdBase, &centos, "httpd 2.4.6 + security update", true)
	if err != nil {
		return nil, err
	}

	fmt.Fprintf(w, "\n4. cascade run --image %s\n\n", HttpdBase)
	// The run is cascade's own (package run): phase 1 plans and checks,
	// phase 2 dispatches and records in the registry's history. The
	// embedded executor stands in for the GitHub and Tekton pipelines.
	x := &executor{b: b, cfg: cfg, ws: ws}
	hist := history.New(history.Options{Transport: tr, Keychain: authn.NewMultiKeychain(), Insecure: func(string) bool { return true }})
	d := &run.Deps{Config: cfg, Planner: e, Tags: reg, History: hist, Dispatchers: x}
	p, err := run.Prepare(ctx, d, run.Request{Image: updated})
	if err != nil {
		return nil, fmt.Errorf("planning after the rebuild: %w", err)
	}
	res.After = p.Report().Plan
	if err := report.Plan(indent(w), res.After, report.Text); err != nil {
		return nil, err
	}
	fmt.Fprintln(w, "\n   Dispatching (the embedded executor stands in for the GitHub and Tekton pipelines):")
	err = p.Act(ctx, d)
	res.Dispatches = p.Report().Dispatches
	for _, o := range res.Dispatches {
		fmt.Fprintf(w, "   - %-6s %-7s %-10s %s\n", o.Name, o.Kind, o.Status, o.Detail)
	}
	if err != nil {
		return nil, err
	}

	fmt.Fprintf(w, "\n5. cascade plan --image %s   (after the apps' pipelines ran)\n\n", HttpdBase)
	if res.Final, err = e.Plan(ctx, updated, engine.PlanOptions{}); err != nil {
		return nil, err
	}
	if err := report.Plan(indent(w), res.Final, report.Text); err != nil {
		return nil, err
	}

	fmt.Fprintln(w, "\n6. The cascade:")
	tree(indent(w), centos, baseV2, x.rebuilt, res.After)
	res.Diff = x.diff.String()
	fmt.Fprintln(w, "\n7. What the apps' cascade steps changed in the deployment manifests:")
	fmt.Fprintln(w)
	fmt.Fprint(indent(w), res.Diff)
	if opts.Keep {
		fmt.Fprintf(w, "\nWorkspace kept at %s\n", ws)
	}
	fmt.Fprintf(w, "\nDone in %s: app-a (OCI base annotation) and app-b (shared layers) were found stale,\n", time.Since(start).Round(time.Millisecond))
	fmt.Fprintln(w, "rebuilt on the new httpd-base, and their deployments moved to the new digests.")
	return res, nil
}

// executor plays the apps' pipelines: build on the new base, push, then
// the app's own cascade step pins its new digest in the manifests.
type executor struct {
	// mu serializes the demo's pipelines: dispatch.Run calls them
	// concurrently, and they share the builder, the rebuilt images, the
	// workspace's manifests and the diff.
	mu      sync.Mutex
	b       *builder
	cfg     *config.Config
	ws      string
	rebuilt map[string]built
	diff    strings.Builder
}

type kindExecutor struct {
	x    *executor
	kind string
}

func (x *executor) as(kind string) dispatch.Dispatcher { return kindExecutor{x: x, kind: kind} }

// For gives run the executor as the dispatcher of the GitHub and Tekton
// rebuilds (the only kinds the demo's config uses).
func (x *executor) For(kind string) (dispatch.Dispatcher, error) {
	switch kind {
	case "github", "tekton":
		return x.as(kind), nil
	}
	return nil, fmt.Errorf("the demo has no %s pipelines", kind)
}

func (k kindExecutor) Kind() string { return k.kind }

func (k kindExecutor) Dispatch(ctx context.Context, t dispatch.Target) dispatch.Outcome {
	x := k.x
	x.mu.Lock()
	defer x.mu.Unlock()
	o := dispatch.Outcome{Name: t.Name, Kind: k.kind, Key: t.Key(), Attempts: 1}
	base, ok := x.b.images[t.Base.Ref.Short()]
	if !ok {
		o.Status, o.Err = dispatch.StatusFailed, fmt.Errorf("base %s not built in this demo", t.Base.Ref.Short())
		return o
	}
	img, err := x.b.build(t.Image.Short(), &base, t.Name+" rebuilt on "+t.Base.Ref.Digest.Short(), t.Name != "app-b")
	if err != nil {
		o.Status, o.Err = dispatch.StatusFailed, err
		return o
	}
	if x.rebuilt == nil {
		x.rebuilt = map[string]built{}
	}
	x.rebuilt[t.Name] = img
	// The app pipeline's last step: cascade for the app's new digest.
	ref := t.Image
	ref.Digest = imageref.Digest(img.digest.String())
	r, err := (&run.WorkspaceManifests{Config: x.cfg, Workspace: x.ws}).Update(ctx, ref, false)
	if err == nil {
		err = r.Err()
	}
	if err != nil {
		o.Status, o.Err = dispatch.StatusFailed, fmt.Errorf("pinning %s: %w", ref.Short(), err)
		return o
	}
	x.diff.WriteString(r.Diff())
	pipeline := "workflow build.yml"
	if t.Rebuild.Tekton != nil {
		pipeline = "PipelineRun " + t.Key()
	}
	o.Status = dispatch.StatusDispatched
	o.Detail = fmt.Sprintf("%s: built %s, pinned in %s", pipeline, ref.Digest.Short(), strings.Join(r.Changed(), ", "))
	return o
}

// tree draws the cascade as a terminal tree.
func tree(w io.Writer, centos, base built, rebuilt map[string]built, p *plan.Plan) {
	fmt.Fprintf(w, "%s  %s\n", Centos, centos.digest.Hex[:12])
	fmt.Fprintf(w, "└── %s  %s  (rebuilt: Start build)\n", HttpdBase, base.digest.Hex[:12])
	for i, d := range p.Dependents {
		branch := "├──"
		if i == len(p.Dependents)-1 {
			branch = "└──"
		}
		now := "-"
		if r, ok := rebuilt[d.Name]; ok {
			now = r.digest.Hex[:12]
		}
		fmt.Fprintf(w, "    %s %s  %s -> %s  (%s by %s, rebuilt via %s)\n", branch, d.Name, short(d.Digest), now, d.Status, d.Evidence, d.Rebuild)
	}
}

func short(d string) string { return imageref.Digest(d).Short() }

// newWorkspace writes the embedded workspace to a temporary folder.
func newWorkspace(opts Options) (string, func(), error) {
	dir, err := os.MkdirTemp("", "cascade-demo-")
	if err != nil {
		return "", nil, fmt.Errorf("creating the demo workspace: %w", err)
	}
	cleanup := func() { os.RemoveAll(dir) }
	if opts.Keep {
		cleanup = func() {}
	}
	sub, err := fs.Sub(workspaceFS, "workspace")
	if err == nil {
		err = os.CopyFS(dir, sub)
	}
	if err != nil {
		cleanup()
		return "", nil, fmt.Errorf("writing the demo workspace: %w", err)
	}
	return dir, cleanup, nil
}

// pinSeed writes the seed digests into the deployment manifests.
func pinSeed(ws string, digests map[string]string) error {
	return filepath.WalkDir(filepath.Join(ws, "deploy"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		s := string(data)
		for k, v := range digests {
			s = strings.ReplaceAll(s, k, v)
		}
		return os.WriteFile(p, []byte(s), 0o644)
	})
}

// tarLayer is a deterministic one-file layer, so the demo's digests are the
// same on every run.
func tarLayer(name, content string) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	_ = tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), ModTime: time.Unix(0, 0)})
	_, _ = tw.Write([]byte(content))
	_ = tw.Close()
	return buf.Bytes()
}
