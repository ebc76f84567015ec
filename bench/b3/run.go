package b3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/imagecascade/cascade/bench/b4"
	"github.com/imagecascade/cascade/bench/measure"
	"github.com/imagecascade/cascade/internal/dispatch"
)

// Spec is the workload.
type Spec struct {
	// N is the number of Tekton dependents (PipelineRuns to create).
	N int
	// Raw is the peer's client: the QPS, Burst and concurrency cascade's
	// own Tekton dispatch uses.
	Raw Raw
}

// B3 is docs/benchmarks.md's workload: 500 Tekton dependents.
func B3() Spec { return Spec{N: 500, Raw: CascadeClient()} }

// Smoke is the small version: 20 PipelineRuns.
func Smoke() Spec { return Spec{N: 20, Raw: CascadeClient()} }

// CascadeClient is the client-side limiter and fan-out `cascade run` uses
// for Tekton: dispatch.TektonQPS and dispatch.TektonBurst on its clientset
// (it sets them when the kubeconfig leaves them zero, as kubeconfigs do),
// and dispatch.DefaultConcurrency creates in flight.
func CascadeClient() Raw {
	return Raw{QPS: dispatch.TektonQPS, Burst: dispatch.TektonBurst, Concurrency: dispatch.DefaultConcurrency}
}

// Tool names: the two contenders.
const (
	Cascade = "cascade"
	RawPeer = "raw"
)

// Env is one run's world. Every run creates its objects in a namespace of
// its own; a cascade run also gets a fresh registry and workspace (so no run
// sees another's cascade history), a raw run the objects file.
type Env struct {
	Spec       Spec
	Namespace  string
	Kubeconfig string
	// Fixture is cascade's workload: the base at its new digest and N
	// stale dependents, each rebuilt by a PipelineRun in Namespace.
	Fixture *b4.Fixture
	// Objects is the JSON file of the PipelineRuns the raw peer creates.
	Objects string
}

// CascadeArgs are the arguments of the timed cascade command.
func (e *Env) CascadeArgs() []string {
	return []string{"run", "--image", e.Fixture.Base, "--workspace", e.Fixture.Workspace,
		"--kubeconfig", e.Kubeconfig, "--max-dispatches", strconv.Itoa(e.Spec.N), "-o", "json"}
}

// RawArgs are the arguments of the timed peer command (bench/cmd/b3).
func (e *Env) RawArgs() []string {
	r := e.Spec.Raw
	return []string{"--kubeconfig", e.Kubeconfig, "--namespace", e.Namespace, "--objects", e.Objects,
		"--qps", strconv.FormatFloat(float64(r.QPS), 'g', -1, 32), "--burst", strconv.Itoa(r.Burst), "--concurrency", strconv.Itoa(r.Concurrency)}
}

// Tool is one contender, named Cascade or RawPeer: a binary run with the
// Env's arguments, or, in tests, a function run in-process.
type Tool struct {
	Name   string
	Binary string
	Func   func(ctx context.Context, e *Env) error
}

// Options configures Run.
type Options struct {
	Spec Spec
	// Tools are run in this order in the first round; the first must be
	// cascade: the raw peer creates what cascade's first run created.
	Tools []Tool
	// Runs per tool (default 3).
	Runs int
	// Work holds the workspaces and the objects file.
	Work string
	// Kubeconfig is the admin kubeconfig both tools use; Admin its config,
	// for the harness's own calls (namespaces, listing, clean-up).
	Kubeconfig string
	Admin      *rest.Config
	// Time is GNU time, for peak RSS.
	Time string
	// Log receives one progress line per run; nil means none.
	Log io.Writer
}

// RunStats is one run.
type RunStats struct {
	measure.Sample
	// Created counts the PipelineRuns in the run's namespace afterwards;
	// Dependents the distinct cascade.dev/dependent labels among them.
	Created, Dependents int
}

// Result is one tool's runs.
type Result struct {
	Tool string
	Runs []RunStats
}

// Samples are the timings of the runs.
func (r Result) Samples() []measure.Sample {
	out := make([]measure.Sample, len(r.Runs))
	for i, s := range r.Runs {
		out[i] = s.Sample
	}
	return out
}

// Median is the median wall time.
func (r Result) Median() time.Duration { return measure.Median(r.Samples()) }

// Throughput is N over the median wall time, in objects per second.
func (r Result) Throughput(n int) float64 {
	if m := r.Median(); m > 0 {
		return float64(n) / m.Seconds()
	}
	return 0
}

// Run times every tool Runs times, alternating (round k starts at tool k).
// What each run starts from is built before its clock starts; afterwards
// its PipelineRuns are counted and deleted (not timed).
func Run(ctx context.Context, o Options) ([]Result, error) {
	if o.Runs <= 0 {
		o.Runs = 3
	}
	if len(o.Tools) == 0 || o.Tools[0].Name != Cascade {
		return nil, errors.New("b3: the first tool must be cascade")
	}
	kube, err := kubernetes.NewForConfig(o.Admin)
	if err != nil {
		return nil, fmt.Errorf("b3: %w", err)
	}
	tekton, err := versioned.NewForConfig(o.Admin)
	if err != nil {
		return nil, fmt.Errorf("b3: %w", err)
	}
	h := &harness{o: o, kube: kube, tekton: tekton, objects: filepath.Join(o.Work, "pipelineruns.json")}
	results := make([]Result, len(o.Tools))
	for i, t := range o.Tools {
		results[i].Tool = t.Name
	}
	// Round 1 runs cascade first: its objects are the peer's.
	err = measure.Alternate(o.Runs, len(o.Tools), func(i int) string { return o.Tools[i].Name }, func(round, i int) error {
		t := o.Tools[i]
		st, err := h.runOnce(ctx, t, fmt.Sprintf("b3-%d-%s", round+1, t.Name))
		if err != nil {
			return err
		}
		results[i].Runs = append(results[i].Runs, st)
		if o.Log != nil {
			fmt.Fprintf(o.Log, "run %d/%d %-8s %8.3fs  %d PipelineRuns (%d dependents), %.1f/s\n",
				round+1, o.Runs, t.Name, st.Wall.Seconds(), st.Created, st.Dependents, float64(st.Created)/st.Wall.Seconds())
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

type harness struct {
	o       Options
	kube    kubernetes.Interface
	tekton  versioned.Interface
	objects string // written after cascade's first run
	written bool
}

// runTimeout bounds one run: three times what the limiter allows, plus two
// minutes.
func runTimeout(s Spec) time.Duration {
	qps := float64(max(s.Raw.QPS, 1))
	return 3*time.Duration(float64(s.N)/qps*float64(time.Second)) + 2*time.Minute
}

func (h *harness) runOnce(ctx context.Context, t Tool, ns string) (RunStats, error) {
	var st RunStats
	if _, err := h.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		return st, fmt.Errorf("creating namespace %s: %w", ns, err)
	}
	e := &Env{Spec: h.o.Spec, Namespace: ns, Kubeconfig: h.o.Kubeconfig, Objects: h.objects}
	dir := filepath.Join(h.o.Work, ns)
	defer os.RemoveAll(dir)
	var args []string
	switch t.Name {
	case Cascade:
		f, err := b4.NewFixture(ctx, dir, h.o.Spec.N, fmt.Sprintf("{tekton: {namespace: %s, pipeline: base-build}}", ns), func(_ int, _ string) string {
			return fmt.Sprintf(`{tekton: {namespace: %s, pipeline: app-build, params: {BASE_IMAGE: "{{ .Base.Ref }}"}}}`, ns)
		})
		if err != nil {
			return st, err
		}
		defer f.Close()
		e.Fixture = f
		args = append([]string{t.Binary}, e.CascadeArgs()...)
	case RawPeer:
		if !h.written {
			return st, errors.New("the raw peer runs after cascade's first run, whose objects it creates")
		}
		args = append([]string{t.Binary}, e.RawArgs()...)
	default:
		return st, fmt.Errorf("unknown tool %q", t.Name)
	}
	ctx, cancel := context.WithTimeout(ctx, runTimeout(h.o.Spec))
	defer cancel()
	var err error
	if t.Func != nil {
		start := time.Now()
		err = t.Func(ctx, e)
		st.Wall = time.Since(start)
	} else {
		st.Sample, err = measure.Run(ctx, measure.Cmd{Args: args, Time: h.o.Time})
	}
	if err != nil {
		return st, err
	}
	prs, err := h.tekton.TektonV1().PipelineRuns(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return st, fmt.Errorf("listing the PipelineRuns of %s: %w", ns, err)
	}
	deps := map[string]bool{}
	for _, pr := range prs.Items {
		deps[pr.Labels[dispatch.LabelDependent]] = true
	}
	st.Created, st.Dependents = len(prs.Items), len(deps)
	if t.Name == Cascade && !h.written {
		tmpl := make([]*pipelinev1.PipelineRun, 0, len(prs.Items))
		for _, pr := range prs.Items {
			tmpl = append(tmpl, Template(pr))
		}
		slices.SortFunc(tmpl, func(a, b *pipelinev1.PipelineRun) int { return strings.Compare(a.Name, b.Name) })
		if err := WriteObjects(h.objects, tmpl); err != nil {
			return st, err
		}
		h.written = true
	}
	// Not timed: keep etcd small for the next run.
	if err := h.tekton.TektonV1().PipelineRuns(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
		return st, fmt.Errorf("deleting the PipelineRuns of %s: %w", ns, err)
	}
	return st, nil
}
