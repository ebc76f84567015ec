package run

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/imageref"
	"github.com/imagecascade/cascade/internal/manifests"
	"github.com/imagecascade/cascade/internal/report"
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
			res, wb, err := Update(context.Background(), tc.m, ref, tc.dryRun)
			if diff := cmp.Diff(tc.wantSteps, tc.m.steps); diff != "" {
				t.Errorf("steps (-want +got):\n%s", diff)
			}
			if code := exitcode.Of(err); code != tc.wantCode {
				t.Errorf("exit %d (%v), want %d", code, err, tc.wantCode)
			}
			if (wb != nil) != (tc.wantCode == exitcode.OK && !tc.dryRun) {
				t.Errorf("write-back %+v", wb)
			}
			if tc.m.guardErr == nil && res == nil {
				t.Error("no result to report")
			}
		})
	}
}
