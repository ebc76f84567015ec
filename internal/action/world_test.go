package action

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/imagecascade/cascade/internal/config"
	"github.com/imagecascade/cascade/internal/dispatch"
	"github.com/imagecascade/cascade/internal/engine"
	"github.com/imagecascade/cascade/internal/graph"
	"github.com/imagecascade/cascade/internal/imageref"
	"github.com/imagecascade/cascade/internal/manifests"
	"github.com/imagecascade/cascade/internal/plan"
	"github.com/imagecascade/cascade/internal/report"
	"github.com/imagecascade/cascade/internal/run"
	"github.com/imagecascade/cascade/internal/wire"
)

// world is what the fakes of run.Deps serve: the plan, the dispatch
// outcomes and the manifest update of a report (runJSON), which internal/run
// turns back into a report by really running. It records what the action
// asked of it.
type world struct {
	rep report.Run
	// fail makes a dependent's dispatch fail with the error; buildErr
	// makes every builder fail.
	fail     map[string]error
	buildErr error
	// clusters are the cluster targets of command update.
	clusters []run.ClusterTarget

	mu      sync.Mutex
	opts    []wire.Options
	planned []imageref.Ref
	sent    []dispatch.Target
}

func newWorld(t *testing.T, reportJSON string) *world {
	t.Helper()
	w := &world{fail: map[string]error{}}
	if err := json.Unmarshal([]byte(reportJSON), &w.rep); err != nil {
		t.Fatalf("the world's report: %v", err)
	}
	return w
}

func (w *world) builders() Builders {
	return Builders{
		Run: func(o wire.Options) (*run.Deps, error) {
			w.record(o)
			if w.buildErr != nil {
				return nil, w.buildErr
			}
			return &run.Deps{Config: w.config(), Planner: w, Dispatchers: w, Manifests: w, Log: o.Log}, nil
		},
		Plan: func(o wire.Options) (*run.Deps, error) {
			w.record(o)
			if w.buildErr != nil {
				return nil, w.buildErr
			}
			return &run.Deps{Config: w.config(), Planner: w, Log: o.Log}, nil
		},
		Update: func(_ context.Context, o wire.Options, ref imageref.Ref) (*run.UpdateDeps, imageref.Ref, error) {
			w.record(o)
			if w.buildErr != nil {
				return nil, ref, w.buildErr
			}
			if ref.Digest == "" {
				ref.Digest = imageref.Digest(w.rep.Plan.Digest)
			}
			return &run.UpdateDeps{Manifests: w, Clusters: w.clusters, Log: o.Log}, ref, nil
		},
	}
}

func (w *world) record(o wire.Options) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.opts = append(w.opts, o)
}

// config has one image per name in the plan, each built on its base, with
// the plan's rebuild kind.
func (w *world) config() *config.Config {
	p := w.rep.Plan
	cfg := &config.Config{Version: 1, Limits: config.Limits{MaxDispatches: 50, MaxDepth: 10}}
	images := map[string]string{}
	for _, r := range p.Roots {
		images[r] = p.Image
		cfg.Images = append(cfg.Images, config.Image{Name: r, Image: p.Image, Rebuild: config.Rebuild{GitHub: &config.GitHub{Repository: "acme/" + r}}})
	}
	for _, d := range p.Dependents {
		images[d.Name] = d.Image
	}
	for _, d := range p.Dependents {
		im := config.Image{Name: d.Name, Image: d.Image, From: []string{images[d.Base]}}
		switch d.Rebuild {
		case "github":
			im.Rebuild.GitHub = &config.GitHub{Repository: "acme/" + d.Name}
		case "tekton":
			im.Rebuild.Tekton = &config.Tekton{Namespace: "ci", Pipeline: d.Name + "-build"}
		case "webhook":
			im.Rebuild.Webhook = &config.Webhook{URL: "https://hooks.example.com/" + d.Name}
		case "rebase":
			im.Rebuild.Rebase = &config.Rebase{}
		}
		cfg.Images = append(cfg.Images, im)
	}
	return cfg
}

// Plan serves the report's plan, at the digest asked for.
func (w *world) Plan(_ context.Context, ref imageref.Ref, _ engine.PlanOptions) (*plan.Plan, error) {
	w.mu.Lock()
	w.planned = append(w.planned, ref)
	w.mu.Unlock()
	if w.rep.Plan == nil {
		return nil, errors.New("the world has no plan")
	}
	c := *w.rep.Plan
	c.Dependents = slices.Clone(c.Dependents)
	c.Refusals = []string{}
	if ref.Digest != "" {
		c.Digest = string(ref.Digest)
	}
	return &c, nil
}

func (w *world) Graph() (*graph.Graph, error) { return nil, errors.New("not used") }

// For: the world dispatches every kind itself.
func (w *world) For(kind string) (dispatch.Dispatcher, error) {
	return worldDispatcher{w: w, kind: kind}, nil
}

type worldDispatcher struct {
	w    *world
	kind string
}

func (d worldDispatcher) Kind() string { return d.kind }

// Dispatch answers with the report's outcome for the dependent (dispatched
// when it has none), or its failure.
func (d worldDispatcher) Dispatch(_ context.Context, t dispatch.Target) dispatch.Outcome {
	d.w.mu.Lock()
	d.w.sent = append(d.w.sent, t)
	d.w.mu.Unlock()
	o := dispatch.Outcome{Name: t.Name, Kind: d.kind, Key: t.Key(), Status: dispatch.StatusDispatched, Attempts: 1}
	for _, r := range d.w.rep.Dispatches {
		if r.Name == t.Name {
			o.Status, o.Detail = r.Status, r.Detail
		}
	}
	if err := d.w.fail[t.Name]; err != nil {
		o.Status, o.Err, o.Attempts, o.Detail = dispatch.StatusFailed, err, 3, ""
	}
	return o
}

// Update pins what the report's manifests say.
func (w *world) Update(_ context.Context, ref imageref.Ref, dryRun bool) (*manifests.Result, error) {
	res := &manifests.Result{}
	if m := w.rep.Manifests; m != nil {
		res.Files = slices.Clone(m.Files)
	}
	return res, nil
}

// WriteBack says what the report's write-back said.
func (w *world) WriteBack(context.Context, imageref.Ref, *manifests.Result) (*report.WriteBack, error) {
	if m := w.rep.Manifests; m != nil && m.WriteBack != nil {
		wb := *m.WriteBack
		return &wb, nil
	}
	return &report.WriteBack{Mode: "none"}, nil
}

func (w *world) lastOptions(t *testing.T) wire.Options {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.opts) == 0 {
		t.Fatal("no clients were built")
	}
	return w.opts[len(w.opts)-1]
}

func (w *world) sentNames() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, t := range w.sent {
		out = append(out, t.Name)
	}
	return out
}
