package run

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/imageref"
	"github.com/imagecascade/cascade/internal/manifests"
	"github.com/imagecascade/cascade/internal/report"
	"github.com/imagecascade/cascade/internal/rollout"
)

// orderedManifests records the order of what Update asks of it.
type orderedManifests struct {
	steps []string
	// guardErr refuses the write; pinErr fails a file; needPlan makes
	// the guard compute the planned changes (a dirty workspace).
	guardErr, pinErr error
	needPlan         bool
}

func (m *orderedManifests) Update(_ context.Context, ref imageref.Ref, dryRun bool) (*manifests.Result, error) {
	m.steps = append(m.steps, map[bool]string{true: "compute", false: "pin"}[dryRun])
	res := &manifests.Result{Files: []manifests.FileResult{{Path: "deploy/a.yaml", Objects: []manifests.ObjectResult{{
		Kind: "Deployment", Changes: []manifests.Change{{Line: 1, Old: ref.Short(), New: ref.Short() + "@" + string(ref.Digest)}}}}}}}
	if m.pinErr != nil && !dryRun {
		return res, m.pinErr
	}
	return res, nil
}

func (m *orderedManifests) WriteBack(context.Context, imageref.Ref, *manifests.Result) (*report.WriteBack, error) {
	m.steps = append(m.steps, "write-back")
	return &report.WriteBack{Mode: "commit", Commit: "c0ffee"}, nil
}

func (m *orderedManifests) Guard(context.Context, *manifests.Result) (func(), error) {
	panic("Update must use GuardLazy when it is there")
}

func (m *orderedManifests) GuardLazy(ctx context.Context, planned func(context.Context) (*manifests.Result, error)) (func(), error) {
	m.steps = append(m.steps, "lock")
	if m.needPlan {
		if _, err := planned(ctx); err != nil {
			return nil, err
		}
	}
	if m.guardErr != nil {
		m.steps = append(m.steps, "unlock")
		return nil, m.guardErr
	}
	return func() { m.steps = append(m.steps, "unlock") }, nil
}

// TestUpdateOrdersGuardPinWriteBack: cascade update's order lives in run:
// the guard (lock; the planned changes computed only when the check needs
// them), the pin, the write-back, the release — and nothing after a step
// that failed.
func TestUpdateOrdersGuardPinWriteBack(t *testing.T) {
	t.Parallel()
	ref := imageref.MustParse(reg + "app:1@" + string(dg('a')))
	for _, tc := range []struct {
		name      string
		m         *orderedManifests
		dryRun    bool
		wantSteps []string
		wantCode  int
	}{
		{"clean workspace", &orderedManifests{}, false, []string{"lock", "pin", "write-back", "unlock"}, exitcode.OK},
		{"uncommitted edits elsewhere", &orderedManifests{needPlan: true}, false, []string{"lock", "compute", "pin", "write-back", "unlock"}, exitcode.OK},
		{"guard refuses", &orderedManifests{needPlan: true, guardErr: exitcode.AsInvalid(errors.New("deploy/a.yaml has uncommitted changes"))}, false,
			[]string{"lock", "compute", "unlock"}, exitcode.Invalid},
		{"a file fails: no write-back", &orderedManifests{pinErr: exitcode.AsPartial(errors.New("read-only"))}, false,
			[]string{"lock", "pin", "unlock"}, exitcode.Partial},
		{"dry run: no guard, no write-back", &orderedManifests{}, true, []string{"compute"}, exitcode.OK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := Update(context.Background(), &UpdateDeps{Manifests: tc.m}, ref, tc.dryRun)
			var wb *report.WriteBack
			if out != nil {
				wb = out.WriteBack
			}
			if diff := cmp.Diff(tc.wantSteps, tc.m.steps); diff != "" {
				t.Errorf("steps (-want +got):\n%s", diff)
			}
			if code := exitcode.Of(err); code != tc.wantCode {
				t.Errorf("exit %d (%v), want %d", code, err, tc.wantCode)
			}
			if (wb != nil) != (tc.wantCode == exitcode.OK && !tc.dryRun) {
				t.Errorf("write-back %+v", wb)
			}
			if tc.m.guardErr == nil && (out == nil || out.Manifests == nil || out.Workloads == nil) {
				t.Errorf("no result to report: %+v", out)
			}
		})
	}
}

// updateRef is the image liveCluster's Deployment follows, at its new
// digest.
func updateRef() imageref.Ref { return imageref.MustParse(reg + "base:latest@" + string(dg('b'))) }

// TestUpdateRollsClustersAfterTheFiles: cascade update dry-runs every
// rollout before the files are pinned, applies after the write-back,
// records the rollout in the image's history, and a re-run finds the
// workload current and applies nothing.
func TestUpdateRollsClustersAfterTheFiles(t *testing.T) {
	t.Parallel()
	c := newLiveCluster(t)
	m := &orderedManifests{}
	h := &fakeHistory{}
	d := &UpdateDeps{Manifests: m, Clusters: c.target(), History: h, RunID: "run-1"}
	out, err := Update(context.Background(), d, updateRef(), false)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.image(t), reg+"base:latest@"+string(dg('b')); got != want {
		t.Errorf("live image %s, want %s", got, want)
	}
	if len(out.Workloads) != 1 || out.Workloads[0].Status != rollout.StatusRolled || c.dryRuns != 1 || c.real != 1 {
		t.Errorf("workloads %+v, %d dry runs, %d applies", out.Workloads, c.dryRuns, c.real)
	}
	// The files' changes are computed once, for the files-and-cluster
	// check, before anything is written.
	if diff := cmp.Diff([]string{"lock", "compute", "pin", "write-back", "unlock"}, m.steps); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	var recorded []string
	for _, g := range h.records() {
		for _, ro := range g.Rollouts {
			recorded = append(recorded, g.RunID+"/"+ro.Cluster+"/"+ro.Workload+"/"+ro.Status)
		}
	}
	if diff := cmp.Diff([]string{"run-1/test/Deployment apps/web/rolled"}, recorded); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
	out, err = Update(context.Background(), d, updateRef(), false)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Workloads) != 1 || out.Workloads[0].Status != rollout.StatusCurrent || c.real != 1 || len(h.records()) != 1 {
		t.Errorf("re-run: workloads %+v, %d applies, %d records", out.Workloads, c.real, len(h.records()))
	}
}

// TestUpdateDryRunRollsNothing: --dry-run lists the workload that would
// roll, dry-runs it on the server, and applies and writes nothing.
func TestUpdateDryRunRollsNothing(t *testing.T) {
	t.Parallel()
	c := newLiveCluster(t)
	m := &orderedManifests{}
	out, err := Update(context.Background(), &UpdateDeps{Manifests: m, Clusters: c.target(), History: &fakeHistory{}}, updateRef(), true)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Workloads) != 1 || out.Workloads[0].Status != rollout.StatusRoll || c.real != 0 || c.image(t) != reg+"base:latest" {
		t.Errorf("workloads %+v, %d applies, image %s", out.Workloads, c.real, c.image(t))
	}
	if diff := cmp.Diff([]string{"compute"}, m.steps); diff != "" {
		t.Errorf("the files' changes are computed once (-want +got):\n%s", diff)
	}
}

// TestUpdateClusterRefusalsComeBeforeAnyWrite: a failed server-side dry
// run, rollouts over the blast radius, and an object both a file and the
// cluster would change refuse the update (exit 5) with no file pinned or
// written back and nothing applied; a cluster that cannot be listed is a
// transient failure (exit 4) with nothing touched either.
func TestUpdateClusterRefusalsComeBeforeAnyWrite(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		setup    func(d *UpdateDeps, c *liveCluster)
		wantCode int
		want     string
	}{
		{"dry run fails", func(_ *UpdateDeps, c *liveCluster) { c.failDryRun = true }, exitcode.Refused, "server-side dry run"},
		{"blast radius", func(d *UpdateDeps, c *liveCluster) {
			d.MaxRollouts = 1
			c.add(t, "web2")
		}, exitcode.Refused, "2 rollouts planned, over the limit of 1"},
		{"files and cluster", func(d *UpdateDeps, _ *liveCluster) { d.Manifests = &pinCounter{Manifests: namedManifests{}} },
			exitcode.Refused, "both the manifests and the cluster target would change Deployment apps/web (in deploy/web.yaml)"},
		{"list fails", func(_ *UpdateDeps, c *liveCluster) { c.failList = true }, exitcode.Transient, "checking the live workloads"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newLiveCluster(t)
			m := &pinCounter{Manifests: &orderedManifests{}}
			d := &UpdateDeps{Manifests: m, Clusters: c.target(), History: &fakeHistory{}}
			tc.setup(d, c)
			if pc, ok := d.Manifests.(*pinCounter); ok {
				m = pc
			}
			_, err := Update(context.Background(), d, updateRef(), false)
			if exitcode.Of(err) != tc.wantCode || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("exit %d (%v), want %d with %q", exitcode.Of(err), err, tc.wantCode, tc.want)
			}
			if m.pins != 0 || m.writeBacks != 0 || c.real != 0 {
				t.Errorf("refused update acted: %d pins, %d write-backs, %d applies", m.pins, m.writeBacks, c.real)
			}
		})
	}
}

// TestUpdateFailedWriteBackRollsNothing: when the files cannot be written
// back, the live workloads are not rolled either (a transient failure
// stays exit 4: nothing was touched).
func TestUpdateFailedWriteBackRollsNothing(t *testing.T) {
	t.Parallel()
	c := newLiveCluster(t)
	m := &pinCounter{Manifests: &orderedManifests{}, writeBackErr: exitcode.AsTransient(errors.New("push: connection refused"))}
	_, err := Update(context.Background(), &UpdateDeps{Manifests: m, Clusters: c.target()}, updateRef(), false)
	if exitcode.Of(err) != exitcode.Transient || !strings.Contains(err.Error(), "not rolled") || c.real != 0 {
		t.Errorf("exit %d (%v), %d applies", exitcode.Of(err), err, c.real)
	}
}

// pinCounter counts the real pins and write-backs of the Manifests it
// wraps (and fails the write-back with writeBackErr).
type pinCounter struct {
	Manifests
	pins, writeBacks int
	writeBackErr     error
}

func (p *pinCounter) Update(ctx context.Context, ref imageref.Ref, dryRun bool) (*manifests.Result, error) {
	if !dryRun {
		p.pins++
	}
	return p.Manifests.Update(ctx, ref, dryRun)
}

func (p *pinCounter) WriteBack(ctx context.Context, ref imageref.Ref, res *manifests.Result) (*report.WriteBack, error) {
	p.writeBacks++
	if p.writeBackErr != nil {
		return nil, p.writeBackErr
	}
	return p.Manifests.WriteBack(ctx, ref, res)
}
