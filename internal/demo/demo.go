// Package demo plays cascade's seed scenario — the OpenShift "Image Stream"
// lab, centos:7 → httpd-base:latest → app-a and app-b — on the embedded
// default: an in-process registry (go-containerregistry's pkg/registry, served
// through an in-memory transport, no sockets, no network) and a temporary
// workspace holding the config and Dockerfiles.
package demo

import (
	"context"
	"embed"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imagecascade/cascade/internal/config"
	"github.com/imagecascade/cascade/internal/engine"
	"github.com/imagecascade/cascade/internal/imageref"
	"github.com/imagecascade/cascade/internal/plan"
	"github.com/imagecascade/cascade/internal/registry"
	"github.com/imagecascade/cascade/internal/report"
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
	// Workspace, when set, is used instead of a temporary folder.
	Workspace string
}

// Result is what the demo did, for tests.
type Result struct {
	Workspace string
	Before    *plan.Plan
	After     *plan.Plan
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
	ws, cleanup, err := workspace(opts)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	res := &Result{Workspace: ws}

	fmt.Fprintf(w, "cascade demo: the OpenShift \"Image Stream\" lab on an in-process registry (%s, no network)\n\n", Host)
	fmt.Fprintln(w, "1. Seed the registry: centos:7 -> httpd-base:latest -> app-a, app-b")
	push := pusher{ctx: ctx, tr: tr, w: w}
	centos, err := push.image(Centos, mustRandom(1), nil, true)
	if err != nil {
		return nil, err
	}
	baseV1, err := push.image(HttpdBase, appendLayer(centos.img), &centos, true)
	if err != nil {
		return nil, err
	}
	if _, err := push.image(AppA, appendLayer(baseV1.img), &baseV1, true); err != nil {
		return nil, err
	}
	// app-b is pushed in Docker format without base annotations: cascade
	// falls back to comparing layers.
	if _, err := push.image(AppB, appendLayer(baseV1.img), &baseV1, false); err != nil {
		return nil, err
	}

	cfgPath, err := config.Find(ws, "")
	if err != nil {
		return nil, err
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return nil, err
	}
	res2, err := registry.New(registry.WithTransport(tr), registry.WithAllow(cfg.Registries.Allow),
		registry.WithKeychain(authn.NewMultiKeychain()))
	if err != nil {
		return nil, err
	}
	e := &engine.Engine{Config: cfg, Workspace: ws, Resolver: res2}
	updated := imageref.MustParse(HttpdBase)

	fmt.Fprintf(w, "\n2. cascade plan --image %s   (before any change)\n\n", HttpdBase)
	res.Before, err = e.Plan(ctx, updated, engine.PlanOptions{})
	if err != nil {
		return nil, fmt.Errorf("planning before the rebuild: %w", err)
	}
	if err := report.Plan(indent(w), res.Before, report.Text); err != nil {
		return nil, err
	}

	fmt.Fprintln(w, "\n3. Start build: httpd-base is rebuilt (a new layer on centos:7) and pushed")
	if _, err := push.image(HttpdBase, appendLayer(centos.img), &centos, true); err != nil {
		return nil, err
	}

	fmt.Fprintf(w, "\n4. cascade plan --image %s   (after the rebuild)\n\n", HttpdBase)
	res.After, err = e.Plan(ctx, updated, engine.PlanOptions{})
	if err != nil {
		return nil, fmt.Errorf("planning after the rebuild: %w", err)
	}
	if err := report.Plan(indent(w), res.After, report.Text); err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "\napp-a was caught by its OCI base annotation, app-b (no annotations) by its layers.\n")
	fmt.Fprintf(w, "Next: `cascade run` dispatches these rebuilds (GitHub, Tekton, webhook or rebase)\n")
	fmt.Fprintf(w, "and pins the new digests in the deployment manifests.\n")
	if opts.Keep {
		fmt.Fprintf(w, "\nWorkspace kept at %s\n", ws)
	}
	fmt.Fprintf(w, "\nDone in %s.\n", time.Since(start).Round(time.Millisecond))
	return res, nil
}

// workspace writes the embedded workspace to a folder.
func workspace(opts Options) (string, func(), error) {
	dir := opts.Workspace
	cleanup := func() {}
	if dir == "" {
		d, err := os.MkdirTemp("", "cascade-demo-")
		if err != nil {
			return "", nil, fmt.Errorf("creating the demo workspace: %w", err)
		}
		dir = d
		if !opts.Keep {
			cleanup = func() { os.RemoveAll(d) }
		}
	}
	sub, err := fs.Sub(workspaceFS, "workspace")
	if err != nil {
		return "", nil, err
	}
	if err := os.CopyFS(dir, sub); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("writing the demo workspace: %w", err)
	}
	return dir, cleanup, nil
}

type pushed struct {
	ref    string
	img    v1.Image
	digest v1.Hash
}

type pusher struct {
	ctx context.Context
	tr  http.RoundTripper
	w   io.Writer
}

// image pushes img under ref. With base set and annotate true it records the
// base in OCI annotations, as buildah and podman do.
func (p pusher) image(ref string, img v1.Image, base *pushed, annotate bool) (pushed, error) {
	if annotate {
		img = mutate.MediaType(img, types.OCIManifestSchema1)
		img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
		if base != nil {
			img = mutate.Annotations(img, map[string]string{
				registry.BaseNameKey:   base.ref,
				registry.BaseDigestKey: base.digest.String(),
			}).(v1.Image)
		}
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		return pushed{}, err
	}
	if err := remote.Write(r, img, remote.WithTransport(p.tr), remote.WithContext(p.ctx)); err != nil {
		return pushed{}, fmt.Errorf("pushing %s: %w", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		return pushed{}, err
	}
	layers, _ := img.Layers()
	note := ""
	if base != nil && !annotate {
		note = " (docker format, no base annotations)"
	}
	fmt.Fprintf(p.w, "   pushed %-45s %s  %s%s\n", ref, imageref.Digest(d.String()).Short(), plural(len(layers), "layer"), note)
	return pushed{ref: ref, img: img, digest: d}, nil
}

func mustRandom(layers int64) v1.Image {
	img, err := random.Image(512, layers)
	if err != nil {
		panic(err) // random.Image fails only on a broken crypto/rand
	}
	return img
}

// appendLayer builds on img with one new random layer: a build step.
func appendLayer(img v1.Image) v1.Image {
	l, err := random.Layer(256, types.DockerLayer)
	if err != nil {
		panic(err)
	}
	out, err := mutate.AppendLayers(img, l)
	if err != nil {
		panic(err)
	}
	return out
}

type indentWriter struct {
	w   io.Writer
	bol bool
}

func indent(w io.Writer) io.Writer { return &indentWriter{w: w, bol: true} }

func (iw *indentWriter) Write(p []byte) (int, error) {
	for _, c := range p {
		if iw.bol && c != '\n' {
			if _, err := io.WriteString(iw.w, "   "); err != nil {
				return 0, err
			}
		}
		if _, err := iw.w.Write([]byte{c}); err != nil {
			return 0, err
		}
		iw.bol = c == '\n'
	}
	return len(p), nil
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}
