package redact

import (
	"bytes"
	"io"
	"sync"
	"sync/atomic"
)

// maxLine bounds what a Writer holds back waiting for a line break.
const maxLine = 1 << 20

// Writer is a line-buffered io.Writer that redacts each line with its
// Redactor and, while quoting is on, quotes workflow-command lines before
// passing it on. Call Flush at the end for a last line without a line
// break. It is safe for concurrent use.
type Writer struct {
	mu    sync.Mutex
	w     io.Writer
	r     *Redactor
	quote *atomic.Bool
	buf   []byte
}

// NewWriter returns a Writer onto w. quote may be nil (never quote) and
// may change while the Writer is in use.
func NewWriter(w io.Writer, r *Redactor, quote *atomic.Bool) *Writer {
	return &Writer{w: w, r: r, quote: quote}
}

// Write buffers p and passes on every complete line. It reports len(p)
// written unless the underlying writer fails.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	i := bytes.LastIndexByte(w.buf, '\n')
	if i < 0 && len(w.buf) <= maxLine {
		return len(p), nil
	}
	if i < 0 {
		// An endless line: pass it on, as one line.
		i = len(w.buf) - 1
	}
	out := w.buf[:i+1]
	err := w.emit(out)
	w.buf = append(w.buf[:0], w.buf[i+1:]...)
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush passes on what is buffered.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) == 0 {
		return nil
	}
	err := w.emit(w.buf)
	w.buf = w.buf[:0]
	return err
}

func (w *Writer) emit(b []byte) error {
	s := w.r.String(string(b))
	if w.quote != nil && w.quote.Load() {
		s = Quote(s)
	}
	_, err := io.WriteString(w.w, s)
	return err
}

// Unredacted returns a writer onto what w writes to, past the redaction
// (and past that of a Writer below it): for the one text that must carry
// a secret, the ::add-mask:: command that has GitHub Actions mask it.
// What w holds back is passed on first, so the order stays.
func (w *Writer) Unredacted() io.Writer { return unredacted{w} }

type unredacted struct{ w *Writer }

func (u unredacted) Write(p []byte) (int, error) {
	u.w.mu.Lock()
	defer u.w.mu.Unlock()
	if len(u.w.buf) > 0 {
		err := u.w.emit(u.w.buf)
		u.w.buf = u.w.buf[:0]
		if err != nil {
			return 0, err
		}
	}
	return Unredacted(u.w.w).Write(p)
}

// Unredacted returns w's unredacted counterpart when w is a Writer (or
// offers one), else w.
func Unredacted(w io.Writer) io.Writer {
	if r, ok := w.(interface{ Unredacted() io.Writer }); ok {
		return r.Unredacted()
	}
	return w
}
