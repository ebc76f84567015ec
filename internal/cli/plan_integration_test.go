package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/imagecascade/cascade/internal/plan"
	"github.com/imagecascade/cascade/internal/testenv"
)

// TestPlanOnRealRegistryAndBuildah builds real images with buildah, pushes
// them to a real distribution registry, and runs `cascade plan` the way a
// user would: a dependent built on base v1 in OCI format (annotations) and
// one in Docker format (no annotations: layer prefix), then base v2 pushed,
// and a dependent of each format built on v2.
func TestPlanOnRealRegistryAndBuildah(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	reg, b, centos := startBuilds(ctx, t)
	ws := t.TempDir()
	write := func(rel, content string) { writeFile(t, filepath.Join(ws, rel), content) }
	httpd := reg.Ref("acme/httpd-base:latest")
	write("httpd-base/Dockerfile", "# syntax=docker/dockerfile:1\nARG BASE="+centos+"\nFROM ${BASE}\nARG VERSION\nRUN echo ${VERSION} > /httpd-version\n")
	write("app/Dockerfile", "FROM "+httpd+" AS runtime\nRUN echo app > /app\n")
	write("cascade.yaml", strings.ReplaceAll(`version: 1
images:
  - name: httpd-base
    image: REG/acme/httpd-base:latest
    dockerfile: httpd-base/Dockerfile
    rebuild: {github: {repository: acme/httpd-base}}
  - name: app-oci
    image: REG/acme/app-oci:latest
    dockerfile: app/Dockerfile
    rebuild: {tekton: {namespace: ci, pipeline: app-oci-build}}
  - name: app-docker
    image: REG/acme/app-docker:latest
    dockerfile: app/Dockerfile
    rebuild: {github: {repository: acme/app-docker, workflow: build.yml}}
  - name: fresh-oci
    image: REG/acme/fresh-oci:latest
    dockerfile: app/Dockerfile
    rebuild: {webhook: {url: "http://127.0.0.1:1/hook"}}
  - name: fresh-docker
    image: REG/acme/fresh-docker:latest
    dockerfile: app/Dockerfile
    rebuild: {rebase: {}}
registries:
  allow: [REG]
`, "REG", reg.Host))

	build := func(ref, dockerfile, format string, args map[string]string) {
		t.Helper()
		if err := b.Build(ctx, ws, ref, testenv.BuildOptions{Dockerfile: dockerfile, Format: format, BuildArgs: args}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Push(ctx, ref, ""); err != nil {
			t.Fatal(err)
		}
	}
	build(httpd, "httpd-base/Dockerfile", "oci", map[string]string{"VERSION": "v1"})
	build(reg.Ref("acme/app-oci:latest"), "app/Dockerfile", "oci", nil)
	build(reg.Ref("acme/app-docker:latest"), "app/Dockerfile", "docker", nil)
	// The "Start build" of the lab: httpd-base changes and is pushed.
	build(httpd, "httpd-base/Dockerfile", "oci", map[string]string{"VERSION": "v2"})
	build(reg.Ref("acme/fresh-oci:latest"), "app/Dockerfile", "oci", nil)
	build(reg.Ref("acme/fresh-docker:latest"), "app/Dockerfile", "docker", nil)

	var out, errb bytes.Buffer
	code := Run(ctx, []string{"plan", "--image", httpd, "--workspace", ws, "-o", "json"}, Streams{Out: &out, Err: &errb})
	if code != 0 {
		t.Fatalf("cascade plan exit %d\nstderr: %s\nstdout: %s", code, errb.String(), out.String())
	}
	var p plan.Plan
	if err := json.Unmarshal(out.Bytes(), &p); err != nil {
		t.Fatalf("plan JSON: %v\n%s", err, out.String())
	}
	got := map[string]string{}
	for _, d := range p.Dependents {
		got[d.Name] = string(d.Status) + "/" + string(d.Evidence)
	}
	want := map[string]string{
		"app-oci":      "stale/annotation",
		"app-docker":   "stale/layers",
		"fresh-oci":    "current/annotation",
		"fresh-docker": "current/layers",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("plan (-want +got):\n%s\n%s", diff, out.String())
	}
	if p.SchemaVersion != 1 || p.Summary.Dispatches != 2 {
		t.Errorf("schemaVersion %d, dispatches %d; want 1 and 2", p.SchemaVersion, p.Summary.Dispatches)
	}

	// The text table, as a person reads it.
	out.Reset()
	if code := Run(ctx, []string{"plan", "--image", httpd, "--workspace", ws}, Streams{Out: &out, Err: &errb}); code != 0 {
		t.Fatalf("text plan exit %d: %s", code, errb.String())
	}
	for _, s := range []string{"app-oci", "stale", "annotation", "fresh-docker", "current", "2 stale, 2 current"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("text plan lacks %q:\n%s", s, out.String())
		}
	}
}

// startBuilds starts a real registry and buildah, and pushes the stand-in
// for centos:7 that images in these tests are built on.
func startBuilds(ctx context.Context, t *testing.T) (*testenv.Registry, *testenv.Buildah, string) {
	t.Helper()
	reg := testenv.StartRegistry(t)
	b := testenv.NewBuildah(t)
	centos := reg.Ref("centos:7")
	if err := b.BuildBase(ctx, "localhost/stand-in:1"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Push(ctx, "localhost/stand-in:1", centos); err != nil {
		t.Fatal(err)
	}
	return reg, b, centos
}
