package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/imagetest"
)

const deployment = `# app-a deployment
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-a
spec:
  template:
    spec:
      containers:
        - name: web
          image: "registry.example.com/acme/app-a:latest"   # pinned by cascade
        - name: side
          image: registry.example.com/acme/app-a-migrations:latest
        - name: other
          image: registry.example.com/acme/app-a:v1
`

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestUpdateCommand(t *testing.T) {
	t.Parallel()
	ws := t.TempDir()
	file := filepath.Join(ws, "deploy", "app.yaml")
	writeFile(t, file, deployment)
	newRef := "registry.example.com/acme/app-a:latest@sha256:" + hex64

	// --dry-run shows the diff and writes nothing.
	code, out, errs := run(t, "update", "--workspace", ws, "--image", newRef, "--dry-run")
	if code != 0 {
		t.Fatalf("dry run exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "+          image: \""+newRef+"\"") {
		t.Errorf("dry run lacks the diff:\n%s", out)
	}
	if got, _ := os.ReadFile(file); string(got) != deployment {
		t.Errorf("dry run changed the file")
	}

	// A real run changes exactly the one value.
	code, out, errs = run(t, "update", "--workspace", ws, "--image", newRef, "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var res struct {
		Changed []string `json:"changed"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Changed) != 1 || res.Changed[0] != "deploy/app.yaml" {
		t.Errorf("json = %s (%v), want changed [deploy/app.yaml]", out, err)
	}
	got, _ := os.ReadFile(file)
	want := strings.Replace(deployment, `"registry.example.com/acme/app-a:latest"`, `"`+newRef+`"`, 1)
	if string(got) != want {
		t.Errorf("file after update:\n%s\nwant:\n%s", got, want)
	}

	// Again: a no-op, exit 0.
	code, out, _ = run(t, "update", "--workspace", ws, "--image", newRef)
	if code != 0 || !strings.Contains(out, "up to date") {
		t.Errorf("re-run: exit %d, %s", code, out)
	}
}

func TestUpdateRefusals(t *testing.T) {
	t.Parallel()
	ws := t.TempDir()
	writeFile(t, filepath.Join(ws, "deploy", "app.yaml"), deployment)
	tests := []struct {
		args []string
		code int
	}{
		{[]string{"--image", "registry.example.com/acme/app-a@sha256:" + hex64}, exitcode.Invalid},
		{[]string{"--image", "registry.example.com/acme/app-a:latest@sha256:" + hex64, "--paths", "../x/*.yaml"}, exitcode.Refused},
		{[]string{"--image", "registry.example.com/acme/app-a:latest@sha256:" + hex64, "--paths", "/etc/*.yaml"}, exitcode.Refused},
	}
	for _, tt := range tests {
		code, _, errs := run(t, append([]string{"update", "--workspace", ws}, tt.args...)...)
		if code != tt.code {
			t.Errorf("update %v: exit %d, want %d: %s", tt.args, code, tt.code, errs)
		}
	}
	if got, _ := os.ReadFile(filepath.Join(ws, "deploy", "app.yaml")); string(got) != deployment {
		t.Error("a refused update changed the file")
	}
}

// TestUpdateResolvesTheDigest: without a digest, update resolves it with
// one HEAD, as its help says, and pins that.
func TestUpdateResolvesTheDigest(t *testing.T) {
	t.Parallel()
	reg := imagetest.NewRegistry(t)
	d := reg.Push("acme/app-a:latest", imagetest.Root(t))
	ws := t.TempDir()
	ref := reg.Ref("acme/app-a:latest")
	writeFile(t, filepath.Join(ws, "deploy", "app.yaml"), "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers:\n    - name: c\n      image: "+ref+"\n")
	code, _, errs := run(t, "update", "--workspace", ws, "--image", ref)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	got, err := os.ReadFile(filepath.Join(ws, "deploy", "app.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(got), ref+"@"+d.String()) {
		t.Errorf("not pinned to the registry's digest %s:\n%s", d, got)
	}
	// A registry that cannot be reached: a classified failure naming what
	// to do, the file untouched.
	code, _, errs = run(t, "update", "--workspace", ws, "--registry-retry-budget", "1s", "--image", "127.0.0.1:1/acme/app-a:latest")
	if code != exitcode.Transient || !strings.Contains(errs, "or pass --digest") {
		t.Errorf("unreachable registry: exit %d: %s", code, errs)
	}
}
