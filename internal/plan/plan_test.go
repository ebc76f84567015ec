package plan

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/imagecascade/cascade/internal/graph"
	"github.com/imagecascade/cascade/internal/imageref"
	"github.com/imagecascade/cascade/internal/registry"
)

func dg(c byte) imageref.Digest {
	return imageref.Digest("sha256:" + strings.Repeat(string(c), 64))
}

var (
	baseRef = imageref.MustParse("reg.io/acme/base:latest")
	newD    = dg('1')
	oldD    = dg('2')
	l1, l2  = dg('a'), dg('b') // base layers (new)
	l2old   = dg('c')          // old base's second layer
	l3      = dg('d')          // the dependent's own layer
)

func ann(d imageref.Digest) map[string]string {
	return map[string]string{registry.BaseDigestKey: string(d), registry.BaseNameKey: "reg.io/acme/base:latest"}
}

func single(m registry.Manifest) *registry.Image {
	return &registry.Image{Ref: imageref.MustParse("reg.io/acme/app:latest"), Digest: dg('9'), Manifest: m}
}

func TestDecideSingle(t *testing.T) {
	t.Parallel()
	base := Base{Ref: baseRef, Digest: newD, Detail: &registry.Image{Ref: baseRef, Digest: newD, Manifest: registry.Manifest{Layers: []imageref.Digest{l1, l2}}}}
	noPin := imageref.MustParse("reg.io/acme/base")
	tests := []struct {
		name string
		base Base
		m    registry.Manifest
		pin  imageref.Ref
		want Status
		ev   Evidence
	}{
		{"annotation new", base, registry.Manifest{Annotations: ann(newD)}, noPin, Current, EvidenceAnnotation},
		{"annotation old", base, registry.Manifest{Annotations: ann(oldD)}, noPin, Stale, EvidenceAnnotation},
		{"annotation beats layers", base, registry.Manifest{Annotations: ann(oldD), Layers: []imageref.Digest{l1, l2, l3}}, noPin, Stale, EvidenceAnnotation},
		{"label new", base, registry.Manifest{Labels: ann(newD), LabelsFetched: true}, noPin, Current, EvidenceLabel},
		{"label old", base, registry.Manifest{Labels: ann(oldD), LabelsFetched: true}, noPin, Stale, EvidenceLabel},
		{"annotation for another base is ignored", base, registry.Manifest{Annotations: map[string]string{registry.BaseDigestKey: string(oldD), registry.BaseNameKey: "reg.io/acme/base-other"}, Layers: []imageref.Digest{l1, l2, l3}}, noPin, Current, EvidenceLayers},
		{"layer prefix", base, registry.Manifest{Layers: []imageref.Digest{l1, l2, l3}}, noPin, Current, EvidenceLayers},
		{"older lineage", base, registry.Manifest{Layers: []imageref.Digest{l1, l2old, l3}}, noPin, Stale, EvidenceLayers},
		{"dockerfile pin old", base, registry.Manifest{Layers: []imageref.Digest{l3}}, imageref.MustParse("reg.io/acme/base@" + string(oldD)), Stale, EvidenceDockerfile},
		{"dockerfile pin new", base, registry.Manifest{Layers: []imageref.Digest{l3}}, imageref.MustParse("reg.io/acme/base:latest@" + string(newD)), Current, EvidenceDockerfile},
		{"no evidence", base, registry.Manifest{Layers: []imageref.Digest{l3}}, noPin, Unknown, EvidenceNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, _ := Decide(tt.base, single(tt.m), tt.pin)
			if v.Status != tt.want || v.Evidence != tt.ev {
				t.Errorf("Decide = %s/%s (%s), want %s/%s", v.Status, v.Evidence, v.Reason, tt.want, tt.ev)
			}
		})
	}
}

// TestR04_MultiArch: index and platform digests are compared like with like.
func TestR04_MultiArch(t *testing.T) {
	t.Parallel()
	amdNew, armNew := dg('3'), dg('4')
	baseIdx := &registry.Image{Ref: baseRef, Digest: newD, Index: true, Platforms: []registry.Platform{
		{Platform: "linux/amd64", Digest: amdNew, Manifest: registry.Manifest{Layers: []imageref.Digest{l1}}},
		{Platform: "linux/arm64", Digest: armNew, Manifest: registry.Manifest{Layers: []imageref.Digest{l2}}},
	}}
	base := Base{Ref: baseRef, Digest: newD, Index: true, Detail: baseIdx}
	pin := imageref.MustParse("reg.io/acme/base")
	depIdx := func(amd, arm registry.Manifest) *registry.Image {
		return &registry.Image{Ref: imageref.MustParse("reg.io/acme/app:latest"), Digest: dg('9'), Index: true, Platforms: []registry.Platform{
			{Platform: "linux/amd64", Digest: dg('5'), Manifest: amd},
			{Platform: "linux/arm64", Digest: dg('6'), Manifest: arm},
		}}
	}
	tests := []struct {
		name      string
		dep       *registry.Image
		want      Status
		platforms []Status
	}{
		{"each platform on its own new manifest", depIdx(registry.Manifest{Annotations: ann(amdNew)}, registry.Manifest{Annotations: ann(armNew)}), Current, []Status{Current, Current}},
		{"platforms recording the index digest", depIdx(registry.Manifest{Annotations: ann(newD)}, registry.Manifest{Annotations: ann(newD)}), Current, []Status{Current, Current}},
		{"one platform old", depIdx(registry.Manifest{Annotations: ann(amdNew)}, registry.Manifest{Annotations: ann(oldD)}), Stale, []Status{Current, Stale}},
		{"platforms swapped are never current", depIdx(registry.Manifest{Annotations: ann(armNew)}, registry.Manifest{Annotations: ann(amdNew)}), Stale, []Status{Stale, Stale}},
		{"layers per platform", depIdx(registry.Manifest{Layers: []imageref.Digest{l1, l3}}, registry.Manifest{Layers: []imageref.Digest{l2, l3}}), Current, []Status{Current, Current}},
		{"layers of the other platform do not count", depIdx(registry.Manifest{Layers: []imageref.Digest{l2, l3}}, registry.Manifest{Layers: []imageref.Digest{l2, l3}}), Unknown, []Status{Unknown, Current}},
		{"index annotation", &registry.Image{Ref: imageref.MustParse("reg.io/acme/app"), Index: true, Manifest: registry.Manifest{Annotations: ann(newD)},
			Platforms: []registry.Platform{{Platform: "linux/amd64", Digest: dg('5')}}}, Current, []Status{Current}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, pvs := Decide(base, tt.dep, pin)
			if v.Status != tt.want {
				t.Errorf("status = %s (%s), want %s", v.Status, v.Reason, tt.want)
			}
			var got []Status
			for _, p := range pvs {
				got = append(got, p.Status)
			}
			if diff := cmp.Diff(tt.platforms, got); diff != "" {
				t.Errorf("platform statuses (-want +got):\n%s", diff)
			}
		})
	}
	// A single-platform image on a multi-arch base may record the index or
	// one platform's manifest.
	if v, _ := Decide(base, single(registry.Manifest{Annotations: ann(armNew)}), pin); v.Status != Current {
		t.Errorf("single on platform digest: %s (%s), want current", v.Status, v.Reason)
	}
}

func TestNeedsDetail(t *testing.T) {
	t.Parallel()
	b := Base{Ref: baseRef, Digest: newD}
	if NeedsDetail(b, single(registry.Manifest{Annotations: ann(newD)})) {
		t.Error("annotation with the new digest should need no base manifest")
	}
	if NeedsDetail(b, single(registry.Manifest{Annotations: ann(oldD)})) {
		t.Error("annotation with an old digest of a single-platform base should need no base manifest")
	}
	if !NeedsDetail(b, single(registry.Manifest{Layers: []imageref.Digest{l1}})) {
		t.Error("layer evidence needs the base's layers")
	}
	b.Index = true
	if !NeedsDetail(b, single(registry.Manifest{Annotations: ann(oldD)})) {
		t.Error("a digest other than the index's may be a platform's: needs the index")
	}
}

func TestBuildTransitiveAndActions(t *testing.T) {
	t.Parallel()
	g, err := graph.New([]graph.Image{
		{Name: "base", Ref: baseRef},
		{Name: "app-a", Ref: imageref.MustParse("reg.io/acme/app-a:latest"), Bases: []graph.Base{{Ref: baseRef}}},
		{Name: "app-b", Ref: imageref.MustParse("reg.io/acme/app-b:latest"), Bases: []graph.Base{{Ref: baseRef}}},
		{Name: "app-c", Ref: imageref.MustParse("reg.io/acme/app-c:latest"), Bases: []graph.Base{{Ref: baseRef}}},
		{Name: "app-x", Ref: imageref.MustParse("reg.io/acme/app-x:latest"), Bases: []graph.Base{{Ref: baseRef}}},
		{Name: "worker", Ref: imageref.MustParse("reg.io/acme/worker:latest"), Bases: []graph.Base{{Ref: imageref.MustParse("reg.io/acme/app-a")}}},
		{Name: "cron", Ref: imageref.MustParse("reg.io/acme/cron:latest"), Bases: []graph.Base{{Ref: imageref.MustParse("reg.io/acme/app-b")}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	updated := imageref.MustParse("reg.io/acme/base:latest@" + string(newD))
	roots := g.Roots(updated)
	appB := &registry.Image{Ref: imageref.MustParse("reg.io/acme/app-b:latest"), Digest: dg('7'), Manifest: registry.Manifest{Annotations: ann(newD)}}
	in := Input{
		Updated: updated, Base: Base{Ref: updated, Digest: newD}, Roots: roots, Dependents: g.Dependents(roots),
		Images: map[string]*registry.Image{
			"app-a": single(registry.Manifest{Annotations: ann(oldD)}),
			"app-b": appB,
			"app-c": single(registry.Manifest{Layers: []imageref.Digest{l3}}),
			"worker": single(registry.Manifest{Annotations: map[string]string{registry.BaseDigestKey: string(dg('8')),
				registry.BaseNameKey: "reg.io/acme/app-a"}}),
			"cron": single(registry.Manifest{Annotations: map[string]string{registry.BaseDigestKey: string(dg('7')),
				registry.BaseNameKey: "reg.io/acme/app-b:latest"}}),
		},
		Rebuild:    map[string]string{"app-a": "github", "app-b": "tekton"},
		DeclaredBy: map[string]string{"app-b": "tekton:ci/app-b-build", "cron": "github:acme/cron@0123456789ab"},
	}
	p := Build(in)
	got := map[string]string{}
	declared := map[string]string{}
	for _, d := range p.Dependents {
		got[d.Name] = string(d.Status) + "/" + string(d.Action) + "/" + d.Via
		declared[d.Name] = d.DeclaredBy
	}
	wantDeclared := map[string]string{"app-a": "config", "app-b": "tekton:ci/app-b-build", "app-c": "config", "app-x": "config",
		"worker": "config", "cron": "github:acme/cron@0123456789ab"}
	if diff := cmp.Diff(wantDeclared, declared); diff != "" {
		t.Errorf("declaredBy (-want +got):\n%s", diff)
	}
	want := map[string]string{
		"app-a":  "stale/dispatch/",
		"app-b":  "current/skip/",
		"app-c":  "unknown/hold/",
		"app-x":  "unknown/hold/",
		"worker": "stale/cascade/app-a",
		"cron":   "current/skip/",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(Summary{Dependents: 6, Stale: 2, Current: 2, Unknown: 2, Dispatches: 1}, p.Summary); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
	in.DispatchUnknown = true
	if got := Build(in).Summary.Dispatches; got != 3 {
		t.Errorf("with --dispatch-unknown, dispatches = %d, want 3", got)
	}
	if err := Build(in).CheckBlastRadius(2); err == nil {
		t.Error("blast radius of 3 over a limit of 2 should be refused")
	}
}

// TestCarried: decided on its bases, a dependent is carried when a
// base of it is dispatched or itself carried — with --dispatch-unknown an
// unknown base counts — and the plan reports the digest of a carried
// dependent from Digests, with the same verdict as when inspected.
func TestCarried(t *testing.T) {
	t.Parallel()
	ref := func(n string) imageref.Ref { return imageref.MustParse("reg.io/acme/" + n + ":latest") }
	img := func(n string, m registry.Manifest) *registry.Image {
		return &registry.Image{Ref: ref(n), Digest: dg('9'), Manifest: m}
	}
	g, err := graph.New([]graph.Image{
		{Name: "base", Ref: baseRef},
		{Name: "stale", Ref: ref("stale"), Bases: []graph.Base{{Ref: baseRef}}},
		{Name: "current", Ref: ref("current"), Bases: []graph.Base{{Ref: baseRef}}},
		{Name: "unknown", Ref: ref("unknown"), Bases: []graph.Base{{Ref: baseRef}}},
		{Name: "on-stale", Ref: ref("on-stale"), Bases: []graph.Base{{Ref: ref("stale")}}},
		{Name: "on-current", Ref: ref("on-current"), Bases: []graph.Base{{Ref: ref("current")}}},
		{Name: "on-unknown", Ref: ref("on-unknown"), Bases: []graph.Base{{Ref: ref("unknown")}}},
		{Name: "on-both", Ref: ref("on-both"), Bases: []graph.Base{{Ref: ref("current")}, {Ref: ref("stale")}}},
		{Name: "deep", Ref: ref("deep"), Bases: []graph.Base{{Ref: ref("on-stale")}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	updated := imageref.MustParse("reg.io/acme/base:latest@" + string(newD))
	roots := g.Roots(updated)
	deps := g.Dependents(roots)
	in := Input{
		Updated: updated, Base: Base{Ref: updated, Digest: newD}, Roots: roots,
		Images: map[string]*registry.Image{
			"stale":   img("stale", registry.Manifest{Annotations: ann(oldD)}),
			"current": img("current", registry.Manifest{Annotations: ann(newD)}),
			"unknown": img("unknown", registry.Manifest{}),
		},
	}
	for _, dispatchUnknown := range []bool{false, true} {
		in.DispatchUnknown = dispatchUnknown
		dec := NewDecider(&in)
		for _, gd := range deps[:3] { // the first tier
			dec.Decide(gd)
		}
		got := map[string]bool{}
		for _, gd := range deps[3:7] {
			got[gd.Node.ID] = dec.Carried(gd)
		}
		want := map[string]bool{"on-stale": true, "on-current": false, "on-unknown": dispatchUnknown, "on-both": true}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("dispatchUnknown=%v: carried (-want +got):\n%s", dispatchUnknown, diff)
		}
	}
	in.DispatchUnknown = false
	in.Dependents = deps
	in.Images["on-current"] = img("on-current", registry.Manifest{})
	in.Images["on-unknown"] = img("on-unknown", registry.Manifest{})
	in.Digests = map[string]imageref.Digest{"on-stale": dg('5'), "on-both": dg('6')} // "deep": not found
	byName := map[string]Dependent{}
	for _, d := range Build(in).Dependents {
		byName[d.Name] = d
	}
	for name, want := range map[string]string{"on-stale": string(dg('5')), "on-both": string(dg('6')), "deep": ""} {
		d := byName[name]
		if d.Digest != want || d.Status != Stale || d.Action != ActionCascade {
			t.Errorf("%s: digest %q, %s/%s; want %q, stale/cascade", name, d.Digest, d.Status, d.Action, want)
		}
	}
}

// TestJSONShapeIsStable: every dependent of the JSON plan has the same
// keys, whatever its verdict — empty strings and lists, never missing keys.
func TestJSONShapeIsStable(t *testing.T) {
	t.Parallel()
	for _, d := range []Dependent{
		{Name: "current", Status: Current, Action: ActionSkip, Platforms: []Platform{}},
		{Name: "carried", Status: Stale, Action: ActionCascade, Via: "x", Platforms: []Platform{}},
		decideDependent(Input{}, graph.Dependent{Node: &graph.Node{ID: "unknown"}}, nil, map[string]Action{}),
	} {
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		var keys []string
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		want := []string{"action", "base", "builtOn", "declaredBy", "depth", "digest", "evidence", "image", "name", "platforms", "reason", "rebuild", "status", "via"}
		if diff := cmp.Diff(want, keys); diff != "" {
			t.Errorf("%s: keys (-want +got):\n%s", d.Name, diff)
		}
		if string(m["platforms"]) != "[]" {
			t.Errorf("%s: platforms = %s, want []", d.Name, m["platforms"])
		}
	}
}

// TestPlatformReasonComparesLikeWithLike: a stale platform's reason names
// the base's manifest of that platform, not the index digest.
func TestPlatformReasonComparesLikeWithLike(t *testing.T) {
	t.Parallel()
	base := Base{Ref: baseRef, Digest: dg('i'), Index: true, Detail: &registry.Image{Index: true, Platforms: []registry.Platform{
		{Platform: "linux/amd64", Digest: dg('a')}, {Platform: "linux/arm64", Digest: dg('b')}}}}
	v := compareDigest(base, "linux/amd64", dg('o'), EvidenceAnnotation)
	want := "built on " + dg('o').Short() + ", the base's linux/amd64 manifest is now " + dg('a').Short() + " (index " + dg('i').Short() + ")"
	if v.Status != Stale || v.Reason != want {
		t.Errorf("verdict %+v, want stale with %q", v, want)
	}
}
