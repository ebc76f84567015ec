// Package b7 is benchmark B7 of docs/benchmarks.md: live rollouts at scale.
// On a real kube-apiserver it creates Spec.Namespaces namespaces holding
// Spec.PerNamespace Deployments each, Spec.Opted of them opted in (half by
// image.openshift.io/triggers, half by cascade.dev/follow) to follow the
// updated image; of the others, one in five names the same image without
// opting in, the rest other images. Then it times, alternating, `cascade
// run` (the real binary, whose config's clusters: section names the
// namespaces), raw client-go patches of exactly the targets at cascade's
// client QPS, burst and concurrency (with and without a dry run first) and
// a `kubectl set image` loop, checking after every run that exactly the
// targets moved (every other object keeps its resourceVersion), and
// resetting the targets between runs (not timed). See bench/README.md.
package b7

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sync/errgroup"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/imagecascade/cascade/bench/b4"
	"github.com/imagecascade/cascade/bench/measure"
	"github.com/imagecascade/cascade/internal/rollout"
)

// Spec is the workload.
type Spec struct {
	Namespaces, PerNamespace, Opted int
	// KubectlSample is how many targets the kubectl loop moves in one run
	// (0: all); its time is scaled to all targets (the loop is sequential,
	// one process per object, so its time is linear in the count).
	KubectlSample int
	Raw           Raw
}

// B7 is docs/benchmarks.md's workload: 12,000 Deployments in 20
// namespaces, 2,000 opted in.
func B7() Spec {
	return Spec{Namespaces: 20, PerNamespace: 600, Opted: 100, KubectlSample: 200, Raw: CascadeClient()}
}

// Smoke is the small version: 120 Deployments in 2 namespaces, 20 opted in.
func Smoke() Spec {
	return Spec{Namespaces: 2, PerNamespace: 60, Opted: 10, KubectlSample: 5, Raw: CascadeClient()}
}

// Total is the number of Deployments; Targets the opted-in ones.
func (s Spec) Total() int   { return s.Namespaces * s.PerNamespace }
func (s Spec) Targets() int { return s.Namespaces * s.Opted }

// CascadeClient is the client-side limiter and fan-out of cascade's cluster
// target: rollout.DefaultQPS and DefaultBurst (a kubeconfig leaves them
// zero), rollout.DefaultConcurrency applies in flight.
func CascadeClient() Raw {
	return Raw{QPS: rollout.DefaultQPS, Burst: rollout.DefaultBurst, Concurrency: rollout.DefaultConcurrency}
}

// Tool names.
const (
	Cascade   = "cascade"
	RawPeer   = "raw"
	RawDryRun = "raw+dry-run"
	Kubectl   = "kubectl"
)

// Container is the name of the container that follows the image.
const Container = "web"

// OldDigest is what the workloads hold before a run.
const OldDigest = "sha256:0000000000000000000000000000000000000000000000000000000000000001"

// Target is one object a correct run changes.
type Target struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Container string `json:"container"`
	Image     string `json:"image"`
}

// Namespace is the name of namespace i.
func Namespace(i int) string { return fmt.Sprintf("b7-%02d", i) }

// Name is the name of Deployment j of a namespace.
func Name(j int) string { return fmt.Sprintf("d-%04d", j) }

// deployment j of namespace ns; repo is the followed repository (REPO, its
// tag latest).
func deployment(ns string, j int, s Spec, repo string) *appsv1.Deployment {
	name := Name(j)
	image := fmt.Sprintf("registry.example/acme/other-%d:1.0", j)
	var ann map[string]string
	switch {
	case j < s.Opted && j%2 == 0:
		ann = map[string]string{rollout.FollowAnnotation: "true"}
		image = repo + ":latest@" + OldDigest
	case j < s.Opted:
		tr, _ := json.Marshal([]map[string]any{{
			"from":      map[string]string{"kind": "ImageStreamTag", "name": "base:latest"},
			"fieldPath": `spec.template.spec.containers[?(@.name=="` + Container + `")].image`,
		}})
		ann = map[string]string{"image.openshift.io/triggers": string(tr)}
		image = repo + ":latest@" + OldDigest
	case j%5 == 0:
		image = repo + ":latest@" + OldDigest // not opted in: must not move
	}
	one := int32(1)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Annotations: ann},
		Spec: appsv1.DeploymentSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{
					{Name: Container, Image: image},
					{Name: "sidecar", Image: "registry.example/acme/sidecar:2.1"},
				}},
			},
		},
	}
}

// adminClient is a clientset without a client-side limit, for the
// harness's own work (creates, lists, resets).
func adminClient(cfg *rest.Config) (*kubernetes.Clientset, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = 2000, 2000
	return kubernetes.NewForConfig(cfg)
}

// Populate creates the namespaces and Deployments, 16 creates in flight,
// and returns the targets (repo the followed repository, newRef the image
// they must reach).
func Populate(ctx context.Context, admin *rest.Config, s Spec, repo, newRef string) ([]Target, error) {
	c, err := adminClient(admin)
	if err != nil {
		return nil, fmt.Errorf("b7: %w", err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	var targets []Target
	for i := range s.Namespaces {
		ns := Namespace(i)
		if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			return nil, fmt.Errorf("creating namespace %s: %w", ns, err)
		}
		for j := range s.PerNamespace {
			if j < s.Opted {
				targets = append(targets, Target{Namespace: ns, Name: Name(j), Container: Container, Image: newRef})
			}
			g.Go(func() error {
				if _, err := c.AppsV1().Deployments(ns).Create(gctx, deployment(ns, j, s, repo), metav1.CreateOptions{}); err != nil {
					return fmt.Errorf("creating Deployment %s/%s: %w", ns, Name(j), err)
				}
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return targets, nil
}

// state is what every Deployment looks like: resourceVersion and the
// followed container's image, by "namespace/name".
type state map[string]objState

type objState struct{ rv, image string }

// snapshot lists every Deployment of the namespaces, 500 a page.
func snapshot(ctx context.Context, c kubernetes.Interface, s Spec) (state, error) {
	st := state{}
	for i := range s.Namespaces {
		ns := Namespace(i)
		cont := ""
		for {
			l, err := c.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{Limit: 500, Continue: cont})
			if err != nil {
				return nil, fmt.Errorf("listing the Deployments of %s: %w", ns, err)
			}
			for _, d := range l.Items {
				img := ""
				for _, ct := range d.Spec.Template.Spec.Containers {
					if ct.Name == Container {
						img = ct.Image
					}
				}
				st[ns+"/"+d.Name] = objState{rv: d.ResourceVersion, image: img}
			}
			if cont = l.Continue; cont == "" {
				break
			}
		}
	}
	return st, nil
}

// Check is what a run changed, against the state before it.
type Check struct {
	// Moved counts the targets at the new image with a new
	// resourceVersion; Missed the targets that are not; Stray the other
	// objects whose resourceVersion changed.
	Moved, Missed, Stray int
}

// Exact reports whether the run changed exactly the expected targets
// (want of them).
func (c Check) Exact(want int) bool { return c.Moved == want && c.Missed == 0 && c.Stray == 0 }

func check(before, after state, targets []Target) Check {
	var c Check
	is := map[string]Target{}
	for _, t := range targets {
		is[t.Namespace+"/"+t.Name] = t
	}
	for k, b := range before {
		a := after[k]
		if t, ok := is[k]; ok {
			if a.image == t.Image && a.rv != b.rv {
				c.Moved++
			} else {
				c.Missed++
			}
		} else if a.rv != b.rv {
			c.Stray++
		}
	}
	return c
}

// reset moves the targets back to their old image (not timed).
func reset(ctx context.Context, c kubernetes.Interface, targets []Target, repo string) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for _, t := range targets {
		g.Go(func() error {
			_, err := c.AppsV1().Deployments(t.Namespace).Patch(gctx, t.Name, types.StrategicMergePatchType,
				SetImagePatch(t.Container, repo+":latest@"+OldDigest), metav1.PatchOptions{FieldManager: "b7-reset"})
			if err != nil {
				return fmt.Errorf("resetting %s/%s: %w", t.Namespace, t.Name, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// SetImagePatch is the strategic merge patch `kubectl set image` sends: the
// container, by name, with its new image.
func SetImagePatch(container, image string) []byte {
	b, _ := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
		"containers": []map[string]string{{"name": container, "image": image}}}}}})
	return b
}

// Env is one run's world.
type Env struct {
	Spec       Spec
	Kubeconfig string
	// Fixture is the registry holding the updated image and the
	// workspace whose cascade.yaml has the clusters: section.
	Fixture *b4.Fixture
	// Targets is the JSON file of the targets (the peers' input); Sample
	// the kubectl loop's share of them.
	Targets, Sample string
	// Image is REPO:latest, Digest the new digest.
	Image, Digest string
}

// CascadeArgs are the arguments of the timed cascade command.
func (e *Env) CascadeArgs() []string {
	return []string{"run", "--image", e.Image, "--digest", e.Digest, "--workspace", e.Fixture.Workspace,
		"--kubeconfig", e.Kubeconfig, "--max-dispatches", strconv.Itoa(e.Spec.Targets()), "-o", "json"}
}

// RawArgs are the arguments of the raw peer (bench/cmd/b7 patch).
func (e *Env) RawArgs(dryRunFirst bool) []string {
	r := e.Spec.Raw
	a := []string{"patch", "--kubeconfig", e.Kubeconfig, "--targets", e.Targets,
		"--qps", strconv.FormatFloat(float64(r.QPS), 'g', -1, 32), "--burst", strconv.Itoa(r.Burst), "--concurrency", strconv.Itoa(r.Concurrency)}
	if dryRunFirst {
		a = append(a, "--dry-run-first")
	}
	return a
}

// Tool is one contender: a binary run with the Env's arguments (Args), or,
// in tests, a function run in-process.
type Tool struct {
	Name string
	Args func(e *Env) []string
	Func func(ctx context.Context, e *Env) error
	// Sampled tools move Spec.KubectlSample targets; their time is scaled.
	Sampled bool
}

// Options configures Run.
type Options struct {
	Spec       Spec
	Tools      []Tool
	Runs       int
	Work       string
	Kubeconfig string
	Admin      *rest.Config
	Time       string
	Log        io.Writer
}

// RunStats is one run.
type RunStats struct {
	measure.Sample
	// Moved is how many objects the run was given; Scaled the wall time
	// for all targets (Wall × targets ÷ moved for a sampled tool).
	Moved  int
	Scaled time.Duration
	Check  Check
}

// Result is one tool's runs.
type Result struct {
	Tool string
	Runs []RunStats
}

// Median is the median of the scaled wall times.
func (r Result) Median() time.Duration {
	d := make([]time.Duration, len(r.Runs))
	for i, s := range r.Runs {
		d[i] = s.Scaled
	}
	return measure.MedianOf(d)
}

// Samples are the runs' samples.
func (r Result) Samples() []measure.Sample {
	out := make([]measure.Sample, len(r.Runs))
	for i, s := range r.Runs {
		out[i] = s.Sample
	}
	return out
}

// Run populates the cluster, then times every tool Runs times,
// alternating; it checks and resets after every run.
func Run(ctx context.Context, o Options) ([]Result, error) {
	if o.Runs <= 0 {
		o.Runs = 2
	}
	s := o.Spec
	c, err := adminClient(o.Admin)
	if err != nil {
		return nil, fmt.Errorf("b7: %w", err)
	}
	f, err := b4.NewFixture(ctx, filepath.Join(o.Work, "fixture"), 0, "{webhook: {url: \"http://127.0.0.1:9/unused\"}}", nil)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	repo := f.Registry + "/acme/base"
	ref, err := name.ParseReference(f.Base)
	if err != nil {
		return nil, fmt.Errorf("b7: %w", err)
	}
	desc, err := remote.Head(ref, remote.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("b7: reading the base's digest: %w", err)
	}
	digest := desc.Digest.String()
	e := &Env{Spec: s, Kubeconfig: o.Kubeconfig, Fixture: f, Image: f.Base, Digest: digest,
		Targets: filepath.Join(o.Work, "targets.json"), Sample: filepath.Join(o.Work, "sample.json")}
	cfg := fmt.Sprintf("version: 1\nimages:\n  - {name: base, image: %s, rebuild: {webhook: {url: \"http://127.0.0.1:9/unused\"}}}\nclusters:\n  - name: bench\n    kinds: [Deployment]\n    namespaces: [", f.Base)
	for i := range s.Namespaces {
		if i > 0 {
			cfg += ", "
		}
		cfg += Namespace(i)
	}
	cfg += "]\n"
	if err := os.WriteFile(filepath.Join(f.Workspace, "cascade.yaml"), []byte(cfg), 0o644); err != nil {
		return nil, fmt.Errorf("writing the config: %w", err)
	}
	start := time.Now()
	targets, err := Populate(ctx, o.Admin, s, repo, f.Base+"@"+digest)
	if err != nil {
		return nil, err
	}
	if o.Log != nil {
		fmt.Fprintf(o.Log, "created %d Deployments (%d targets) in %d namespaces in %.1fs\n", s.Total(), len(targets), s.Namespaces, time.Since(start).Seconds())
	}
	sample := targets
	if n := s.KubectlSample; n > 0 && n < len(targets) {
		// Spread over the namespaces: every k-th target.
		sample = nil
		for i := 0; len(sample) < n; i += len(targets) / n {
			sample = append(sample, targets[i])
		}
	}
	if err := WriteTargets(e.Targets, targets); err != nil {
		return nil, err
	}
	if err := WriteTargets(e.Sample, sample); err != nil {
		return nil, err
	}
	results := make([]Result, len(o.Tools))
	for i, t := range o.Tools {
		results[i].Tool = t.Name
	}
	err = measure.Alternate(o.Runs, len(o.Tools), func(i int) string { return o.Tools[i].Name }, func(round, i int) error {
		t := o.Tools[i]
		before, err := snapshot(ctx, c, s)
		if err != nil {
			return err
		}
		want := targets
		if t.Sampled {
			want = sample
		}
		rctx, cancel := context.WithTimeout(ctx, runTimeout(s))
		defer cancel()
		var st RunStats
		if t.Func != nil {
			t0 := time.Now()
			err = t.Func(rctx, e)
			st.Wall = time.Since(t0)
		} else {
			var out limitedBuffer
			st.Sample, err = measure.Run(rctx, measure.Cmd{Args: t.Args(e), Time: o.Time, Stdout: &out})
		}
		if err != nil {
			return fmt.Errorf("%s: %w", t.Name, err)
		}
		st.Moved = len(want)
		st.Scaled = time.Duration(float64(st.Wall) * float64(len(targets)) / float64(max(len(want), 1)))
		after, err := snapshot(ctx, c, s)
		if err != nil {
			return err
		}
		st.Check = check(before, after, want)
		results[i].Runs = append(results[i].Runs, st)
		if o.Log != nil {
			fmt.Fprintf(o.Log, "run %d/%d %-12s %8.3fs for %d objects (%.3fs for %d)  moved %d missed %d stray %d\n",
				round+1, o.Runs, t.Name, st.Wall.Seconds(), len(want), st.Scaled.Seconds(), len(targets), st.Check.Moved, st.Check.Missed, st.Check.Stray)
		}
		return reset(ctx, c, want, repo)
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

// runTimeout bounds one run: three times what the limiter allows for two
// requests per target, plus five minutes (the kubectl loop's sample).
func runTimeout(s Spec) time.Duration {
	qps := float64(max(s.Raw.QPS, 1))
	return 3*time.Duration(float64(2*s.Targets())/qps*float64(time.Second)) + 5*time.Minute
}

// limitedBuffer discards a command's standard output (cascade's report).
type limitedBuffer struct{}

func (limitedBuffer) Write(p []byte) (int, error) { return len(p), nil }

// WriteTargets writes ts as a JSON array.
func WriteTargets(path string, ts []Target) error {
	b, err := json.Marshal(ts)
	if err != nil {
		return fmt.Errorf("encoding the targets: %w", err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("writing the targets: %w", err)
	}
	return nil
}

// ReadTargets reads a file written by WriteTargets.
func ReadTargets(path string) ([]Target, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the targets: %w", err)
	}
	var ts []Target
	if err := json.Unmarshal(b, &ts); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", path, err)
	}
	if len(ts) == 0 {
		return nil, errors.New("no targets in " + path)
	}
	return ts, nil
}
