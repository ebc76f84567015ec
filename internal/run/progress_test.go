package run

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// recordingProgress records what a run tells its live display.
type recordingProgress struct {
	mu     sync.Mutex
	events []string
	steps  int
}

func (r *recordingProgress) Begin(stage string, total int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, fmt.Sprintf("begin %s /%d", stage, total))
	r.steps = 0
}

func (r *recordingProgress) Step() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.steps++
}

func (r *recordingProgress) End() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, fmt.Sprintf("end after %d steps", r.steps))
}

// TestProgressPerStageAndTier: the live display hears of every long stage
// and counts each tier's dispatches as they complete; the info log has one
// line per stage and per tier, with the tier's number, counts and elapsed
// time — the spinner-free form.
func TestProgressPerStageAndTier(t *testing.T) {
	t.Parallel()
	s := newStream(map[string]string{"a": "github", "b": "webhook"}, 2)
	var logBuf strings.Builder
	var mu sync.Mutex
	d := deps(s, allKinds(), &fakeHistory{}, &fakeManifests{changed: 1})
	pr := &recordingProgress{}
	d.Progress = pr
	d.Log = slog.New(slog.NewTextHandler(lockedWriter{&mu, &logBuf}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if _, err := Run(context.Background(), d, baseRequest()); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"begin planning " + reg + "base:latest@" + string(dg('b')) + " /0", "end after 0 steps",
		"begin computing manifest changes /0", "end after 0 steps",
		"begin dispatching tier 1 /3", "end after 3 steps",
		"begin dispatching tier 2 /1", "end after 1 steps",
		"begin pinning manifests /0", "end after 0 steps",
		"begin writing the manifests back /0", "end after 0 steps",
	}
	if diff := cmp.Diff(want, pr.events); diff != "" {
		t.Errorf("progress (-want +got):\n%s", diff)
	}
	mu.Lock()
	log := logBuf.String()
	mu.Unlock()
	for _, w := range []string{
		"msg=planning ", "msg=planned ", "msg=dispatching tier=1 ", "targets=3",
		"msg=dispatched tier=1 ", "ok=3 failed=0 elapsed=", "msg=dispatching tier=2 ", "msg=dispatched tier=2 ", "msg=\"pinning manifests\"",
	} {
		if !strings.Contains(log, w) {
			t.Errorf("the info log lacks %q:\n%s", w, log)
		}
	}
	if strings.Contains(log, "\r") || strings.Contains(log, "\x1b") {
		t.Errorf("control characters in the plain log:\n%q", log)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}
