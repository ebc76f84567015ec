package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imagecascade/cascade/internal/exitcode"
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
		{[]string{"--image", "registry.example.com/acme/app-a:latest"}, exitcode.Invalid},
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
