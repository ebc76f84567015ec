// Package progress draws a run's live status line on a terminal:
// "dispatching tier 2: 37/120 (12s)", redrawn as the stage advances and
// every second, cleared before each log line (and redrawn after it), and
// gone when the stage ends.
//
// It is only for a terminal: the front door decides with IsTerminal, and
// output that is redirected (a CI log, a file, a pipe) never gets a live
// line or a control sequence — there the run's info log lines, one per
// stage and tier, are the progress.
package progress

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/term"
)

// clearLine moves to the start of the line and erases it.
const clearLine = "\r\x1b[K"

// Terminal is implemented by writers that know whether they are a
// terminal; tests use it to force the live form onto a fake terminal.
type Terminal interface {
	IsTerminal() bool
}

// IsTerminal reports whether w is a terminal that can take a live line: a
// Terminal that says so, or an *os.File on a terminal while TERM is not
// "dumb".
func IsTerminal(w io.Writer) bool {
	switch t := w.(type) {
	case Terminal:
		return t.IsTerminal()
	case *os.File:
		return os.Getenv("TERM") != "dumb" && term.IsTerminal(int(t.Fd()))
	}
	return false
}

// Options tune a Live.
type Options struct {
	// Now is the clock for the elapsed time (time.Now when nil).
	Now func() time.Time
	// Interval redraws the line that often, to keep the elapsed time
	// moving during a long step (no timer when zero).
	Interval time.Duration
	// Width cuts the status to that many characters so it stays one line (80
	// when zero).
	Width int
}

// Live is a status line on a terminal, and the writer for everything else
// written to that terminal (log lines), which it keeps apart from the
// status line. It is safe for concurrent use.
type Live struct {
	o Options
	w io.Writer

	mu      sync.Mutex
	stage   string
	total   int
	done    int
	start   time.Time
	shown   bool // the status line is on the screen
	partial bool // a written line has not ended yet
	stop    chan struct{}
	closed  bool
}

// NewLive returns a Live onto w (the terminal, usually through the
// redacting writer: a writer with a Flush method is flushed after each
// redraw, so a line without a line break is not held back).
func NewLive(w io.Writer, o Options) *Live {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Width <= 0 {
		o.Width = 80
	}
	return &Live{o: o, w: w}
}

// Write writes p (log output) to the terminal: the status line is cleared
// first and redrawn once p's last line is complete.
func (l *Live) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.shown {
		if err := l.put(clearLine); err != nil {
			return 0, err
		}
		l.shown = false
	}
	n, err := l.w.Write(p)
	if err != nil {
		return n, err
	}
	l.partial = len(p) > 0 && p[len(p)-1] != '\n' || len(p) == 0 && l.partial
	l.draw()
	return n, nil
}

// Begin starts a stage: a status line naming it, with a count of total
// steps when total > 0.
func (l *Live) Begin(stage string, total int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.stage, l.total, l.done, l.start = stage, total, 0, l.o.Now()
	if l.stop == nil && l.o.Interval > 0 {
		l.stop = make(chan struct{})
		go l.tick(l.stop)
	}
	l.draw()
}

// Step counts one step of the stage done.
func (l *Live) Step() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stage == "" {
		return
	}
	l.done++
	l.draw()
}

// End ends the stage and clears its line.
func (l *Live) End() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stage = ""
	l.erase()
}

// Close ends the live line for good: the line is cleared, the timer
// stopped; later writes pass straight through.
func (l *Live) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stage, l.closed = "", true
	l.erase()
	if l.stop != nil {
		close(l.stop)
		l.stop = nil
	}
}

// IsTerminal reports true: a Live only ever writes to a terminal.
func (l *Live) IsTerminal() bool { return true }

func (l *Live) tick(stop chan struct{}) {
	t := time.NewTicker(l.o.Interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			l.mu.Lock()
			l.draw()
			l.mu.Unlock()
		}
	}
}

// Status is the status line as it is drawn now ("" when no stage runs).
func (l *Live) Status() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.status()
}

func (l *Live) status() string {
	if l.stage == "" {
		return ""
	}
	s := l.stage
	if l.total > 0 {
		s += fmt.Sprintf(": %d/%d", l.done, l.total)
	} else {
		s += " …"
	}
	s += fmt.Sprintf(" (%s)", l.o.Now().Sub(l.start).Truncate(time.Second))
	if r := []rune(s); len(r) > l.o.Width {
		s = string(r[:l.o.Width-1]) + "…"
	}
	return s
}

// draw (re)draws the status line, unless a written line is unfinished.
func (l *Live) draw() {
	s := l.status()
	if s == "" || l.partial || l.closed {
		return
	}
	if l.put(clearLine+s) == nil {
		l.shown = true
	}
}

func (l *Live) erase() {
	if l.shown && l.put(clearLine) == nil {
		l.shown = false
	}
}

// put writes s and flushes it through a buffering writer.
func (l *Live) put(s string) error {
	if _, err := io.WriteString(l.w, s); err != nil {
		return err
	}
	if f, ok := l.w.(interface{ Flush() error }); ok {
		return f.Flush()
	}
	return nil
}
