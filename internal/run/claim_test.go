package run

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/history"
	"github.com/imagecascade/cascade/internal/imageref"
)

// failingClaims fails every claim, as a registry too slow for the claim
// settle time makes it fail.
type failingClaims struct{ err error }

func (f failingClaims) Claim(context.Context, imageref.Ref, string, []string, history.ClaimOptions) (map[string]bool, error) {
	return nil, f.err
}

// TestFailedFirstClaimTouchesNothing: when the first tier's claim fails,
// nothing is dispatched and the updated image's own manifests are not
// pinned either, so the run ends with exit 4 (transient, nothing touched,
// safe to re-run) and the report lists no pinned manifest.
func TestFailedFirstClaimTouchesNothing(t *testing.T) {
	t.Parallel()
	s := newStream(map[string]string{"a": "github", "b": "webhook"}, 0)
	ds, h, m := allKinds(), &fakeHistory{}, &fakeManifests{changed: 2}
	d := deps(s, ds, h, m)
	d.Claims = failingClaims{err: exitcode.AsTransient(errors.New("claim took longer than the settle time; released"))}
	out, err := Run(context.Background(), d, baseRequest())
	if code := exitcode.Of(err); code != exitcode.Transient {
		t.Fatalf("exit %d (%v), want 4", code, err)
	}
	if n := ds.count(); n != 0 {
		t.Errorf("%d dispatches sent, want none", n)
	}
	m.mu.Lock()
	writes := m.writes
	m.mu.Unlock()
	if writes != 0 {
		t.Errorf("the manifests were written %d time(s), want never", writes)
	}
	if out == nil || out.Manifests != nil {
		t.Errorf("the report lists manifests as pinned: %+v", out)
	}
	if !strings.Contains(err.Error(), "the manifests were not pinned") {
		t.Errorf("the error does not say the manifests were left alone: %v", err)
	}
}
