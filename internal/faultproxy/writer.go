package faultproxy

import (
	"net/http"
	"strconv"
	"time"
)

// slowSteps is how many pieces a slow body is cut into.
const slowSteps = 10

// faultWriter applies a fault to an answer being written: it sets the
// fault's headers when the status is written, and with SlowBody writes the
// body in slowSteps pieces, flushed one by one, SlowBody/slowSteps apart.
type faultWriter struct {
	http.ResponseWriter
	f    *Fault
	done <-chan struct{}
	req  *http.Request

	wroteHeader bool
	chunk       int // bytes per piece; 0 until known
}

func (w *faultWriter) WriteHeader(code int) {
	if w.wroteHeader {
		return
	}
	w.wroteHeader = true
	for k, v := range w.f.Headers {
		w.Header().Set(k, v)
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *faultWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.f.SlowBody <= 0 {
		return w.ResponseWriter.Write(b)
	}
	if w.chunk == 0 {
		n, err := strconv.Atoi(w.Header().Get("Content-Length"))
		if err != nil || n <= 0 {
			n = len(b)
		}
		w.chunk = max(1, (n+slowSteps-1)/slowSteps)
	}
	rc := http.NewResponseController(w.ResponseWriter)
	written := 0
	for written < len(b) {
		if !w.pause() {
			return written, http.ErrHandlerTimeout
		}
		end := min(len(b), written+w.chunk)
		n, err := w.ResponseWriter.Write(b[written:end])
		written += n
		if err != nil {
			return written, err
		}
		_ = rc.Flush()
	}
	return written, nil
}

// pause waits one step of a slow body; false when the client or the test
// ended first.
func (w *faultWriter) pause() bool {
	t := time.NewTimer(w.f.SlowBody / slowSteps)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-w.req.Context().Done():
		return false
	case <-w.done:
		return false
	}
}

// Flush lets the reverse proxy flush through the wrapper.
func (w *faultWriter) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }

// Unwrap gives http.ResponseController the underlying writer.
func (w *faultWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
