package run

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imagecascade/cascade/internal/config"
	"github.com/imagecascade/cascade/internal/discover"
	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/imageref"
	"github.com/imagecascade/cascade/internal/plan"
)

// fakeDiscoverer adds one image, or fails.
type fakeDiscoverer struct {
	err   error
	calls int
}

func (f *fakeDiscoverer) Apply(_ context.Context, cfg *config.Config) (*discover.Result, error) {
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	cfg.Images = append(cfg.Images, config.Image{Name: "app-d", Image: reg + "app-d:latest", DeclaredBy: "tekton:ci/app-d",
		Rebuild: config.Rebuild{Tekton: &config.Tekton{Namespace: "ci", Pipeline: "app-d"}}})
	return &discover.Result{Added: []string{"app-d"}, Skipped: []discover.Skipped{{Source: "github:acme/x@0123456789ab", Path: "images[0].name", Reason: "bad"}}}, nil
}

// TestDiscoveryComesFirstInPhaseOne: discovered images are in the config
// before planning and skipped declarations in the plan; a source that
// cannot be read ends phase 1 before anything is planned, with its class.
func TestDiscoveryComesFirstInPhaseOne(t *testing.T) {
	t.Parallel()
	base := imageref.MustParse(reg + "base:latest")
	p := &plan.Plan{SchemaVersion: 1, Image: base.Original, Digest: string(dg('b')), Roots: []string{}, Dependents: []plan.Dependent{},
		Refusals: []string{}, SkippedDeclarations: []plan.SkippedDeclaration{}}
	cfg := &config.Config{Version: 1, Limits: config.DefaultLimits()}
	fd := &fakeDiscoverer{}
	d := &Deps{Config: cfg, Discover: fd, Planner: &fakePlanner{plans: map[string]*plan.Plan{base.Name(): p}}}
	pr, err := Prepare(t.Context(), d, Request{Image: base, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Images) != 1 || cfg.Images[0].DeclaredBy != "tekton:ci/app-d" {
		t.Errorf("config images after phase 1: %+v", cfg.Images)
	}
	want := []plan.SkippedDeclaration{{Source: "github:acme/x@0123456789ab", Path: "images[0].name", Reason: "bad"}}
	if diff := cmp.Diff(want, pr.Report().Plan.SkippedDeclarations); diff != "" {
		t.Errorf("skipped declarations (-want +got):\n%s", diff)
	}

	failing := &fakeDiscoverer{err: exitcode.AsTransient(errors.New("discovering dependents from github:acme (topic t): 502"))}
	d = &Deps{Config: &config.Config{Version: 1}, Discover: failing, Planner: &fakePlanner{}}
	_, err = Prepare(t.Context(), d, Request{Image: base})
	if err == nil || exitcode.Of(err) != exitcode.Transient || err.Error() != "discovering dependents from github:acme (topic t): 502" {
		t.Errorf("Prepare with an unreadable source: %v (class %d), want the source's transient error", err, exitcode.Of(err))
	}
}
