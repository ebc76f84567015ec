package run

import (
	"context"
	"strings"
	"testing"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/history"
	"github.com/imagecascade/cascade/internal/imageref"
)

// refusingClaims is a history store that refuses every write.
type refusingClaims struct{}

func (refusingClaims) Claim(context.Context, imageref.Ref, string, []string, history.ClaimOptions) (map[string]bool, error) {
	return nil, exitcode.AsTransient(errorString("uploading the claim: DENIED: requested access to the resource is denied"))
}

type errorString string

func (e errorString) Error() string { return string(e) }

// TestR33_RefusedClaimTouchesNothing: the history store refuses the first
// write, the claim: nothing is dispatched and the manifests are not
// pinned either, so the exit code still says nothing was touched (4) and
// a re-run does the whole cascade.
func TestR33_RefusedClaimTouchesNothing(t *testing.T) {
	t.Parallel()
	s := newStream(map[string]string{"a": "github", "b": "webhook"}, 0)
	ds, m := allKinds(), &fakeManifests{changed: 1}
	d := deps(s, ds, &fakeHistory{}, m)
	d.Claims = refusingClaims{}
	_, err := Run(context.Background(), d, baseRequest())
	if exitcode.Of(err) != exitcode.Transient || !strings.Contains(err.Error(), "nothing of this tier was dispatched") {
		t.Fatalf("exit %d (%v), want 4 saying nothing was dispatched", exitcode.Of(err), err)
	}
	if ds.count() != 0 || m.writes != 0 {
		t.Errorf("acted after a refused claim: %d dispatches, %d manifest writes", ds.count(), m.writes)
	}
}
