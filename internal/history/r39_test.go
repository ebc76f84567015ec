package history

import (
	"encoding/base64"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imagecascade/cascade/internal/dispatch"
	"github.com/imagecascade/cascade/internal/redact"
)

// TestR39_RecordIsRedactedAndQuoted: the record Record stores holds no
// secret the run knows, in any encoding a server echoed it in, and no line
// of remote text that GitHub Actions would read as a workflow command.
func TestR39_RecordIsRedactedAndQuoted(t *testing.T) {
	t.Parallel()
	const token = "ghp_R39historyTokenAbcdefghijklmnopqrstu"
	const hook = "r39-webhook-secret-value"
	rd := redact.New(token, hook)
	ctx := redact.NewContext(ctxT(t), rd)
	reg := newTestRegistry(t, true)
	img := pushImage(t, reg.Host, "acme/base:1.0")
	s := newStore(t)
	g := sampleGeneration(t0, dispatch.StatusFailed, dispatch.StatusDispatched)
	g.Dispatches[0].Error = "receiver answered 400: bad auth " + base64.StdEncoding.EncodeToString([]byte("x-access-token:"+token)) +
		"\n::add-mask::x\n::warning title=pwned::" + url.QueryEscape(hook)
	g.Dispatches[1].Detail = "delivered with " + hook
	if err := s.Record(ctx, img, g); err != nil {
		t.Fatalf("Record: %v", err)
	}
	got, err := s.Load(ctxT(t), img)
	if err != nil || len(got) != 1 {
		t.Fatalf("Load: %v (%d records)", err, len(got))
	}
	want := []string{
		"receiver answered 400: bad auth " + redact.Marker + "\n> ::add-mask::x\n> ::warning title=pwned::" + redact.Marker,
		"delivered with " + redact.Marker,
	}
	if diff := cmp.Diff(want, []string{got[0].Dispatches[0].Error, got[0].Dispatches[1].Detail}); diff != "" {
		t.Errorf("stored text (-want +got):\n%s", diff)
	}
	if strings.Contains(g.Dispatches[0].Error, redact.Marker) {
		t.Error("Record changed the caller's Generation")
	}
}
