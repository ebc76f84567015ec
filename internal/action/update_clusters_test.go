package action

import (
	"context"
	"strings"
	"testing"

	"github.com/imagecascade/cascade/internal/imageref"
	"github.com/imagecascade/cascade/internal/rollout"
	"github.com/imagecascade/cascade/internal/run"
)

// oneWorkload is a cluster target with one opted-in Deployment that
// rolls; it counts its applies.
type oneWorkload struct{ applies int }

func (c *oneWorkload) Plan(_ context.Context, image imageref.Ref) (*rollout.Result, error) {
	return &rollout.Result{Image: image.String(), Workloads: []rollout.Workload{{Cluster: "prod", Kind: rollout.KindDeployment, Namespace: "shop", Name: "web",
		Status: rollout.StatusRoll, Changes: []rollout.Change{{Field: "containers[name=web].image", From: image.Short(), To: image.String()}}}}}, nil
}

func (c *oneWorkload) Apply(_ context.Context, _ imageref.Ref, res *rollout.Result) {
	c.applies++
	res.Workloads[0].Status = rollout.StatusRolled
}

// TestUpdateCommandRollsClusters: the Action's command update gets the
// cluster targets wire builds for it and rolls them after the files, and
// its log report and step summary list the live workloads.
func TestUpdateCommandRollsClusters(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{"command": "update", "image": "registry.example.com/acme/httpd-base:latest@sha256:" + strings.Repeat("1", 64)})
	c := &oneWorkload{}
	h.w.clusters = []run.ClusterTarget{c}
	if code := h.run(t); code != 0 {
		t.Fatalf("exit %d; log:\n%s", code, h.log.String())
	}
	if c.applies != 1 {
		t.Errorf("%d applies, want 1", c.applies)
	}
	log := h.log.String()
	if !strings.Contains(log, "Live workloads:") || !strings.Contains(log, "Deployment shop/web") || !strings.Contains(log, "rolled") {
		t.Errorf("the log report lacks the rolled workload:\n%s", log)
	}
	if sum := h.summary(t); !strings.Contains(sum, "### Live workloads") || !strings.Contains(sum, "`Deployment shop/web` | rolled") {
		t.Errorf("the summary lacks the rolled workload:\n%s", sum)
	}
}
