package engine

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imagecascade/cascade/internal/config"
	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/imageref"
	"github.com/imagecascade/cascade/internal/imagetest"
	"github.com/imagecascade/cascade/internal/plan"
	"github.com/imagecascade/cascade/internal/registry"
)

// counter counts requests by "METHOD kind repo" where kind is manifests or
// blobs, and everything else by "METHOD path".
type counter struct {
	mu sync.Mutex
	n  map[string]int
	rt http.RoundTripper
}

func (c *counter) RoundTrip(r *http.Request) (*http.Response, error) {
	key := r.Method + " " + r.URL.Path
	if i := strings.Index(r.URL.Path, "/manifests/"); i > 0 {
		key = r.Method + " manifests " + strings.TrimPrefix(r.URL.Path[:i], "/v2/")
	} else if i := strings.Index(r.URL.Path, "/blobs/"); i > 0 {
		key = r.Method + " blobs " + strings.TrimPrefix(r.URL.Path[:i], "/v2/")
	}
	c.mu.Lock()
	c.n[key]++
	c.mu.Unlock()
	return c.rt.RoundTrip(r)
}

func (c *counter) reset() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.n
	c.n = map[string]int{}
	return out
}

type fixture struct {
	*imagetest.Registry
	t     *testing.T
	host  string
	count *counter
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	r := imagetest.NewRegistry(t)
	return &fixture{Registry: r, t: t, host: r.Host, count: &counter{n: map[string]int{}, rt: http.DefaultTransport}}
}

func (f *fixture) push(repo string, img v1.Image) v1.Hash { return f.Push(repo, img) }

func (f *fixture) pushIndex(repo string, idx v1.ImageIndex) v1.Hash {
	f.t.Helper()
	r, err := name.ParseReference(f.Ref(repo))
	if err != nil {
		f.t.Fatal(err)
	}
	if err := remote.WriteIndex(r, idx); err != nil {
		f.t.Fatal(err)
	}
	d, _ := idx.Digest()
	return d
}

func (f *fixture) ref(repo string) string { return f.Ref(repo) }

var (
	oci       = imagetest.OCI
	layer     = func(t *testing.T) v1.Layer { return imagetest.Layer(t) }
	on        = func(t *testing.T, base v1.Image) v1.Image { return imagetest.On(t, base) }
	annotated = imagetest.Annotated
)

func (f *fixture) engine(cfgYAML string) *Engine {
	f.t.Helper()
	cfg, err := config.Parse([]byte(strings.ReplaceAll(cfgYAML, "HOST", f.host)), "cascade.yaml")
	if err != nil {
		f.t.Fatal(err)
	}
	res, err := registry.New(registry.WithTransport(f.count), registry.WithKeychain(authn.NewMultiKeychain()), registry.WithAllow(cfg.Registries.Allow))
	if err != nil {
		f.t.Fatal(err)
	}
	return &Engine{Config: cfg, Workspace: f.t.TempDir(), Resolver: res}
}

func labelled(t *testing.T, img v1.Image, baseName string, d v1.Hash) v1.Image {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg := cf.Config
	cfg.Labels = map[string]string{registry.BaseNameKey: baseName, registry.BaseDigestKey: d.String()}
	out, err := mutate.Config(img, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

const singleConfig = `version: 1
images:
  - {name: base, image: HOST/base:latest, rebuild: {rebase: {}}}
  - {name: ann-new, image: HOST/ann-new:latest, from: [HOST/base], rebuild: {rebase: {}}}
  - {name: ann-old, image: HOST/ann-old:latest, from: [HOST/base], rebuild: {rebase: {}}}
  - {name: label-old, image: HOST/label-old:latest, from: [HOST/base], rebuild: {rebase: {}}}
  - {name: layers-new, image: HOST/layers-new:latest, from: [HOST/base], rebuild: {rebase: {}}}
  - {name: layers-old, image: HOST/layers-old:latest, from: [HOST/base], rebuild: {rebase: {}}}
  - {name: nothing, image: HOST/nothing:latest, from: [HOST/base], rebuild: {rebase: {}}}
  - {name: missing, image: HOST/missing:latest, from: [HOST/base], rebuild: {rebase: {}}}
  - {name: child, image: HOST/child:latest, from: [HOST/ann-old], rebuild: {rebase: {}}}
`

// TestPlanEvidence covers each kind of evidence on a real (in-process)
// registry with images built by mutate, and counts the registry requests.
func TestPlanEvidence(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	root := oci(mutate.MediaType(empty.Image, types.OCIManifestSchema1))
	root, _ = mutate.AppendLayers(root, layer(t))
	v1img := on(t, root)
	v1d := f.push("base", v1img)
	baseName := f.ref("base:latest")
	f.push("ann-old", annotated(on(t, v1img), baseName, v1d))
	f.push("label-old", labelled(t, on(t, v1img), baseName, v1d))
	f.push("layers-old", on(t, v1img))
	f.push("nothing", on(t, root)) // shares only the root layer... see below
	v2img := on(t, root)
	v2d := f.push("base", v2img)
	f.push("ann-new", annotated(on(t, v2img), baseName, v2d))
	f.push("layers-new", on(t, v2img))
	// An image with no annotation, no label and no layer in common.
	unrelated, _ := random.Image(64, 2)
	f.push("nothing", unrelated)
	f.push("child", annotated(on(t, v1img), f.ref("ann-old:latest"), v1d))

	e := f.engine(singleConfig)
	f.count.reset()
	p, err := e.Plan(context.Background(), imageref.MustParse(baseName), PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, d := range p.Dependents {
		got[d.Name] = fmt.Sprintf("%s/%s/%s", d.Status, d.Evidence, d.Action)
	}
	want := map[string]string{
		"ann-new":    "current/annotation/skip",
		"ann-old":    "stale/annotation/dispatch",
		"label-old":  "stale/label/dispatch",
		"layers-new": "current/layers/skip",
		"layers-old": "stale/layers/dispatch",
		"nothing":    "unknown/none/hold",
		"missing":    "unknown/not-found/hold",
		"child":      "stale/transitive/cascade",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	if p.Digest != v2d.String() {
		t.Errorf("plan digest = %s, want %s", p.Digest, v2d)
	}

	// Requests: one HEAD for the updated image; one manifest GET per
	// dependent, but a HEAD for child, whose base ann-old is rebuilt (its
	// manifest decides nothing, the plan reports its digest); the base's
	// manifest once because layer evidence needs it; config blobs only for
	// dependents without base annotations.
	n := f.count.reset()
	if got := n["HEAD manifests base"]; got != 1 {
		t.Errorf("HEAD base = %d, want 1", got)
	}
	if got := n["GET manifests base"]; got != 1 {
		t.Errorf("GET base manifest = %d, want 1 (layers needed)", got)
	}
	for _, dep := range []string{"ann-new", "ann-old", "label-old", "layers-new", "layers-old", "nothing", "missing", "child"} {
		get, head := 1, 0
		if dep == "child" {
			get, head = 0, 1
		}
		if got := n["GET manifests "+dep]; got != get {
			t.Errorf("GET manifests %s = %d, want %d", dep, got, get)
		}
		if got := n["HEAD manifests "+dep]; got != head {
			t.Errorf("HEAD manifests %s = %d, want %d", dep, got, head)
		}
	}
	for _, d := range p.Dependents {
		if d.Name == "child" && d.Digest == "" {
			t.Error("child: no digest in the plan (resolved with HEAD)")
		}
	}
	for _, dep := range []string{"ann-new", "ann-old", "child"} {
		if got := n["GET blobs "+dep]; got != 0 {
			t.Errorf("GET blobs %s = %d, want 0 (annotations suffice)", dep, got)
		}
	}
	// One session for the registry: go-containerregistry pings a
	// loopback (insecure) registry once per scheme, https and http, in
	// parallel — never once per repository.
	if got := n["GET /v2/"]; got > 2 {
		t.Errorf("pings = %d, want at most 2 (one session per registry)", got)
	}
	total := 0
	for _, v := range n {
		total += v
	}
	t.Logf("requests: %d total: %v", total, n)
}

// TestPlanAnnotationsOnlyIsOneHeadPlusOneGetEach: when every dependent
// records its base, the updated image costs one HEAD and nothing else.
func TestPlanAnnotationsOnlyIsOneHeadPlusOneGetEach(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	base := on(t, oci(empty.Image))
	d := f.push("base", base)
	cfg := "version: 1\nimages:\n  - {name: base, image: HOST/base:latest, rebuild: {rebase: {}}}\n"
	for i := range 20 {
		f.push(fmt.Sprintf("app%d", i), annotated(on(t, base), f.ref("base:latest"), d))
		cfg += fmt.Sprintf("  - {name: app%d, image: HOST/app%d:latest, from: [HOST/base], rebuild: {rebase: {}}}\n", i, i)
	}
	e := f.engine(cfg)
	f.count.reset()
	p, err := e.Plan(context.Background(), imageref.MustParse(f.ref("base:latest")), PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Summary.Current != 20 {
		t.Errorf("current = %d, want 20", p.Summary.Current)
	}
	n := f.count.reset()
	total := 0
	for k, v := range n {
		if k != "GET /v2/" {
			total += v
		}
	}
	if total != 21 || n["HEAD manifests base"] != 1 {
		t.Errorf("requests = %d (%v), want 21: 1 HEAD + 20 manifest GETs", total, n)
	}
}

// TestR04_MultiArchOnRegistry: a multi-arch base and dependent with
// per-platform annotations and an attestation entry.
func TestR04_MultiArchOnRegistry(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	amd := on(t, oci(empty.Image))
	arm := on(t, oci(empty.Image))
	attest := on(t, oci(empty.Image))
	plat := func(os, arch string) *v1.Platform { return &v1.Platform{OS: os, Architecture: arch} }
	baseIdx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: plat("linux", "amd64")}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: plat("linux", "arm64")}},
		mutate.IndexAddendum{Add: attest, Descriptor: v1.Descriptor{Platform: plat("unknown", "unknown"),
			Annotations: map[string]string{"vnd.docker.reference.type": "attestation-manifest"}}},
	)
	baseD := f.pushIndex("base", baseIdx)
	amdD, _ := amd.Digest()
	armD, _ := arm.Digest()
	baseName := f.ref("base:latest")
	oldD := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("0", 64)}

	depIdx := func(amdBase, armBase v1.Hash) v1.ImageIndex {
		return mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
			mutate.IndexAddendum{Add: annotated(on(t, amd), baseName, amdBase), Descriptor: v1.Descriptor{Platform: plat("linux", "amd64")}},
			mutate.IndexAddendum{Add: annotated(on(t, arm), baseName, armBase), Descriptor: v1.Descriptor{Platform: plat("linux", "arm64")}},
			mutate.IndexAddendum{Add: on(t, attest), Descriptor: v1.Descriptor{Platform: plat("unknown", "unknown")}},
		)
	}
	f.pushIndex("current", depIdx(amdD, armD))
	f.pushIndex("half", depIdx(amdD, oldD))
	f.pushIndex("swapped", depIdx(armD, amdD))
	cfg := `version: 1
images:
  - {name: base, image: HOST/base:latest, rebuild: {rebase: {}}}
  - {name: current, image: HOST/current:latest, from: [HOST/base], rebuild: {rebase: {}}}
  - {name: half, image: HOST/half:latest, from: [HOST/base], rebuild: {rebase: {}}}
  - {name: swapped, image: HOST/swapped:latest, from: [HOST/base], rebuild: {rebase: {}}}
`
	e := f.engine(cfg)
	f.count.reset()
	p, err := e.Plan(context.Background(), imageref.MustParse(baseName), PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Index || p.Digest != baseD.String() {
		t.Errorf("plan index=%v digest=%s, want index %s", p.Index, p.Digest, baseD)
	}
	got := map[string][]string{}
	for _, d := range p.Dependents {
		s := []string{string(d.Status)}
		for _, pl := range d.Platforms {
			s = append(s, pl.Platform+"="+string(pl.Status))
		}
		got[d.Name] = s
	}
	want := map[string][]string{
		"current": {"current", "linux/amd64=current", "linux/arm64=current"},
		"half":    {"stale", "linux/amd64=current", "linux/arm64=stale"},
		"swapped": {"stale", "linux/amd64=stale", "linux/arm64=stale"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("platform verdicts (-want +got):\n%s", diff)
	}
	// 1 HEAD + base index + 2 base platforms; per dependent 1 index + 2
	// platforms; attestation manifests never fetched.
	n := f.count.reset()
	manifests := 0
	for k, v := range n {
		if strings.Contains(k, " manifests ") {
			manifests += v
		}
	}
	if want := 1 + 3 + 3*3; manifests != want {
		t.Errorf("manifest requests = %d, want %d: %v", manifests, want, n)
	}
}

func TestPlanRefusals(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := f.engine(`version: 1
registries: {allow: [other.example.com]}
images:
  - {name: base, image: HOST/base:latest, rebuild: {rebase: {}}}
  - {name: app, image: HOST/app:latest, from: [HOST/base], rebuild: {rebase: {}}}
`)
	f.count.reset()
	_, err := e.Plan(context.Background(), imageref.MustParse(f.ref("base:latest")), PlanOptions{})
	if exitcode.Of(err) != exitcode.Refused {
		t.Errorf("host off the allowlist: %v (exit %d), want exit 5", err, exitcode.Of(err))
	}
	if n := f.count.reset(); len(n) != 0 {
		t.Errorf("requests made to a host not allowed: %v", n)
	}

	cyc := f.engine(`version: 1
images:
  - {name: a, image: HOST/a:latest, from: [HOST/b], rebuild: {rebase: {}}}
  - {name: b, image: HOST/b:latest, from: [HOST/a], rebuild: {rebase: {}}}
`)
	_, err = cyc.Plan(context.Background(), imageref.MustParse(f.ref("a:latest")), PlanOptions{})
	if exitcode.Of(err) != exitcode.Refused || !strings.Contains(err.Error(), "a -> b -> a") {
		t.Errorf("cycle: %v, want exit 5 naming a -> b -> a", err)
	}
	if n := f.count.reset(); len(n) != 0 {
		t.Errorf("requests made despite a cycle: %v", n)
	}
}

// TestPlanReadsTierByTier: a dependent whose base in the cascade is
// rebuilt is resolved with one HEAD (an index too: no platform manifests),
// the others inspected against the tier above; the verdicts are those of
// inspecting everything. With --dispatch-unknown an unknown base is
// rebuilt, so what is built on it needs only a HEAD as well.
func TestPlanReadsTierByTier(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	v1img := on(t, oci(empty.Image))
	v1d := f.push("base", v1img)
	v2img := on(t, oci(empty.Image))
	v2d := f.push("base", v2img)
	baseName := f.ref("base:latest")
	named := func(repo string) string { return f.ref(repo + ":latest") }

	stale := annotated(on(t, v1img), baseName, v1d) // built on the old base
	staleD := f.push("stale", stale)
	f.push("carried", annotated(on(t, stale), named("stale"), staleD))
	carriedIdx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: annotated(on(t, stale), named("stale"), staleD), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: annotated(on(t, stale), named("stale"), staleD), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}})
	f.pushIndex("carried-index", carriedIdx)
	cur := annotated(on(t, v2img), baseName, v2d)
	curD := f.push("current", cur)
	f.push("on-current", annotated(on(t, cur), named("current"), curD))
	old := annotated(on(t, cur), named("current"), v1d) // an older build of current
	oldD := f.push("behind", old)
	f.push("on-behind", annotated(on(t, old), named("behind"), oldD))
	unknown, _ := random.Image(64, 1)
	unknownD := f.push("unknown", unknown)
	f.push("on-unknown", annotated(on(t, unknown), named("unknown"), unknownD))

	cfg := `version: 1
images:
  - {name: base, image: HOST/base:latest, rebuild: {rebase: {}}}
  - {name: stale, image: HOST/stale:latest, from: [HOST/base], rebuild: {rebase: {}}}
  - {name: carried, image: HOST/carried:latest, from: [HOST/stale], rebuild: {rebase: {}}}
  - {name: carried-index, image: HOST/carried-index:latest, from: [HOST/stale], rebuild: {rebase: {}}}
  - {name: current, image: HOST/current:latest, from: [HOST/base], rebuild: {rebase: {}}}
  - {name: on-current, image: HOST/on-current:latest, from: [HOST/current], rebuild: {rebase: {}}}
  - {name: behind, image: HOST/behind:latest, from: [HOST/current], rebuild: {rebase: {}}}
  - {name: on-behind, image: HOST/on-behind:latest, from: [HOST/behind], rebuild: {rebase: {}}}
  - {name: unknown, image: HOST/unknown:latest, from: [HOST/base], rebuild: {rebase: {}}}
  - {name: on-unknown, image: HOST/on-unknown:latest, from: [HOST/unknown], rebuild: {rebase: {}}}
`
	for _, dispatchUnknown := range []bool{false, true} {
		t.Run(fmt.Sprint("dispatchUnknown=", dispatchUnknown), func(t *testing.T) {
			e := f.engine(cfg)
			f.count.reset()
			p, err := e.Plan(context.Background(), imageref.MustParse(baseName), PlanOptions{DispatchUnknown: dispatchUnknown})
			if err != nil {
				t.Fatal(err)
			}
			n := f.count.reset()
			got := map[string]string{}
			for _, d := range p.Dependents {
				got[d.Name] = fmt.Sprintf("%s/%s %dH %dG", d.Action, d.Evidence, n["HEAD manifests "+d.Name], n["GET manifests "+d.Name])
				if d.Digest == "" {
					t.Errorf("%s: no digest in the plan", d.Name)
				}
			}
			onUnknown := "skip/annotation 0H 1G"
			if dispatchUnknown {
				onUnknown = "cascade/transitive 1H 0G"
			}
			want := map[string]string{
				"stale":         "dispatch/annotation 0H 1G",
				"carried":       "cascade/transitive 1H 0G",
				"carried-index": "cascade/transitive 1H 0G",
				"current":       "skip/annotation 0H 1G",
				"on-current":    "skip/annotation 0H 1G",
				"behind":        "dispatch/annotation 0H 1G",
				"on-behind":     "cascade/transitive 1H 0G",
				"unknown":       map[bool]string{false: "hold/none 0H 1G", true: "dispatch/none 0H 1G"}[dispatchUnknown],
				"on-unknown":    onUnknown,
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("actions and requests (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPlanBaseDetailForDeeperDependents: an image built on the updated
// image and on a dependent of it sits in the second tier, yet is compared
// with the updated image too; when that takes the base's layers, the base
// is inspected for it (once).
func TestPlanBaseDetailForDeeperDependents(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	base := on(t, oci(empty.Image))
	baseD := f.push("base", base)
	baseName := f.ref("base:latest")
	plain := on(t, base)
	f.push("mid", annotated(plain, baseName, baseD))
	f.push("both", on(t, plain)) // no annotation: the base's layers lead its own
	e := f.engine(`version: 1
images:
  - {name: base, image: HOST/base:latest, rebuild: {rebase: {}}}
  - {name: mid, image: HOST/mid:latest, from: [HOST/base], rebuild: {rebase: {}}}
  - {name: both, image: HOST/both:latest, from: [HOST/base, HOST/mid], rebuild: {rebase: {}}}
`)
	f.count.reset()
	p, err := e.Plan(context.Background(), imageref.MustParse(baseName), PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, d := range p.Dependents {
		got[d.Name] = fmt.Sprintf("%d %s/%s", d.Depth, d.Status, d.Evidence)
	}
	want := map[string]string{"mid": "1 current/annotation", "both": "2 current/layers"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	if n := f.count.reset(); n["GET manifests base"] != 1 || n["HEAD manifests base"] != 1 {
		t.Errorf("base requests: %d HEAD, %d GET, want 1 and 1", n["HEAD manifests base"], n["GET manifests base"])
	}
}

// fakeResolver answers from maps, records the order of reads and the most
// reads in flight at once, and fails the refs in fail.
type fakeResolver struct {
	base   registry.Descriptor
	images map[string]*registry.Image // by repository path
	fail   map[string]error
	delay  time.Duration

	mu       sync.Mutex
	order    []string // "HEAD repo" / "GET repo", when each read began
	now, max int
	byTier   map[byte]int // reads in flight by the repository's first letter
	overlap  bool         // a "b" read began while an "a" read was in flight
}

func (f *fakeResolver) begin(kind string, ref imageref.Ref) {
	tier := ref.Repository[0]
	f.mu.Lock()
	if f.byTier == nil {
		f.byTier = map[byte]int{}
	}
	f.order = append(f.order, kind+" "+ref.Repository)
	f.now++
	f.max = max(f.max, f.now)
	f.overlap = f.overlap || (tier == 'b' && f.byTier['a'] > 0)
	f.byTier[tier]++
	f.mu.Unlock()
	if ref.Repository == "a0" {
		time.Sleep(200 * time.Millisecond) // one slow answer in the first tier
	}
	time.Sleep(f.delay)
	f.mu.Lock()
	f.now--
	f.byTier[tier]--
	f.mu.Unlock()
}

func (f *fakeResolver) Head(_ context.Context, ref imageref.Ref) (registry.Descriptor, error) {
	if ref.Repository == "base" {
		return f.base, nil
	}
	f.begin("HEAD", ref)
	if err := f.fail[ref.Repository]; err != nil {
		return registry.Descriptor{}, err
	}
	im, ok := f.images[ref.Repository]
	if !ok {
		return registry.Descriptor{}, fmt.Errorf("%s: %w", ref, registry.ErrNotFound)
	}
	return registry.Descriptor{Digest: im.Digest}, nil
}

func (f *fakeResolver) Inspect(_ context.Context, ref imageref.Ref, _ bool) (*registry.Image, error) {
	f.begin("GET", ref)
	if err := f.fail[ref.Repository]; err != nil {
		return nil, err
	}
	im, ok := f.images[ref.Repository]
	if !ok {
		return nil, fmt.Errorf("%s: %w", ref, registry.ErrNotFound)
	}
	return im, nil
}

// fakeStream is base → a0..a(n-1), each ai → bi → ci; ai is stale when i
// is even, and every image records its parent's digest.
func fakeStream(t *testing.T, n int) (*fakeResolver, string) {
	t.Helper()
	digest := func(s string) imageref.Digest {
		return imageref.Digest(fmt.Sprintf("sha256:%064x", len(s)*7919+int(s[0])*104729+int(s[len(s)-1])))
	}
	f := &fakeResolver{base: registry.Descriptor{Digest: digest("base-new")}, images: map[string]*registry.Image{}, delay: time.Millisecond}
	cfg := "version: 1\nimages:\n  - {name: base, image: reg.example/base:latest, rebuild: {rebase: {}}}\n"
	add := func(name, parent string, builtOn imageref.Digest) {
		f.images[name] = &registry.Image{Ref: imageref.MustParse("reg.example/" + name + ":latest"), Digest: imageref.Digest(fmt.Sprintf("sha256:%064x", len(f.images)+1)),
			Manifest: registry.Manifest{Annotations: map[string]string{registry.BaseNameKey: "reg.example/" + parent + ":latest", registry.BaseDigestKey: string(builtOn)}}}
		cfg += fmt.Sprintf("  - {name: %s, image: reg.example/%s:latest, from: [reg.example/%s:latest], rebuild: {rebase: {}}}\n", name, name, parent)
	}
	old := imageref.Digest("sha256:" + strings.Repeat("0", 64))
	for i := range n {
		a, b, c := fmt.Sprintf("a%d", i), fmt.Sprintf("b%d", i), fmt.Sprintf("c%d", i)
		on := f.base.Digest
		if i%2 == 0 {
			on = old
		}
		add(a, "base", on)
		add(b, a, f.images[a].Digest)
		add(c, b, f.images[b].Digest)
	}
	return f, cfg
}

// TestPlanReadsEachAfterItsBases: every dependent is read after its base
// in the cascade was read (and decided), without waiting for the whole
// tier; reads stay within Concurrency; what a stale base carries is a
// HEAD; and the plan is the one of reading everything.
func TestPlanReadsEachAfterItsBases(t *testing.T) {
	t.Parallel()
	const n = 40
	f, cfgYAML := fakeStream(t, n)
	cfg, err := config.Parse([]byte(cfgYAML), "cascade.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e := &Engine{Config: cfg, Workspace: t.TempDir(), Resolver: f, Concurrency: 4}
	p, err := e.Plan(context.Background(), imageref.MustParse("reg.example/base:latest"), PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Summary != (plan.Summary{Dependents: 3 * n, Stale: 3 * n / 2, Current: 3 * n / 2, Dispatches: n / 2}) {
		t.Errorf("summary %+v", p.Summary)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.max > 4 {
		t.Errorf("%d reads in flight at once, want at most 4", f.max)
	}
	pos := map[string]int{}
	for i, o := range f.order {
		_, repo, _ := strings.Cut(o, " ")
		pos[repo] = i
	}
	heads := 0
	for i := range n {
		a, b, c := fmt.Sprintf("a%d", i), fmt.Sprintf("b%d", i), fmt.Sprintf("c%d", i)
		if !(pos[a] < pos[b] && pos[b] < pos[c]) {
			t.Errorf("%s, %s, %s read at %d, %d, %d: a dependent before its base", a, b, c, pos[a], pos[b], pos[c])
		}
		want := "GET"
		if i%2 == 0 {
			want = "HEAD"
		}
		for _, r := range []string{b, c} {
			if got := f.order[pos[r]]; got != want+" "+r {
				t.Errorf("read %q, want %s %s", got, want, r)
			}
			if want == "HEAD" {
				heads++
			}
		}
	}
	if !f.overlap {
		t.Error("no second-tier read began while first-tier reads were in flight: reads wait for whole tiers")
	}
	if heads != n {
		t.Errorf("%d HEADs, want %d", heads, n)
	}
}

// TestPlanReadFailureStopsAll: a failing read fails the plan, names the
// dependent, and stops the reads still to come.
func TestPlanReadFailureStopsAll(t *testing.T) {
	t.Parallel()
	f, cfgYAML := fakeStream(t, 30)
	f.fail = map[string]error{"a3": fmt.Errorf("registry says no: %w", registry.ErrUnauthorized)}
	cfg, err := config.Parse([]byte(cfgYAML), "cascade.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e := &Engine{Config: cfg, Workspace: t.TempDir(), Resolver: f, Concurrency: 2}
	_, err = e.Plan(context.Background(), imageref.MustParse("reg.example/base:latest"), PlanOptions{})
	if !errors.Is(err, registry.ErrUnauthorized) || !strings.Contains(err.Error(), `"a3"`) {
		t.Fatalf("error %v, want ErrUnauthorized naming a3", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.order) >= 90 {
		t.Errorf("%d reads after the failure of a3: the plan went on", len(f.order))
	}
}
