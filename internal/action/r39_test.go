package action

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imagecascade/cascade/internal/redact"
)

// TestR39_ActionSinksRedacted: a secret the run knows, in the command's
// report, never reaches the step outputs, the step summary, the
// annotations in the log or the Tekton results.
func TestR39_ActionSinksRedacted(t *testing.T) {
	t.Parallel()
	const secret = "r39-action-Secret-0123456789"
	forms := []string{secret, base64.StdEncoding.EncodeToString([]byte("x-access-token:" + secret))}
	for _, tekton := range []bool{false, true} {
		h := newHarness(t, map[string]string{"image": "registry.example.com/acme/httpd-base:latest"})
		rep := strings.ReplaceAll(runJSON, `"deploy/base.yaml"`, `"deploy/`+secret+`-`+forms[1]+`.yaml"`)
		rep = strings.ReplaceAll(rep, "https://github.example.com/acme/base/pull/7", "https://github.example.com/acme/base/pull/7?t="+secret)
		h.w = newWorld(t, rep)
		h.w.fail["app-a"] = errors.New("failed with " + forms[1])
		dir := ""
		if tekton {
			dir = t.TempDir()
		}
		ctx := redact.NewContext(context.Background(), redact.New(secret))
		Run(ctx, h.options(dir))
		sinks := map[string]string{"log": h.log.String()}
		if tekton {
			for _, n := range []string{"STALE", "DISPATCHED", "UPDATED_FILES"} {
				b, _ := os.ReadFile(filepath.Join(dir, n))
				sinks["tekton result "+n] = string(b)
			}
		} else {
			b, _ := os.ReadFile(h.env["GITHUB_OUTPUT"])
			sinks["outputs"] = string(b)
			sinks["summary"] = h.summary(t)
		}
		for sink, text := range sinks {
			for _, f := range forms {
				if strings.Contains(text, f) {
					t.Errorf("tekton=%v: %s holds %q:\n%s", tekton, sink, f, text)
				}
			}
		}
	}
}
