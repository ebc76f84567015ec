package e2e

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imagecascade/cascade/internal/githubtest"
	"github.com/imagecascade/cascade/internal/plan"
	"github.com/imagecascade/cascade/internal/registry"
	"github.com/imagecascade/cascade/internal/report"
	"github.com/imagecascade/cascade/internal/testenv"
)

// platforms are the two platforms of the multi-arch images. Builds for the
// foreign one cannot RUN anything here (no emulation), so every Dockerfile
// of this scenario is FROM + COPY only.
var platforms = []string{"linux/amd64", "linux/arm64"}

// TestMultiArchRebaseChain: runtime is a multi-arch index (two platforms);
// framework (single-platform, OCI, base annotations) is built on it and
// rebuilt by in-registry rebase; site is built on framework and cascades in
// the same run once framework is rebased; legacy is a multi-arch Docker
// manifest list built on runtime with --format docker, so the only evidence
// about it is the layer prefix, platform by platform.
func TestMultiArchRebaseChain(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c := newClock(t)
	defer c.done()

	c.step("1", "start docker-registry and the GitHub test API")
	reg := timed(t, "docker-registry", func() *testenv.Registry { return testenv.StartRegistry(t) })
	b := timed(t, "buildah (private storage)", func() *testenv.Buildah { return testenv.NewBuildah(t) })
	gh := timed(t, "GitHub test API", func() *githubtest.Server { return githubtest.New(t) })
	gh.Repo("acme/site")
	gh.Repo("acme/legacy")

	c.step("2", "build os and runtime v1 for two platforms (COPY only), assemble their indexes; framework, site and legacy on runtime")
	osImage, runtime, framework := reg.Ref("acme/os:latest"), reg.Ref("acme/runtime:latest"), reg.Ref("acme/framework:latest")
	site, legacy := reg.Ref("acme/site:latest"), reg.Ref("acme/legacy:latest")
	src := t.TempDir()
	writeFiles(t, src, map[string]string{
		"os/Dockerfile":           "FROM scratch\nARG TARGETARCH\nCOPY os-${TARGETARCH}.txt /etc/os-release\n",
		"os/os-amd64.txt":         "ID=stand-in\nARCH=amd64\n",
		"os/os-arm64.txt":         "ID=stand-in\nARCH=arm64\n",
		"runtime/Dockerfile":      "FROM " + osImage + "\nARG TARGETARCH\nARG VERSION\nCOPY runtime-${VERSION}-${TARGETARCH}.txt /runtime.txt\n",
		"framework/Dockerfile":    "FROM " + runtime + "\nCOPY framework.txt /opt/framework.txt\n",
		"site/Dockerfile":         "FROM " + framework + "\nCOPY index.html /srv/index.html\n",
		"legacy/Dockerfile":       "FROM " + runtime + "\nCOPY legacy.txt /opt/legacy.txt\n",
		"framework/framework.txt": "framework 1\n",
		"site/index.html":         "<h1>site</h1>\n",
		"legacy/legacy.txt":       "legacy\n",
	})
	for _, v := range []string{"v1", "v2"} {
		for _, arch := range []string{"amd64", "arm64"} {
			writeFiles(t, src, map[string]string{"runtime/runtime-" + v + "-" + arch + ".txt": "runtime " + v + " " + arch + "\n"})
		}
	}
	// runtime v1 and v2 share os's layer: an older build of the same
	// lineage, which the layer-prefix test can tell from an unrelated one.
	buildIndex(t, ctx, b, filepath.Join(src, "os"), osImage, "oci", nil)
	runtimeV1 := buildIndex(t, ctx, b, filepath.Join(src, "runtime"), runtime, "oci", map[string]string{"VERSION": "v1"})
	frameworkV1 := buildPush(t, ctx, b, filepath.Join(src, "framework"), framework, testenv.BuildOptions{Platform: "linux/amd64"})
	buildPush(t, ctx, b, filepath.Join(src, "site"), site, testenv.BuildOptions{Platform: "linux/amd64"})
	buildIndex(t, ctx, b, filepath.Join(src, "legacy"), legacy, "docker", nil)
	if _, m, _ := manifest(t, ctx, framework); annotation(m) == "" {
		t.Fatalf("framework has no base annotation: %+v", m)
	}
	if _, _, idx := manifest(t, ctx, legacy); idx == nil || idx.MediaType != types.DockerManifestList {
		t.Fatalf("legacy is not a Docker manifest list: %+v", idx)
	}

	c.step("3", "runtime v2: both platforms rebuilt, a new index pushed")
	runtimeV2 := buildIndex(t, ctx, b, filepath.Join(src, "runtime"), runtime, "oci", map[string]string{"VERSION": "v2"})
	t.Logf("   runtime %s → %s", runtimeV1, runtimeV2)

	ws := t.TempDir()
	writeFiles(t, ws, map[string]string{"cascade.yaml": strings.ReplaceAll(`version: 1
images:
  - {name: runtime, image: REG/acme/runtime:latest, rebuild: {github: {repository: acme/runtime}}}
  - {name: framework, image: REG/acme/framework:latest, from: [REG/acme/runtime:latest], rebuild: {rebase: {}}}
  - {name: site, image: REG/acme/site:latest, from: [REG/acme/framework:latest], rebuild: {github: {repository: acme/site}}}
  - {name: legacy, image: REG/acme/legacy:latest, from: [REG/acme/runtime:latest], rebuild: {github: {repository: acme/legacy}}}
registries:
  allow: [REG]
`, "REG", reg.Host)})

	c.step("4", "cascade plan for runtime: per-platform verdicts")
	var p plan.Plan
	cascadeJSON(t, ctx, nil, &p, "plan", "--image", runtime, "--workspace", ws)
	if !p.Index || p.Digest != runtimeV2 {
		t.Errorf("plan of %s: index %v digest %s, want the index %s", runtime, p.Index, p.Digest, runtimeV2)
	}
	got := map[string]string{}
	for _, d := range p.Dependents {
		got[d.Name] = string(d.Status) + "/" + string(d.Evidence) + "/" + string(d.Action)
		for _, pl := range d.Platforms {
			got[d.Name+" "+pl.Platform] = string(pl.Status) + "/" + string(pl.Evidence)
		}
	}
	want := map[string]string{
		"framework":          "stale/annotation/dispatch",
		"legacy":             "stale/layers/dispatch",
		"legacy linux/amd64": "stale/layers",
		"legacy linux/arm64": "stale/layers",
		"site":               "stale/transitive/cascade",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("plan verdicts (-want +got):\n%s", diff)
	}
	t.Logf("   verdicts: %v", got)

	c.step("5", "cascade run for runtime: framework rebased in the registry, site cascaded in the same run, legacy dispatched")
	env := []string{"GITHUB_TOKEN=" + gh.Token()}
	var r report.Run
	cascadeJSON(t, ctx, env, &r, "run", "--image", runtime, "--workspace", ws, "--github-api-url", gh.URL)
	wantRun := map[string]string{"framework": "rebase/dispatched", "legacy": "github/dispatched", "site": "github/dispatched"}
	if diff := cmp.Diff(wantRun, outcomes(r)); diff != "" {
		t.Fatalf("dispatches (-want +got):\n%s", diff)
	}
	var frameworkV2 string
	for _, o := range r.Dispatches {
		if o.Name == "framework" {
			frameworkV2 = string(o.NewDigest)
		}
	}
	if len(r.Cascaded) != 1 || !strings.HasPrefix(r.Cascaded[0].Image, framework) || r.Cascaded[0].Digest != frameworkV2 {
		t.Errorf("the rebased framework should cascade in the same run: %+v", r.Cascaded)
	}

	c.step("6", "assert: framework rebased onto runtime v2's layers, site and legacy dispatched with their chains, a re-run dispatches nothing")
	d, m, _ := manifest(t, ctx, framework)
	if d != frameworkV2 || d == frameworkV1 {
		t.Errorf("framework is %s; v1 %s, the rebase reported %s", d, frameworkV1, frameworkV2)
	}
	if annotation(m) != runtimeV2 {
		t.Errorf("rebased framework: %s = %q, want runtime v2 %s", registry.BaseDigestKey, annotation(m), runtimeV2)
	}
	_, baseAmd64, _ := manifest(t, ctx, strings.TrimSuffix(runtime, ":latest")+":amd64")
	if m == nil || baseAmd64 == nil || len(m.Layers) != len(baseAmd64.Layers)+1 {
		t.Fatalf("rebased framework layers %+v on runtime v2 amd64 %+v", m, baseAmd64)
	}
	for i, l := range baseAmd64.Layers {
		if m.Layers[i].Digest != l.Digest {
			t.Errorf("rebased framework layer %d is %s, runtime v2 amd64 has %s", i, m.Layers[i].Digest, l.Digest)
		}
	}
	payloads := map[string]dispatchPayload{}
	for _, rd := range gh.RepositoryDispatches() {
		var pl dispatchPayload
		if err := json.Unmarshal(rd.ClientPayload, &pl); err != nil {
			t.Fatal(err)
		}
		payloads[rd.Repo] = pl
	}
	wantPayloads := map[string]dispatchPayload{
		"acme/legacy": {Dependent: "legacy", Ref: strings.TrimSuffix(runtime, ":latest") + "@" + runtimeV2, Depth: 1, Chain: []string{"runtime"}},
		"acme/site":   {Dependent: "site", Ref: strings.TrimSuffix(framework, ":latest") + "@" + frameworkV2, Depth: 2, Chain: []string{"runtime", "framework"}},
	}
	if diff := cmp.Diff(wantPayloads, payloads); diff != "" {
		t.Errorf("repository_dispatch payloads (-want +got):\n%s", diff)
	}

	var after plan.Plan
	cascadeJSON(t, ctx, nil, &after, "plan", "--image", runtime, "--workspace", ws)
	for _, dep := range after.Dependents {
		if dep.Name == "framework" && (dep.Status != plan.Current || dep.BuiltOn != runtimeV2) {
			t.Errorf("framework after the rebase: %s/%s on %s, want current on %s", dep.Status, dep.Evidence, dep.BuiltOn, runtimeV2)
		}
	}
	var again report.Run
	cascadeJSON(t, ctx, env, &again, "run", "--image", runtime, "--workspace", ws, "--github-api-url", gh.URL)
	for _, o := range again.Dispatches {
		if o.Status == "dispatched" {
			t.Errorf("the re-run dispatched %s (%s)", o.Name, o.Kind)
		}
	}
	if n := len(gh.RepositoryDispatches()); n != 2 {
		t.Errorf("%d repository dispatches after the re-run, want 2", n)
	}
	t.Logf("   re-run: %v", outcomes(again))
}

// dispatchPayload is the part of a repository_dispatch client_payload the
// chain assertions look at.
type dispatchPayload struct {
	Dependent string
	Ref       string
	Depth     int
	Chain     []string
}

func (p *dispatchPayload) UnmarshalJSON(data []byte) error {
	var raw struct {
		Dependent, Ref string
		Cascade        struct {
			Depth int
			Chain []string
		}
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	*p = dispatchPayload{Dependent: raw.Dependent, Ref: raw.Ref, Depth: raw.Cascade.Depth, Chain: raw.Cascade.Chain}
	return nil
}

// buildIndex builds contextDir once per platform (format "oci" or
// "docker"), pushes each as tag-<arch>, assembles an index (an OCI image
// index or a Docker manifest list) of the two with go-containerregistry,
// pushes it as tag and returns its digest.
func buildIndex(t testing.TB, ctx context.Context, b *testenv.Buildah, contextDir, tag, format string, args map[string]string) string {
	t.Helper()
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	if format == "docker" {
		idx = mutate.IndexMediaType(empty.Index, types.DockerManifestList)
	}
	for _, platform := range platforms {
		os, arch, _ := strings.Cut(platform, "/")
		ref := strings.TrimSuffix(tag, ":latest") + ":" + arch
		buildPush(t, ctx, b, contextDir, ref, testenv.BuildOptions{Platform: platform, Format: format, BuildArgs: args})
		r, err := name.ParseReference(ref, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		img, err := remote.Image(r, remote.WithContext(ctx))
		if err != nil {
			t.Fatalf("reading %s: %v", ref, err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: os, Architecture: arch}}})
	}
	r, err := name.ParseReference(tag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(r, idx, remote.WithContext(ctx)); err != nil {
		t.Fatalf("pushing the index %s: %v", tag, err)
	}
	d, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}
