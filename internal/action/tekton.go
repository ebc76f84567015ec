package action

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/imagecascade/cascade/internal/dispatch"
	"github.com/imagecascade/cascade/internal/redact"
	"github.com/imagecascade/cascade/internal/report"
)

// MaxTektonResult bounds each Tekton result file. Tekton's default budget
// is 4096 bytes for all of a step's results (termination message); larger
// results need results-from: sidecar-logs. JSON arrays over the limit are
// cut to their longest prefix that fits, and stay valid JSON.
const MaxTektonResult = 1024

// writeTektonResults writes the Task results STALE (a count), DISPATCHED
// (a JSON array of the dependents whose rebuild this run started — not
// those an earlier or a concurrent run started, which the log lists) and
// UPDATED_FILES (a JSON array of the manifests changed) into dir.
func writeTektonResults(dir string, r *report.Run, rd *redact.Redactor) error {
	stale := 0
	dispatched, files := []string{}, []string{}
	if r != nil {
		stale = r.StaleDependents()
		for _, o := range r.Dispatches {
			if o.Status == dispatch.StatusDispatched {
				dispatched = append(dispatched, o.Name)
			}
		}
		if r.Manifests != nil {
			files = append(files, r.Manifests.Changed...)
		}
	}
	results := map[string]string{
		"STALE":         strconv.Itoa(stale),
		"DISPATCHED":    boundedJSONArray(dispatched, MaxTektonResult),
		"UPDATED_FILES": boundedJSONArray(files, MaxTektonResult),
	}
	for name, v := range results {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(rd.String(v)), 0o644); err != nil {
			return fmt.Errorf("writing Tekton result %s: %w", name, err)
		}
	}
	return nil
}

// boundedJSONArray encodes the longest prefix of items whose JSON array is
// at most max bytes.
func boundedJSONArray(items []string, max int) string {
	for n := len(items); n >= 0; n-- {
		b, err := json.Marshal(items[:n])
		if err == nil && len(b) <= max {
			return string(b)
		}
	}
	return "[]"
}
