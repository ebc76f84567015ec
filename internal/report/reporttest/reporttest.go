// Package reporttest holds the one run report the golden tests of every
// output format render (internal/report, internal/action), and the golden
// file helper they share. It is imported by tests only.
package reporttest

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imagecascade/cascade/internal/dispatch"
	"github.com/imagecascade/cascade/internal/imageref"
	"github.com/imagecascade/cascade/internal/manifests"
	"github.com/imagecascade/cascade/internal/plan"
	"github.com/imagecascade/cascade/internal/report"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// Golden compares got with testdata/golden/<name> of the package under test
// and, with -update, rewrites the file instead.
func Golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test with -update to write it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got); if the change is meant, rerun with -update:\n%s", path, diff)
	}
}

// digest is a fixed digest built from a short tag, so goldens are stable
// and tell the digests apart.
func digest(tag string) string {
	return "sha256:" + tag + strings.Repeat("0", 64-len(tag))
}

// Digests of the fixture.
var (
	BaseNew = digest("b2")     // the updated base, a multi-arch index
	BaseOld = digest("b1")     // the base the dependents were built on
	RbNew   = digest("7eba5e") // app-rb after its rebase
)

// Run is a run report holding every case a renderer must show: dependents
// of every status (stale, current, unknown), every evidence kind, every
// action (dispatch, skip, hold, cascade), dependents declared in the
// config, by a repository and by a Tekton Pipeline, declarations skipped, a multi-arch dependent with its
// platforms, a refusal, dispatch outcomes of every status, the plan of a
// rebased image, and a manifest update with a change, an inserted digest
// (Old empty) in an unnamed Kustomization, a skipped reference and a file
// that could not be processed.
func Run() *report.Run {
	const reg = "registry.example.com/acme/"
	tags := map[string]string{"app-a": "aa", "app-b": "ab", "app-c": "ac", "app-d": "ad", "app-e": "ae", "app-f": "af", "app-g": "a9", "app-rb": "a8", "child": "cd"}
	dep := func(name string, depth int, st plan.Status, ev plan.Evidence, act plan.Action, rebuild, reason string) plan.Dependent {
		d := plan.Dependent{Name: name, Image: reg + name + ":latest", Digest: digest(tags[name] + "1"),
			Depth: depth, Base: "base", Status: st, Evidence: ev, Reason: reason, Rebuild: rebuild, DeclaredBy: "config", Action: act, Platforms: []plan.Platform{}}
		switch name { // discovered dependents (internal/discover)
		case "app-a":
			d.DeclaredBy = "github:acme/app-a@1a2b3c4d5e6f"
		case "app-b":
			d.DeclaredBy = "tekton:builds/app-b"
		}
		if ev == plan.EvidenceAnnotation || ev == plan.EvidenceLabel || ev == plan.EvidenceDockerfile {
			d.BuiltOn = BaseOld
		}
		if st == plan.Current {
			d.BuiltOn = BaseNew
		}
		return d
	}
	notFound := dep("app-f", 1, plan.Unknown, plan.EvidenceMissing, plan.ActionHold, "github", "not found in the registry")
	notFound.Digest = ""
	multi := dep("app-rb", 1, plan.Stale, plan.EvidenceAnnotation, plan.ActionDispatch, "rebase",
		"linux/amd64 is built on "+imageref.Digest(BaseOld).Short()+", the base's linux/amd64 is now "+imageref.Digest(digest("b2a")).Short())
	multi.Platforms = []plan.Platform{
		{Platform: "linux/amd64", Digest: digest("a1"), Status: plan.Stale, Evidence: plan.EvidenceAnnotation,
			Reason: "built on " + imageref.Digest(digest("b1a")).Short() + ", the base's linux/amd64 is now " + imageref.Digest(digest("b2a")).Short(), BuiltOn: digest("b1a")},
		{Platform: "linux/arm64", Digest: digest("a2"), Status: plan.Current, Evidence: plan.EvidenceLayers,
			Reason: "the base's linux/arm64 layers are a prefix of its layers", BuiltOn: ""},
	}
	child := dep("child", 2, plan.Stale, plan.EvidenceTransitive, plan.ActionCascade, "webhook", "built on app-rb, which is rebuilt first; its cascade step rebuilds this one")
	child.Base, child.Via = "app-rb", "app-rb"

	p := &plan.Plan{
		SchemaVersion: plan.SchemaVersion,
		Image:         reg + "base:latest",
		Digest:        BaseNew,
		Index:         true,
		Roots:         []string{"base"},
		Dependents: []plan.Dependent{
			dep("app-a", 1, plan.Stale, plan.EvidenceAnnotation, plan.ActionDispatch, "github", "built on "+imageref.Digest(BaseOld).Short()+", base is now "+imageref.Digest(BaseNew).Short()),
			dep("app-b", 1, plan.Stale, plan.EvidenceLabel, plan.ActionDispatch, "tekton", "label base.digest names "+imageref.Digest(BaseOld).Short()),
			dep("app-c", 1, plan.Current, plan.EvidenceLayers, plan.ActionSkip, "webhook", "the base's layers are a prefix of its layers"),
			dep("app-d", 1, plan.Stale, plan.EvidenceDockerfile, plan.ActionDispatch, "webhook", "Dockerfile pins FROM base@"+imageref.Digest(BaseOld).Short()),
			dep("app-e", 1, plan.Unknown, plan.EvidenceNone, plan.ActionHold, "webhook", "no annotation, label or shared layers | nothing to go on"),
			notFound,
			dep("app-g", 1, plan.Unknown, plan.EvidenceError, plan.ActionHold, "tekton", "reading the manifest: GET https://registry.example.com/v2/acme/app-g/manifests/latest: 503 Service Unavailable"),
			multi,
			child,
		},
		Summary:  plan.Summary{Dependents: 9, Stale: 5, Current: 1, Unknown: 3, Dispatches: 4},
		Refusals: []string{"blast radius: 5 dispatches planned over the whole cascade (4 now, 5 after rebases), over the limit of 4 (raise limits.maxDispatches or pass --max-dispatches)"},
		SkippedDeclarations: []plan.SkippedDeclaration{
			{Source: "github:acme/legacy@0f0f0f0f0f0f", Path: "images[0].rebuild.webhook", Reason: "a repository can only declare a GitHub dispatch to itself (acme/legacy)"},
			{Source: "github:acme/no-file", Path: "", Reason: "carries the topic cascade-dependent but has no .github/cascade.yaml on main"},
		},
		Workloads: liveWorkloads(reg+"base:latest", BaseOld, BaseNew),
	}
	cascaded := &plan.Plan{
		SchemaVersion: plan.SchemaVersion,
		Image:         reg + "app-rb:latest",
		Digest:        RbNew,
		Roots:         []string{"app-rb"},
		Dependents: []plan.Dependent{func() plan.Dependent {
			d := dep("child", 1, plan.Stale, plan.EvidenceAnnotation, plan.ActionDispatch, "webhook", "built on "+imageref.Digest(digest("a81")).Short()+", app-rb is now "+imageref.Digest(RbNew).Short())
			d.Base = "app-rb"
			return d
		}()},
		Summary:             plan.Summary{Dependents: 1, Stale: 1, Dispatches: 1},
		Refusals:            []string{},
		SkippedDeclarations: []plan.SkippedDeclaration{},
		Workloads:           []plan.Workload{},
	}
	key := func(name string) string { return name + "-b20000000000" }
	return &report.Run{
		SchemaVersion: 1,
		Plan:          p,
		Cascaded:      []*plan.Plan{cascaded},
		Dispatches: []dispatch.Outcome{
			{Name: "app-a", Kind: "github", Key: key("app-a"), Status: dispatch.StatusDispatched, Detail: "https://github.com/acme/app-a/actions/runs/42", RunID: 42, Attempts: 1},
			{Name: "app-b", Kind: "tekton", Key: key("app-b"), Status: dispatch.StatusClaimed, Detail: "run 7f3a holds the claim", Attempts: 0},
			{Name: "app-d", Kind: "webhook", Key: key("app-d"), Status: dispatch.StatusFailed, Detail: "HTTP 422", Attempts: 3,
				Err: errors.New("webhook https://hooks.example.com/app-d: 422 Unprocessable Entity: no such pipeline")},
			{Name: "app-e", Kind: "webhook", Key: key("app-e"), Status: dispatch.StatusSkipped, Detail: "state unknown: held (--dispatch-unknown rebuilds it)"},
			{Name: "app-rb", Kind: "rebase", Key: key("app-rb"), Status: dispatch.StatusDispatched, Detail: "pushed " + reg + "app-rb:latest", NewDigest: imageref.Digest(RbNew), Attempts: 1},
			{Name: "child", Kind: "webhook", Key: "child-7eba5e000000", Status: dispatch.StatusAlreadyDispatched, Detail: "recorded in the cascade history"},
		},
		Manifests: &report.UpdateJSON{
			SchemaVersion: 1,
			Image:         reg + "base:latest@" + BaseNew,
			Changed:       []string{"deploy/app.yaml", "deploy/kustomization.yaml"},
			Files:         Files(),
			WriteBack: &report.WriteBack{Mode: "pull-request", Commit: "0123456789abcdef0123456789abcdef01234567",
				Branch: "cascade/base-b20000000000", PR: "https://github.com/acme/deploy/pull/7"},
		},
	}
}

// Files is the manifest part of Run: a change, an inserted digest, a
// skipped reference and a file error.
func Files() []manifests.FileResult {
	const reg = "registry.example.com/acme/"
	return []manifests.FileResult{
		{Path: "deploy/app.yaml", Format: "kubernetes", Objects: []manifests.ObjectResult{{Kind: "Deployment", Name: "app",
			Changes: []manifests.Change{{Line: 12, Column: 18, Field: "spec.template.spec.containers[0].image",
				Old: reg + "base:latest@" + BaseOld, New: reg + "base:latest@" + BaseNew}}}}},
		{Path: "deploy/kustomization.yaml", Format: "kustomize", Objects: []manifests.ObjectResult{{Kind: "Kustomization",
			Changes: []manifests.Change{{Line: 6, Column: 13, Field: "images[0].digest", Old: "", New: BaseNew}}}}},
		{Path: "deploy/other.yaml", Format: "kubernetes", Skipped: []manifests.Skip{
			{Line: 9, Field: "spec.containers[0].image", Ref: reg + "base:v1", Reason: "another tag: only base:latest follows the updated image"},
			{Reason: "a templated value: {{ .Values.image }}"}}},
		{Path: "deploy/broken.yaml", Format: "yaml", Error: "yaml: line 3: mapping values are not allowed in this context"},
	}
}

// liveWorkloads are the cluster target's workloads in every status.
func liveWorkloads(ref, old, new string) []plan.Workload {
	move := []plan.WorkloadChange{{Field: "containers[name=web].image", From: ref + "@" + old, To: ref + "@" + new}}
	w := func(kind, name string, st plan.WorkloadStatus, reason string, ch []plan.WorkloadChange) plan.Workload {
		return plan.Workload{Cluster: "prod", Kind: kind, Namespace: "apps", Name: name, Status: st, Reason: reason, Changes: ch}
	}
	return []plan.Workload{
		w("Deployment", "web", "roll", "", move),
		w("StatefulSet", "db", "rolled", "", move),
		w("Deployment", "api", "current", "already at "+new, nil),
		w("Deployment", "legacy", "not-opted-in", "would roll if opted in (image.openshift.io/triggers or cascade.dev/follow)", nil),
		w("Deployment", "frozen", "paused", "containers[name=web].image: its trigger is paused", nil),
		w("Deployment", "argo", "gitops", "owned by Argo CD (annotation argocd.argoproj.io/tracking-id): change its source (cascade update), not the live object", move),
		w("CronJob", "nightly", "skipped", "containers[name=job].image: tag \"2.0\" is not the updated tag \"latest\"", nil),
		w("DaemonSet", "agent", "failed", "server-side dry run: daemonsets.apps \"agent\" is forbidden", move),
	}
}
