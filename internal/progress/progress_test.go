package progress_test

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/imagecascade/cascade/internal/progress"
	"github.com/imagecascade/cascade/internal/redact"
)

// fakeTerminal is a terminal for the tests: it records what is drawn.
type fakeTerminal struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (f *fakeTerminal) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.b.Write(p)
}

func (f *fakeTerminal) IsTerminal() bool { return true }

func (f *fakeTerminal) String() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.b.String()
}

// clock is a manual clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

const cl = "\r\x1b[K"

// TestLiveLineOnAFakeTerminal: the status line is drawn and redrawn in
// place as the stage advances, cleared before a log line and redrawn
// after it, erased when the stage ends; secrets in a log line are still
// redacted by the writer below.
func TestLiveLineOnAFakeTerminal(t *testing.T) {
	t.Parallel()
	term := &fakeTerminal{}
	rd := redact.New("s3cret-token")
	c := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	l := progress.NewLive(redact.NewWriter(term, rd, nil), progress.Options{Now: c.now})

	l.Begin("dispatching tier 2", 120)
	for range 37 {
		l.Step()
	}
	c.advance(12 * time.Second)
	if got, want := l.Status(), "dispatching tier 2: 37/120 (12s)"; got != want {
		t.Fatalf("status %q, want %q", got, want)
	}
	_, _ = l.Write([]byte("level=INFO msg=retrying reason=\"token s3cret-token refused\"\n"))
	l.Step()
	l.End()
	l.Begin("pinning manifests", 0)
	l.Close()
	_, _ = l.Write([]byte("cascade: done\n"))

	var want strings.Builder
	want.WriteString(cl + "dispatching tier 2: 0/120 (0s)")
	for i := 1; i <= 37; i++ {
		want.WriteString(cl + "dispatching tier 2: " + strconv.Itoa(i) + "/120 (0s)")
	}
	want.WriteString(cl + "level=INFO msg=retrying reason=\"token [REDACTED] refused\"\n")
	want.WriteString(cl + "dispatching tier 2: 37/120 (12s)")
	want.WriteString(cl + "dispatching tier 2: 38/120 (12s)")
	want.WriteString(cl) // End
	want.WriteString(cl + "pinning manifests … (0s)")
	want.WriteString(cl) // Close
	want.WriteString("cascade: done\n")
	if diff := cmp.Diff(want.String(), term.String()); diff != "" {
		t.Errorf("terminal output (-want +got):\n%s", diff)
	}
}

// TestLiveTicksElapsedTime: with an interval, the line is redrawn with
// the elapsed time while no step comes.
func TestLiveTicksElapsedTime(t *testing.T) {
	t.Parallel()
	term := &fakeTerminal{}
	c := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	l := progress.NewLive(term, progress.Options{Now: c.now, Interval: time.Millisecond})
	l.Begin("planning registry.example/acme/base:1", 0)
	c.advance(3 * time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(term.String(), "planning registry.example/acme/base:1 … (3s)") {
		if time.Now().After(deadline) {
			t.Fatalf("the line was not redrawn with the elapsed time: %q", term.String())
		}
		time.Sleep(time.Millisecond)
	}
	l.Close()
	if !strings.HasSuffix(term.String(), cl) {
		t.Errorf("Close leaves the line drawn: %q", term.String())
	}
}

// TestLiveNeverSplitsAnUnfinishedLine: a log line written in pieces is not
// interrupted by a redraw.
func TestLiveNeverSplitsAnUnfinishedLine(t *testing.T) {
	t.Parallel()
	term := &fakeTerminal{}
	l := progress.NewLive(term, progress.Options{Now: func() time.Time { return time.Time{} }})
	l.Begin("x", 2)
	_, _ = l.Write([]byte("part one, "))
	l.Step()
	_, _ = l.Write([]byte("part two\n"))
	l.Close()
	want := cl + "x: 0/2 (0s)" + cl + "part one, part two\n" + cl + "x: 1/2 (0s)" + cl
	if diff := cmp.Diff(want, term.String()); diff != "" {
		t.Errorf("terminal output (-want +got):\n%s", diff)
	}
}

// TestLiveCutsToWidth keeps the status one line.
func TestLiveCutsToWidth(t *testing.T) {
	t.Parallel()
	l := progress.NewLive(&fakeTerminal{}, progress.Options{Width: 20, Now: func() time.Time { return time.Time{} }})
	l.Begin("planning "+strings.Repeat("é", 40), 0)
	if got := []rune(l.Status()); len(got) != 20 || got[19] != '…' {
		t.Errorf("status %q: want 20 characters ending in …", string(got))
	}
}

func TestIsTerminal(t *testing.T) {
	t.Parallel()
	if progress.IsTerminal(&bytes.Buffer{}) {
		t.Error("a buffer is not a terminal")
	}
	if !progress.IsTerminal(&fakeTerminal{}) {
		t.Error("the fake terminal says it is one")
	}
	f, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if progress.IsTerminal(f) {
		t.Error("a regular file is not a terminal")
	}
}
