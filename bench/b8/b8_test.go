package b8

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestSmoke keeps the harness working: a tiny workload, one run, every
// verdict but the wall time (which a process start dominates at this
// size) must pass.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cascade")
	}
	bin := filepath.Join(t.TempDir(), "cascade")
	build := exec.Command("go", "build", "-o", bin, "github.com/imagecascade/cascade/cmd/cascade")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building cascade: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := Smoke()
	runs, err := Run(ctx, Options{Spec: s, Cascade: bin, Runs: 1, Work: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range Verdicts(s, runs) {
		if !v.Pass && v.Target != Verdicts(s, runs)[1].Target {
			t.Errorf("%s: %s", v.Target, v.Figure)
		}
	}
	if got, want := s.Limit(), time.Duration(2+2*2)*s.Latency; got != want {
		t.Errorf("limit %v, want %v (2 pages, 2 waves of 2 reads)", got, want)
	}
}
