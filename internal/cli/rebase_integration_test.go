package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imagecascade/cascade/internal/plan"
	"github.com/imagecascade/cascade/internal/report"
	"github.com/imagecascade/cascade/internal/testenv"
)

// TestRebaseOnRealRegistry: a dependent built with buildah on base v1 is
// rebased in the real registry onto base v2 by `cascade run` — no rebuild —
// and a second plan finds it current by its (updated) base annotation.
func TestRebaseOnRealRegistry(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	reg, b, centos := startBuilds(ctx, t)
	ws := t.TempDir()
	base := reg.Ref("acme/base:latest")
	site := reg.Ref("acme/static-site:latest")
	writeFile(t, filepath.Join(ws, "base", "Dockerfile"), "FROM "+centos+"\nARG V\nRUN echo $V > /base-version\n")
	writeFile(t, filepath.Join(ws, "site", "Dockerfile"), "FROM "+base+"\nRUN echo hello > /index.html\n")
	writeFile(t, filepath.Join(ws, "cascade.yaml"), strings.ReplaceAll(`version: 1
images:
  - {name: base, image: REG/acme/base:latest, dockerfile: base/Dockerfile, rebuild: {rebase: {}}}
  - {name: static-site, image: REG/acme/static-site:latest, dockerfile: site/Dockerfile, rebuild: {rebase: {}}}
`, "REG", reg.Host))
	build := func(ref, df string, args map[string]string) string {
		t.Helper()
		if err := b.Build(ctx, ws, ref, testenv.BuildOptions{Dockerfile: df, BuildArgs: args}); err != nil {
			t.Fatal(err)
		}
		d, err := b.Push(ctx, ref, "")
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	build(base, "base/Dockerfile", map[string]string{"V": "1"})
	siteV1 := build(site, "site/Dockerfile", nil)
	baseV2 := build(base, "base/Dockerfile", map[string]string{"V": "2"})

	var out, errb bytes.Buffer
	code := Run(ctx, []string{"run", "--image", base, "--workspace", ws, "-o", "json"}, Streams{Out: &out, Err: &errb})
	if code != 0 {
		t.Fatalf("run exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	var r report.Run
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Dispatches) != 1 || r.Dispatches[0].Status != "dispatched" || r.Dispatches[0].NewDigest == "" || string(r.Dispatches[0].NewDigest) == siteV1 {
		t.Fatalf("dispatches = %+v", r.Dispatches)
	}

	out.Reset()
	code = Run(ctx, []string{"plan", "--image", base, "--workspace", ws, "-o", "json"}, Streams{Out: &out, Err: &errb})
	var p plan.Plan
	if code != 0 || json.Unmarshal(out.Bytes(), &p) != nil {
		t.Fatalf("plan exit %d: %s", code, errb.String())
	}
	if len(p.Dependents) != 1 || p.Dependents[0].Status != plan.Current || p.Dependents[0].BuiltOn != baseV2 {
		t.Errorf("after the rebase: %+v, want current on %s", p.Dependents, baseV2)
	}
	if p.Dependents[0].Digest != string(r.Dispatches[0].NewDigest) {
		t.Errorf("registry digest %s, rebase reported %s", p.Dependents[0].Digest, r.Dispatches[0].NewDigest)
	}
}
