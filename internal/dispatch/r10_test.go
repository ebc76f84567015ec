package dispatch_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/tektoncd/pipeline/pkg/client/clientset/versioned/fake"

	"github.com/imagecascade/cascade/internal/config"
	"github.com/imagecascade/cascade/internal/dispatch"
	"github.com/imagecascade/cascade/internal/githubtest"
	"github.com/imagecascade/cascade/internal/retry"
	"github.com/imagecascade/cascade/internal/tektontest"
)

// TestR10_TektonSameCascadeTwiceAtOnce: the same cascade dispatched by
// several runs at the same moment, each with its own dispatcher on the same
// cluster, creates exactly one PipelineRun: one run reports dispatched, the
// others already-dispatched, all under the same key.
func TestR10_TektonSameCascadeTwiceAtOnce(t *testing.T) {
	t.Parallel()
	c := fake.NewSimpleClientset()
	const runs = 6
	outs := make([]dispatch.Outcome, runs)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := dispatch.NewTektonFor(tektontest.PipelineRuns(c), dispatch.TektonOptions{Policy: fakePolicy(retry.NewFakeClock(t0))})
			<-start
			outs[i] = k.Dispatch(context.Background(), tektonTarget())
		}()
	}
	close(start)
	wg.Wait()
	if n := len(listRuns(t, c)); n != 1 {
		t.Fatalf("%d PipelineRuns, want exactly 1", n)
	}
	count := map[dispatch.Status]int{}
	for _, o := range outs {
		count[o.Status]++
		if o.Key != outs[0].Key || o.Detail != "ci/app-a-1a2b1a2b1a2b" {
			t.Errorf("outcome %+v: want key %s and ci/app-a-1a2b1a2b1a2b", o, outs[0].Key)
		}
	}
	if count[dispatch.StatusDispatched] != 1 || count[dispatch.StatusAlreadyDispatched] != runs-1 {
		t.Errorf("statuses %v: want 1 dispatched, %d already-dispatched", count, runs-1)
	}
}

// TestR10_PushDispatchesCarryOneKey: two runs of the same cascade at once
// (repository_dispatch, workflow_dispatch and webhook) both succeed, and
// every delivery of a dependent carries the same dedup key — the one
// DedupKey gives for (dependent, new base digest) — in cascade.id, so the
// receiving side runs one rebuild per key.
func TestR10_PushDispatchesCarryOneKey(t *testing.T) {
	t.Parallel()
	srv := githubtest.New(t)
	srv.Repo("acme/app-gh")
	srv.Repo("acme/app-wf").AddWorkflow(githubtest.Workflow{Path: ".github/workflows/build.yml",
		Inputs: []githubtest.WorkflowInput{{Name: "cascade-id"}}})
	rc := &receiver{}
	hook := httptest.NewServer(rc)
	defer hook.Close()
	targets := []dispatch.Target{
		target("app-gh", repoDispatch("acme/app-gh")),
		target("app-wf", config.Rebuild{GitHub: &config.GitHub{Repository: "acme/app-wf", Workflow: "build.yml", Ref: "main",
			Inputs: map[string]string{"cascade-id": "{{ .Cascade.ID }}"}}}),
		target("app-hook", config.Rebuild{Webhook: &config.Webhook{URL: hook.URL}}),
	}
	const runs = 2
	outs := make([][]dispatch.Outcome, runs)
	var wg sync.WaitGroup
	for i := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := fakePolicy(retry.NewFakeClock(t0))
			ds := map[string]dispatch.Dispatcher{
				"github":  newGitHub(t, srv, p, retry.NewSpacer(-1, 2, nil)),
				"webhook": dispatch.NewWebhook(dispatch.WebhookOptions{HTTPClient: hook.Client(), Policy: p}),
			}
			var err error
			outs[i], err = dispatch.Run(context.Background(), targets, ds, dispatch.RunOptions{})
			if err != nil {
				t.Errorf("run %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	keys := map[string]map[string]bool{} // dependent -> keys seen
	see := func(name, key string) {
		if keys[name] == nil {
			keys[name] = map[string]bool{}
		}
		keys[name][key] = true
	}
	for i, run := range outs {
		for _, o := range run {
			if !o.Status.OK() {
				t.Errorf("run %d: %s %s: %v", i, o.Name, o.Status, o.Err)
			}
			see(o.Name, o.Key)
		}
	}
	for _, d := range srv.RepositoryDispatches() {
		var p dispatch.Payload
		if err := json.Unmarshal(d.ClientPayload, &p); err != nil {
			t.Fatal(err)
		}
		see(p.Dependent, p.Cascade.ID)
	}
	for _, d := range srv.WorkflowDispatches() {
		see("app-wf", d.Inputs["cascade-id"])
	}
	rc.mu.Lock()
	for _, b := range rc.bodies {
		var p dispatch.Payload
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatal(err)
		}
		see(p.Dependent, p.Cascade.ID)
	}
	deliveries := len(srv.RepositoryDispatches()) + len(srv.WorkflowDispatches()) + len(rc.bodies)
	rc.mu.Unlock()
	for _, tg := range targets {
		want := dispatch.DedupKey(tg.Name, tg.Base.Ref.Digest)
		if len(keys[tg.Name]) != 1 || !keys[tg.Name][want] {
			t.Errorf("%s: keys %v, want only %s", tg.Name, keys[tg.Name], want)
		}
	}
	t.Logf("%d deliveries for %d dependents from %d concurrent runs, one key each", deliveries, len(targets), runs)
}
