package run

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imagecascade/cascade/internal/config"
	"github.com/imagecascade/cascade/internal/dispatch"
	"github.com/imagecascade/cascade/internal/engine"
	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/graph"
	"github.com/imagecascade/cascade/internal/history"
	"github.com/imagecascade/cascade/internal/imageref"
	"github.com/imagecascade/cascade/internal/manifests"
	"github.com/imagecascade/cascade/internal/plan"
	"github.com/imagecascade/cascade/internal/registry"
	"github.com/imagecascade/cascade/internal/report"
)

const reg = "reg.example.com/acme/"

func dg(c byte) imageref.Digest { return imageref.Digest("sha256:" + strings.Repeat(string(c), 64)) }

// fakePlanner serves prebuilt plans by repository name.
type fakePlanner struct {
	plans map[string]*plan.Plan
}

func (f *fakePlanner) Plan(_ context.Context, ref imageref.Ref, _ engine.PlanOptions) (*plan.Plan, error) {
	p, ok := f.plans[ref.Name()]
	if !ok {
		return nil, fmt.Errorf("no plan for %s", ref.Name())
	}
	c := *p
	c.Dependents = slices.Clone(p.Dependents)
	c.Refusals = []string{}
	if ref.Digest != "" {
		c.Digest = string(ref.Digest)
	}
	return &c, nil
}

func (f *fakePlanner) Graph() (*graph.Graph, error) { return nil, errors.New("not used") }

// fakeDispatcher records every dispatch; hang makes a target's dispatch
// wait for its context; fail makes one fail.
type fakeDispatcher struct {
	kind string
	mu   sync.Mutex
	got  []dispatch.Target
	hang map[string]bool
	fail map[string]error
	// started is closed when a hanging dispatch starts, after waiting
	// for after (when set).
	started chan struct{}
	after   chan struct{}
	// done, when set, is closed after the first dispatch that succeeds.
	done     chan struct{}
	doneOnce sync.Once
}

func (f *fakeDispatcher) Kind() string { return f.kind }

func (f *fakeDispatcher) Dispatch(ctx context.Context, t dispatch.Target) dispatch.Outcome {
	f.mu.Lock()
	f.got = append(f.got, t)
	f.mu.Unlock()
	o := dispatch.Outcome{Name: t.Name, Kind: f.kind, Key: t.Key(), Attempts: 1}
	if f.hang[t.Name] {
		if f.after != nil {
			<-f.after
		}
		close(f.started)
		<-ctx.Done()
		o.Status, o.Err = dispatch.StatusFailed, ctx.Err()
		return o
	}
	if err := f.fail[t.Name]; err != nil {
		o.Status, o.Err = dispatch.StatusFailed, err
		return o
	}
	o.Status = dispatch.StatusDispatched
	if f.done != nil {
		f.doneOnce.Do(func() { close(f.done) })
	}
	if f.kind == "rebase" {
		o.NewDigest = dg('r')
	}
	return o
}

func (f *fakeDispatcher) names() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, t := range f.got {
		out = append(out, t.Name)
	}
	return out
}

type fakeDispatchers map[string]*fakeDispatcher

func (f fakeDispatchers) For(kind string) (dispatch.Dispatcher, error) {
	d, ok := f[kind]
	if !ok {
		return nil, exitcode.AsInvalid(fmt.Errorf("no %s dispatcher", kind))
	}
	return d, nil
}

func (f fakeDispatchers) count() int {
	n := 0
	for _, d := range f {
		n += len(d.names())
	}
	return n
}

// fakeHistory keeps generations in memory.
type fakeHistory struct {
	mu        sync.Mutex
	gens      map[string][]history.Generation // by image@digest
	latest    *history.Generation
	chain     []history.Generation
	recordErr error
	// recordCtxErr is the error of the context Record was called with.
	recordCtxErr []error
}

func (h *fakeHistory) Load(_ context.Context, image imageref.Ref) ([]history.Generation, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.gens[image.Name()+"@"+string(image.Digest)]), nil
}

func (h *fakeHistory) Record(ctx context.Context, image imageref.Ref, g history.Generation) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recordCtxErr = append(h.recordCtxErr, ctx.Err())
	if h.recordErr != nil {
		return h.recordErr
	}
	if h.gens == nil {
		h.gens = map[string][]history.Generation{}
	}
	g.Digest, g.Image = string(image.Digest), image.Name()
	k := image.Name() + "@" + string(image.Digest)
	h.gens[k] = append(h.gens[k], g)
	return nil
}

func (h *fakeHistory) Latest(context.Context, imageref.Ref) (*history.Generation, error) {
	return h.latest, nil
}

func (h *fakeHistory) Newer(_ context.Context, _ imageref.Ref, latest *history.Generation, d imageref.Digest) (bool, error) {
	if latest == nil || latest.Digest == string(d) {
		return false, nil
	}
	for _, g := range h.chain {
		if g.Digest == string(d) || g.Previous == string(d) {
			return true, nil
		}
	}
	return false, nil
}

func (h *fakeHistory) records() []history.Generation {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []history.Generation
	for _, gs := range h.gens {
		out = append(out, gs...)
	}
	return out
}

type fakeTags map[string]imageref.Digest

func (f fakeTags) Head(_ context.Context, ref imageref.Ref) (registry.Descriptor, error) {
	d, ok := f[ref.Name()]
	if !ok {
		return registry.Descriptor{}, registry.ErrNotFound
	}
	return registry.Descriptor{Digest: d}, nil
}

// fakeManifests counts the writes.
type fakeManifests struct {
	mu      sync.Mutex
	writes  int
	checks  int
	changed int
	err     error
}

func (m *fakeManifests) Update(_ context.Context, ref imageref.Ref, dryRun bool) (*manifests.Result, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if dryRun {
		m.checks++
	} else {
		m.writes++
	}
	if m.err != nil {
		return nil, m.err
	}
	res := &manifests.Result{}
	for i := range m.changed {
		res.Files = append(res.Files, manifests.FileResult{Path: fmt.Sprintf("deploy/%d.yaml", i), Objects: []manifests.ObjectResult{{
			Kind: "Deployment", Changes: []manifests.Change{{Line: 1, Old: ref.Short(), New: ref.Short() + "@" + string(ref.Digest)}}}}})
	}
	return res, nil
}

func (m *fakeManifests) WriteBack(context.Context, imageref.Ref, *manifests.Result) (*report.WriteBack, error) {
	return &report.WriteBack{Mode: "none"}, nil
}

// stream is a config and plans: base → each of direct (with its kind), and
// a chain of rebased images when deep > 0: base → r1 → r2 … → r<deep>,
// each rebase, the last one's child a webhook.
type stream struct {
	cfg     *config.Config
	planner *fakePlanner
}

func newStream(direct map[string]string, deep int) stream {
	cfg := &config.Config{Version: 1, Limits: config.Limits{MaxDispatches: 50, MaxDepth: 10}}
	add := func(name, kind string, from string) {
		im := config.Image{Name: name, Image: reg + name + ":latest", From: []string{reg + from + ":latest"}}
		switch kind {
		case "github":
			im.Rebuild.GitHub = &config.GitHub{Repository: "acme/" + name}
		case "webhook":
			im.Rebuild.Webhook = &config.Webhook{URL: "https://hooks.example.com/" + name}
		case "rebase":
			im.Rebuild.Rebase = &config.Rebase{}
		case "tekton":
			im.Rebuild.Tekton = &config.Tekton{Namespace: "ci", Pipeline: name + "-build"}
		}
		cfg.Images = append(cfg.Images, im)
	}
	cfg.Images = append(cfg.Images, config.Image{Name: "base", Image: reg + "base:latest", Rebuild: config.Rebuild{GitHub: &config.GitHub{Repository: "acme/base"}}})
	root := &plan.Plan{SchemaVersion: 1, Image: reg + "base:latest", Digest: string(dg('b')), Roots: []string{"base"}}
	names := make([]string, 0, len(direct))
	for n := range direct {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		add(n, direct[n], "base")
		root.Dependents = append(root.Dependents, plan.Dependent{Name: n, Image: reg + n + ":latest", Digest: string(dg('1')), Depth: 1,
			Base: "base", Status: plan.Stale, Rebuild: direct[n], Action: plan.ActionDispatch})
	}
	plans := map[string]*plan.Plan{reg + "base": root}
	parent := "base"
	for i := 1; i <= deep; i++ {
		name := fmt.Sprintf("r%d", i)
		kind := "rebase"
		if i == deep {
			kind = "webhook"
		}
		add(name, kind, parent)
		d := plan.Dependent{Name: name, Image: reg + name + ":latest", Digest: string(dg('1')), Depth: i, Base: parent, Status: plan.Stale, Rebuild: kind}
		if i == 1 {
			d.Action = plan.ActionDispatch
		} else {
			d.Action, d.Via = plan.ActionCascade, parent
		}
		root.Dependents = append(root.Dependents, d)
		// The plan of the rebased parent: this one, at depth 1.
		if i > 1 {
			sub := &plan.Plan{SchemaVersion: 1, Image: reg + parent + ":latest", Roots: []string{parent},
				Dependents: []plan.Dependent{{Name: name, Image: reg + name + ":latest", Digest: string(dg('1')), Depth: 1, Base: parent,
					Status: plan.Stale, Rebuild: kind, Action: plan.ActionDispatch}}}
			plans[reg+parent] = sub
		}
		parent = name
	}
	for _, p := range plans {
		for _, d := range p.Dependents {
			if d.Action == plan.ActionDispatch {
				p.Summary.Dispatches++
			}
		}
	}
	return stream{cfg: cfg, planner: &fakePlanner{plans: plans}}
}

func allKinds() fakeDispatchers {
	return fakeDispatchers{"github": {kind: "github"}, "webhook": {kind: "webhook"}, "rebase": {kind: "rebase"}, "tekton": {kind: "tekton"}}
}

func baseRequest() Request {
	return Request{Image: imageref.MustParse(reg + "base:latest@" + string(dg('b')))}
}

func deps(s stream, ds fakeDispatchers, h *fakeHistory, m *fakeManifests) *Deps {
	d := &Deps{Config: s.cfg, Planner: s.planner, Dispatchers: ds, History: h, Getenv: func(string) (string, bool) { return "s3cret", true }}
	if m != nil {
		d.Manifests = m
	}
	return d
}

// TestR30_LimitsOverRebaseTiersRefusedBeforeAnyPush: a limit that only a
// tier opened by a rebase exceeds is refused in phase 1 — nothing rebased,
// pushed or sent — and the plan lists the refusal.
func TestR30_LimitsOverRebaseTiersRefusedBeforeAnyPush(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		deep     int
		maxDepth int
		maxDisp  int
		want     string
	}{
		{name: "depth 1, rebase opens tier 2", deep: 2, maxDepth: 1, want: "cascade too deep: r2"},
		{name: "12-deep rebase chain, max depth 5", deep: 12, maxDepth: 5, want: "cascade too deep: r6"},
		{name: "rebase children over the blast radius", deep: 3, maxDisp: 2, want: "blast radius: 3 dispatches planned over the whole cascade (1 now, 2 after rebases)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newStream(nil, tc.deep)
			if tc.maxDepth > 0 {
				s.cfg.Limits.MaxDepth = tc.maxDepth
			}
			if tc.maxDisp > 0 {
				s.cfg.Limits.MaxDispatches = tc.maxDisp
			}
			ds, h, m := allKinds(), &fakeHistory{}, &fakeManifests{changed: 1}
			out, err := Run(context.Background(), deps(s, ds, h, m), baseRequest())
			if code := exitcode.Of(err); code != exitcode.Refused {
				t.Fatalf("exit %d (%v), want 5", code, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if n := ds.count(); n != 0 {
				t.Errorf("%d dispatches (rebases included) made before the refusal", n)
			}
			if len(h.records()) != 0 || m.writes != 0 {
				t.Errorf("written before the refusal: %d records, %d manifest writes", len(h.records()), m.writes)
			}
			if out == nil || len(out.Plan.Refusals) == 0 || !strings.Contains(strings.Join(out.Plan.Refusals, "\n"), tc.want) {
				t.Errorf("the plan does not list the refusal: %+v", out)
			}
			// The same phase as plan runs it: a dry run refuses the same way.
			req := baseRequest()
			req.DryRun = true
			p, err := Prepare(context.Background(), deps(s, allKinds(), &fakeHistory{}, nil), req)
			if err != nil || p.Refused == nil || !strings.Contains(p.Refused.Error(), tc.want) {
				t.Errorf("dry-run phase 1: %v / %v", err, p.Refused)
			}
		})
	}
}

// TestR31_TemplateOrSecretFailingForOneTargetRefusesAll: a template that
// validates against the sample data but fails for one real target, and a
// secretEnv that is not set, refuse the run before any dispatch.
func TestR31_TemplateOrSecretFailingForOneTargetRefusesAll(t *testing.T) {
	t.Parallel()
	t.Run("template", func(t *testing.T) {
		t.Parallel()
		s := newStream(map[string]string{"a": "github", "b": "tekton", "c": "webhook"}, 0)
		for i := range s.cfg.Images {
			if s.cfg.Images[i].Name == "b" {
				s.cfg.Images[i].Rebuild.Tekton.Params = map[string]string{"PARENT": "{{ index .Cascade.Chain 1 }}"}
			}
		}
		ds := allKinds()
		_, err := Run(context.Background(), deps(s, ds, &fakeHistory{}, nil), baseRequest())
		if exitcode.Of(err) != exitcode.Invalid || !strings.Contains(err.Error(), "b: rebuild.tekton.params") {
			t.Fatalf("want exit 2 naming b's param, got %d: %v", exitcode.Of(err), err)
		}
		if n := ds.count(); n != 0 {
			t.Errorf("%d dispatched before the refusal", n)
		}
	})
	t.Run("secret", func(t *testing.T) {
		t.Parallel()
		s := newStream(map[string]string{"a": "github", "c": "webhook"}, 0)
		for i := range s.cfg.Images {
			if s.cfg.Images[i].Name == "c" {
				s.cfg.Images[i].Rebuild.Webhook.SecretEnv = "C_SECRET"
			}
		}
		ds := allKinds()
		d := deps(s, ds, &fakeHistory{}, nil)
		d.Getenv = func(string) (string, bool) { return "", false }
		_, err := Run(context.Background(), d, baseRequest())
		if exitcode.Of(err) != exitcode.Invalid || !strings.Contains(err.Error(), "C_SECRET is not set") {
			t.Fatalf("want exit 2 naming C_SECRET, got %d: %v", exitcode.Of(err), err)
		}
		if n := ds.count(); n != 0 {
			t.Errorf("%d dispatched before the refusal", n)
		}
	})
	t.Run("no dispatcher", func(t *testing.T) {
		t.Parallel()
		s := newStream(map[string]string{"a": "github", "c": "webhook"}, 0)
		ds := fakeDispatchers{"webhook": {kind: "webhook"}}
		_, err := Run(context.Background(), deps(s, ds, &fakeHistory{}, nil), baseRequest())
		if exitcode.Of(err) != exitcode.Invalid || ds.count() != 0 {
			t.Fatalf("want exit 2 with nothing sent, got %d, %d sent: %v", exitcode.Of(err), ds.count(), err)
		}
	})
}

// TestR33_CancelledRunRecordsWhatWasDelivered: SIGTERM while one dispatch
// hangs: the delivered one is recorded with a live context, the exit code
// says interrupted, and a re-run does not deliver it again.
func TestR33_CancelledRunRecordsWhatWasDelivered(t *testing.T) {
	t.Parallel()
	s := newStream(map[string]string{"fast": "github", "slow": "webhook"}, 0)
	fast := &fakeDispatcher{kind: "github", done: make(chan struct{})}
	hook := &fakeDispatcher{kind: "webhook", hang: map[string]bool{"slow": true}, started: make(chan struct{}), after: fast.done}
	ds := fakeDispatchers{"github": fast, "webhook": hook}
	h, m := &fakeHistory{}, &fakeManifests{changed: 2}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-hook.started
		cancel()
	}()
	out, err := Run(ctx, deps(s, ds, h, m), baseRequest())
	if code := exitcode.Of(err); code != exitcode.Interrupted {
		t.Fatalf("exit %d (%v), want %d", code, err, exitcode.Interrupted)
	}
	if !strings.Contains(err.Error(), "dispatched fast") {
		t.Errorf("the error does not say what was done: %v", err)
	}
	recs := h.records()
	if len(recs) != 1 || len(h.recordCtxErr) != 1 || h.recordCtxErr[0] != nil {
		t.Fatalf("want one record written with a live context, got %d records, contexts %v", len(recs), h.recordCtxErr)
	}
	if m.writes != 0 {
		t.Errorf("manifests written after the cancellation")
	}
	st := map[string]dispatch.Status{}
	for _, d := range recs[0].Dispatches {
		st[d.Dependent] = d.Status
	}
	if st["fast"] != dispatch.StatusDispatched {
		t.Errorf("fast recorded as %q", st["fast"])
	}
	if out == nil || len(out.Dispatches) != 2 {
		t.Errorf("report: %+v", out)
	}
	// The re-run sends only what was not delivered.
	hook2 := &fakeDispatcher{kind: "webhook"}
	gh2 := &fakeDispatcher{kind: "github"}
	if _, err := Run(context.Background(), deps(s, fakeDispatchers{"github": gh2, "webhook": hook2}, h, m), baseRequest()); err != nil {
		t.Fatalf("re-run: %v", err)
	}
	if got := append(gh2.names(), hook2.names()...); !slices.Equal(got, []string{"slow"}) {
		t.Errorf("re-run dispatched %v, want only slow", got)
	}
}

// TestHistoryFailureAfterDispatchIsPartial: the history store refuses the
// record after the dispatches went out: exit 3 (something happened), never
// 4 ("nothing was touched").
func TestHistoryFailureAfterDispatchIsPartial(t *testing.T) {
	t.Parallel()
	s := newStream(map[string]string{"a": "github"}, 0)
	h := &fakeHistory{recordErr: exitcode.AsTransient(errors.New("403 DENIED on the base repository"))}
	_, err := Run(context.Background(), deps(s, allKinds(), h, nil), baseRequest())
	if code := exitcode.Of(err); code != exitcode.Partial {
		t.Fatalf("exit %d (%v), want 3", code, err)
	}
	if !strings.Contains(err.Error(), "the dispatches above happened") {
		t.Errorf("error does not say the dispatches happened: %v", err)
	}
}

// TestExitFourOnlyWhenNothingWasTouched: every dispatch fails transiently;
// with no manifest to pin that is 4 (safe to re-run: only the failures are
// recorded, for the re-run to retry); once manifests were written it is 3.
func TestExitFourOnlyWhenNothingWasTouched(t *testing.T) {
	t.Parallel()
	for _, changed := range []int{0, 2} {
		s := newStream(map[string]string{"a": "github", "b": "webhook"}, 0)
		fail := map[string]error{"a": exitcode.AsTransient(errors.New("503")), "b": exitcode.AsTransient(errors.New("503"))}
		ds := fakeDispatchers{"github": {kind: "github", fail: fail}, "webhook": {kind: "webhook", fail: fail}}
		h, m := &fakeHistory{}, &fakeManifests{changed: changed}
		_, err := Run(context.Background(), deps(s, ds, h, m), baseRequest())
		want := exitcode.Transient
		if changed > 0 {
			want = exitcode.Partial
		}
		if code := exitcode.Of(err); code != want {
			t.Errorf("%d manifests changed: exit %d (%v), want %d", changed, code, err, want)
		}
		// The failures are recorded (settling the claims); that alone is
		// not "touching" anything.
		if recs := h.records(); len(recs) != 1 || len(recs[0].Dispatches) != 2 || recs[0].Dispatches[0].Status != dispatch.StatusFailed {
			t.Errorf("%d manifests changed: records %+v, want the two failures", changed, recs)
		}
	}
}

// TestR34_LateRunWithAnOlderDigestIsRefused: the tag moved on (the
// registry says so), or a newer generation is recorded: exit 5, nothing
// sent or pinned; --allow-rollback lets it through.
func TestR34_LateRunWithAnOlderDigestIsRefused(t *testing.T) {
	t.Parallel()
	newer := &history.Generation{Digest: string(dg('n')), Previous: string(dg('b'))}
	for _, tc := range []struct {
		name string
		tags fakeTags
		h    *fakeHistory
	}{
		{name: "tag moved on", tags: fakeTags{reg + "base": dg('n')}, h: &fakeHistory{}},
		{name: "newer generation recorded", tags: fakeTags{reg + "base": dg('b')}, h: &fakeHistory{latest: newer, chain: []history.Generation{*newer}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newStream(map[string]string{"a": "github"}, 0)
			ds, m := allKinds(), &fakeManifests{changed: 1}
			d := deps(s, ds, tc.h, m)
			d.Tags = tc.tags
			_, err := Run(context.Background(), d, baseRequest())
			if exitcode.Of(err) != exitcode.Refused || !strings.Contains(err.Error(), "rollback") {
				t.Fatalf("exit %d (%v), want 5 naming the rollback", exitcode.Of(err), err)
			}
			if ds.count() != 0 || m.writes != 0 {
				t.Errorf("acted on a rollback: %d dispatches, %d manifest writes", ds.count(), m.writes)
			}
			req := baseRequest()
			req.AllowRollback = true
			if _, err := Run(context.Background(), d, req); err != nil {
				t.Errorf("--allow-rollback: %v", err)
			}
			if m.writes != 1 {
				t.Errorf("--allow-rollback: %d manifest writes, want 1", m.writes)
			}
		})
	}
}

// TestHistoryPreviousIsTheTagsLastGeneration: the generation recorded
// names as previous the digest of the tag's last recorded generation.
func TestHistoryPreviousIsTheTagsLastGeneration(t *testing.T) {
	t.Parallel()
	s := newStream(map[string]string{"a": "github"}, 0)
	h := &fakeHistory{latest: &history.Generation{Digest: string(dg('p'))}}
	if _, err := Run(context.Background(), deps(s, allKinds(), h, nil), baseRequest()); err != nil {
		t.Fatal(err)
	}
	recs := h.records()
	if len(recs) != 1 || recs[0].Previous != string(dg('p')) {
		t.Fatalf("records %+v, want previous %s", recs, dg('p'))
	}
}

// TestChainIsTheFullPath: every payload's chain runs from the origin to
// the dependent's base, whether the dependent is dispatched from the root
// plan or after a rebase.
func TestChainIsTheFullPath(t *testing.T) {
	t.Parallel()
	s := newStream(nil, 3) // base → r1 (rebase) → r2 (rebase) → r3 (webhook)
	// A depth-2 dependent stale against its current parent, dispatched
	// straight from the root plan.
	s.cfg.Images = append(s.cfg.Images,
		config.Image{Name: "p", Image: reg + "p:latest", From: []string{reg + "base:latest"}, Rebuild: config.Rebuild{GitHub: &config.GitHub{Repository: "acme/p"}}},
		config.Image{Name: "q", Image: reg + "q:latest", From: []string{reg + "p:latest"}, Rebuild: config.Rebuild{GitHub: &config.GitHub{Repository: "acme/q"}}})
	root := s.planner.plans[reg+"base"]
	root.Dependents = append(root.Dependents,
		plan.Dependent{Name: "p", Digest: string(dg('2')), Depth: 1, Base: "base", Status: plan.Current, Rebuild: "github", Action: plan.ActionSkip},
		plan.Dependent{Name: "q", Digest: string(dg('3')), Depth: 2, Base: "p", Status: plan.Stale, Rebuild: "github", Action: plan.ActionDispatch})
	ds := allKinds()
	if _, err := Run(context.Background(), deps(s, ds, &fakeHistory{}, nil), baseRequest()); err != nil {
		t.Fatal(err)
	}
	chains := map[string][]string{}
	for _, d := range ds {
		for _, tg := range d.got {
			chains[tg.Name] = tg.Cascade.Chain
		}
	}
	want := map[string][]string{
		"r1": {"base"},
		"r2": {"base", "r1"},
		"r3": {"base", "r1", "r2"},
		"q":  {"base", "p"},
	}
	if diff := cmp.Diff(want, chains); diff != "" {
		t.Errorf("chains (-want +got):\n%s", diff)
	}
}

// TestBlastRadiusCountsOnlyWhatWillBeSent: dependents the history records
// as dispatched for this digest do not count toward the limit, so a
// re-run that sends nothing is not refused.
func TestBlastRadiusCountsOnlyWhatWillBeSent(t *testing.T) {
	t.Parallel()
	s := newStream(map[string]string{"a": "github", "b": "github", "c": "github"}, 0)
	h := &fakeHistory{}
	if _, err := Run(context.Background(), deps(s, allKinds(), h, nil), baseRequest()); err != nil {
		t.Fatal(err)
	}
	s.cfg.Limits.MaxDispatches = 1
	ds := allKinds()
	out, err := Run(context.Background(), deps(s, ds, h, nil), baseRequest())
	if err != nil {
		t.Fatalf("re-run over a limit that counts already-dispatched ones: %v", err)
	}
	if ds.count() != 0 {
		t.Errorf("re-run dispatched %d", ds.count())
	}
	for _, o := range out.Dispatches {
		if o.Status != dispatch.StatusAlreadyDispatched {
			t.Errorf("%s: %s, want already-dispatched", o.Name, o.Status)
		}
	}
}

// TestDryRunSendsAndWritesNothing: a dry run reports every dispatch of
// every tier and the manifest changes, and does nothing.
func TestDryRunSendsAndWritesNothing(t *testing.T) {
	t.Parallel()
	s := newStream(map[string]string{"a": "github"}, 2)
	ds, h, m := allKinds(), &fakeHistory{}, &fakeManifests{changed: 1}
	req := baseRequest()
	req.DryRun = true
	out, err := Run(context.Background(), deps(s, ds, h, m), req)
	if err != nil {
		t.Fatal(err)
	}
	if ds.count() != 0 || len(h.records()) != 0 || m.writes != 0 {
		t.Errorf("dry run acted: %d dispatches, %d records, %d writes", ds.count(), len(h.records()), m.writes)
	}
	var names []string
	for _, o := range out.Dispatches {
		names = append(names, o.Name+"/"+string(o.Status))
	}
	if diff := cmp.Diff([]string{"a/skipped", "r1/skipped", "r2/skipped"}, names); diff != "" {
		t.Errorf("dispatches (-want +got):\n%s", diff)
	}
	if out.Manifests == nil || len(out.Manifests.Changed) != 1 {
		t.Errorf("manifest changes not reported: %+v", out.Manifests)
	}
}

// TestMaxDispatchesMustBePositive: a negative override is invalid.
func TestMaxDispatchesMustBePositive(t *testing.T) {
	t.Parallel()
	s := newStream(map[string]string{"a": "github"}, 0)
	req := baseRequest()
	req.MaxDispatches = -1
	if _, err := Run(context.Background(), deps(s, allKinds(), &fakeHistory{}, nil), req); exitcode.Of(err) != exitcode.Invalid {
		t.Fatalf("exit %d (%v), want 2", exitcode.Of(err), err)
	}
}
