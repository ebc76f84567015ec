package cli

import (
	"encoding/json"
	"maps"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imagecascade/cascade/internal/imagetest"
)

// TestImportCascadesMovedExternalBases: centos:7 moved upstream, golang:1
// did not; the images built on centos are rebuilt, tool (on golang) is not.
// The digest-pinned centos@sha256:… is not imported itself (it never
// moves), but the image pinned to it is built on centos and stale too: its
// pipeline moves the pin (cascade update) and rebuilds.
func TestImportCascadesMovedExternalBases(t *testing.T) {
	reg := imagetest.NewRegistry(t)
	hooks := newHookServer(t)
	t.Setenv("HOOK_SECRET", "s3cret")
	root := imagetest.Root(t)
	c1 := imagetest.On(t, root)
	c1d := reg.Push("library/centos:7", c1)
	g1 := imagetest.On(t, root)
	g1d := reg.Push("library/golang:1", g1)
	reg.Push("acme/httpd-base:latest", imagetest.Annotated(imagetest.On(t, c1), reg.Ref("library/centos:7"), c1d))
	reg.Push("acme/tool:latest", imagetest.Annotated(imagetest.On(t, g1), reg.Ref("library/golang:1"), g1d))
	reg.Push("acme/pinned:latest", imagetest.On(t, root))
	reg.Push("library/centos:7", imagetest.On(t, root)) // upstream moved

	ws := t.TempDir()
	writeFile(t, filepath.Join(ws, "cascade.yaml"), strings.NewReplacer("REG", reg.Host, "HOOKURL", hooks.URL).Replace(`version: 1
images:
  - {name: httpd-base, image: REG/acme/httpd-base:latest, from: [REG/library/centos:7], rebuild: {webhook: {url: "HOOKURL/httpd-base", secretEnv: HOOK_SECRET}}}
  - {name: tool, image: REG/acme/tool:latest, from: [REG/library/golang:1], rebuild: {webhook: {url: "HOOKURL/tool", secretEnv: HOOK_SECRET}}}
  - {name: pinned, image: REG/acme/pinned:latest, from: ["REG/library/centos@sha256:`+strings.Repeat("a", 64)+`"], rebuild: {webhook: {url: "HOOKURL/pinned", secretEnv: HOOK_SECRET}}}
`))
	code, out, errs := run(t, "import", "--workspace", ws, "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	var rep importReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Bases) != 2 || len(rep.Skipped) != 1 {
		t.Fatalf("bases %d, skipped %v; want 2 and the pinned one", len(rep.Bases), rep.Skipped)
	}
	dispatched := map[string]bool{}
	for _, b := range rep.Bases {
		for _, o := range b.Dispatches {
			dispatched[o.Name] = o.Status == "dispatched"
		}
	}
	if !dispatched["httpd-base"] || !dispatched["pinned"] || dispatched["tool"] || len(dispatched) != 2 {
		t.Errorf("dispatched = %v, want httpd-base and pinned", dispatched)
	}
	if hooks.count() != 2 || !strings.Contains(hooks.bodies["/httpd-base"], `"dependent":"httpd-base"`) {
		t.Errorf("webhook bodies = %v", hooks.bodies)
	}

	// The next scheduled import, before the rebuilds have landed: the
	// dispatches are recorded next to the dependents, so nothing is sent
	// again.
	code, out, errs = run(t, "import", "--workspace", ws, "-o", "json")
	if code != 0 {
		t.Fatalf("second import: exit %d\n%s\n%s", code, out, errs)
	}
	hooks.mu.Lock()
	hits := maps.Clone(hooks.hits)
	hooks.mu.Unlock()
	if diff := cmp.Diff(map[string]int{"/httpd-base": 1, "/pinned": 1}, hits); diff != "" {
		t.Errorf("deliveries after two imports (-want +got):\n%s", diff)
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	for _, b := range rep.Bases {
		for _, o := range b.Dispatches {
			if o.Status != "already-dispatched" {
				t.Errorf("second import: %s is %s, want already-dispatched", o.Name, o.Status)
			}
		}
	}
}
