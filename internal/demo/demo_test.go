package demo

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/imagecascade/cascade/internal/dispatch"
)

func TestSeedScenario(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	res, err := Run(context.Background(), &out, Options{})
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	if s := res.Before.Summary; s.Current != 2 || s.Stale != 0 {
		t.Errorf("before the rebuild: %+v, want 2 current", s)
	}
	if s := res.After.Summary; s.Stale != 2 || s.Dispatches != 2 {
		t.Errorf("after the rebuild: %+v, want app-a and app-b stale", s)
	}
	for _, o := range res.Dispatches {
		if o.Status != dispatch.StatusDispatched {
			t.Errorf("%s: %s %v", o.Name, o.Status, o.Err)
		}
	}
	if s := res.Final.Summary; s.Current != 2 || s.Stale != 0 {
		t.Errorf("after the apps' pipelines: %+v, want all current", s)
	}
	for _, want := range []string{"deploy/app-a/deployment.yaml", "deploy/app-b/kustomization.yaml", "+    digest: sha256:"} {
		if !strings.Contains(res.Diff, want) {
			t.Errorf("manifest diff lacks %q:\n%s", want, res.Diff)
		}
	}
	if _, err := os.Stat(res.Workspace); !os.IsNotExist(err) {
		t.Errorf("the workspace %s should be removed without --keep", res.Workspace)
	}
}

func TestKeepLeavesWorkspace(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	res, err := Run(context.Background(), &out, Options{Keep: true})
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(res.Workspace)
	if _, err := os.Stat(res.Workspace + "/deploy/app-a/deployment.yaml"); err != nil {
		t.Errorf("kept workspace lacks the manifests: %v", err)
	}
	if !strings.Contains(out.String(), "Workspace kept at "+res.Workspace) {
		t.Error("the demo should say where the workspace is")
	}
}
