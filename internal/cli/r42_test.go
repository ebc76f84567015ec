package cli

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imagecascade/cascade/internal/exitcode"
)

// TestR42_TimeoutBoundsTheRun: --timeout bounds the whole run: a registry
// that never answers does not hold cascade past it.
func TestR42_TimeoutBoundsTheRun(t *testing.T) {
	t.Parallel()
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(stop) })
	host := strings.TrimPrefix(srv.URL, "http://")
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"negative", []string{"--timeout", "-1s"}, exitcode.Invalid},
		{"bounded", []string{"--timeout", "500ms"}, exitcode.Transient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws := t.TempDir()
			writeFile(t, filepath.Join(ws, "cascade.yaml"), "version: 1\nimages:\n  - {name: app, image: "+host+"/acme/app:1, from: ["+host+"/acme/base:1], rebuild: {webhook: {url: \"http://127.0.0.1:1/\"}}}\n")
			start := time.Now()
			code, _, errs := run(t, append([]string{"plan", "--image", host + "/acme/base:1", "--workspace", ws}, tt.args...)...)
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("took %v, want about the timeout", took)
			}
			t.Logf("exit %d after %v: %s", code, time.Since(start), errs)
			if code == exitcode.OK || (tt.want >= 0 && code != tt.want) {
				t.Errorf("exit %d, want %d (-1: any failure): %s", code, tt.want, errs)
			}
		})
	}
}
