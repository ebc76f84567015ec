package rollout

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/imageref"
	"github.com/imagecascade/cascade/internal/manifests"
	"github.com/imagecascade/cascade/internal/plan"
)

// FollowAnnotation opts a workload in without OpenShift's triggers
// annotation: "true" follows the updated tag in every container that
// references it, "a,b" only in containers a and b.
const FollowAnnotation = "cascade.dev/follow"

// The workload kinds of the cluster target.
const (
	KindDeployment       = "Deployment"
	KindStatefulSet      = "StatefulSet"
	KindDaemonSet        = "DaemonSet"
	KindCronJob          = "CronJob"
	KindDeploymentConfig = "DeploymentConfig"
)

// Kinds are the kinds the cluster target knows, in the order it lists them.
var Kinds = []string{KindDeployment, KindStatefulSet, KindDaemonSet, KindCronJob, KindDeploymentConfig}

// DefaultPageSize is how many objects one list request asks for.
const DefaultPageSize = 500

// DefaultConcurrency bounds the applies in flight.
const DefaultConcurrency = 8

// Status is what happens, or happened, to one workload.
type Status = plan.WorkloadStatus

const (
	// StatusRoll: opted in and not at the digest; the dry run passed.
	StatusRoll Status = "roll"
	// StatusRolled: moved to the digest.
	StatusRolled Status = "rolled"
	// StatusCurrent: every opted-in container is at the digest already.
	StatusCurrent Status = "current"
	// StatusNotOptedIn: references the image but did not opt in; would
	// roll if it did.
	StatusNotOptedIn Status = "not-opted-in"
	// StatusPaused: its only triggers for the image are paused.
	StatusPaused Status = "paused"
	// StatusGitOps: owned by a GitOps controller; left to it.
	StatusGitOps Status = "gitops"
	// StatusSkipped: references the repository but not the updated tag,
	// or its opt-in cannot be read.
	StatusSkipped Status = "skipped"
	// StatusFailed: the dry run or the apply failed.
	StatusFailed Status = "failed"
)

// Change is one container moved.
type Change = plan.WorkloadChange

// Workload is one live object that references the updated repository.
type Workload = plan.Workload

// Result is the cluster target's outcome for one updated image.
type Result struct {
	// Image is the updated reference with its digest.
	Image     string     `json:"image"`
	Workloads []Workload `json:"workloads"`
	// Notes say what was not looked at (a kind whose API is absent).
	Notes []string `json:"notes,omitempty"`

	// bodies are the apply bodies of the workloads that roll, by index;
	// errs the failures, by index.
	bodies map[int][]byte
	errs   map[int]error
}

// Count returns how many workloads have status s.
func (r *Result) Count(s Status) int {
	n := 0
	for _, w := range r.Workloads {
		if w.Status == s {
			n++
		}
	}
	return n
}

// Rollouts is how many workloads roll (planned) or rolled: what the blast
// radius counts.
func (r *Result) Rollouts() int { return r.Count(StatusRoll) + r.Count(StatusRolled) }

// Err joins the failures.
func (r *Result) Err() error {
	var errs []error
	for i, w := range r.Workloads {
		if w.Status == StatusFailed {
			err := fmt.Errorf("%s: %s", w.ID(), w.Reason)
			if e, ok := r.errs[i]; ok {
				err = classify(fmt.Errorf("%s: %w", w.ID(), e))
			}
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Target is where and what the cluster target looks at.
type Target struct {
	// Name names the cluster in reports.
	Name string
	// Namespaces to look in; empty means every namespace.
	Namespaces []string
	// Kinds to look at (of Kinds); empty means all of them.
	Kinds []string
	// PageSize is the list page size (DefaultPageSize when zero).
	PageSize int64
	// Concurrency bounds applies in flight (DefaultConcurrency when zero).
	Concurrency int
}

// Cluster moves the workloads of one cluster.
type Cluster struct {
	api    API
	target Target
}

// New returns the cluster target over api.
func New(api API, t Target) *Cluster {
	return &Cluster{api: api, target: t}
}

// FieldManager is the field manager of cascade's applies for image:
// "cascade:REGISTRY/REPOSITORY" (a hash when that is over the API server's
// 128 bytes).
func FieldManager(image imageref.Ref) string {
	m := "cascade:" + image.Name()
	if len(m) > 128 {
		sum := sha256.Sum256([]byte(image.Name()))
		m = "cascade:" + hex.EncodeToString(sum[:16])
	}
	return m
}

func (c *Cluster) kinds() []string {
	if len(c.target.Kinds) == 0 {
		return Kinds
	}
	return c.target.Kinds
}

func (c *Cluster) namespaces() []string {
	if len(c.target.Namespaces) == 0 {
		return []string{metav1.NamespaceAll}
	}
	return c.target.Namespaces
}

// Plan finds the workloads that reference image (with its digest), decides
// for each, and makes every apply as a server-side dry run: an object the
// API server would not accept or a permission missing is a failed workload
// (Result.Err), before anything changed. An error is a failure to list.
func (c *Cluster) Plan(ctx context.Context, image imageref.Ref) (*Result, error) {
	if image.Digest == "" || image.Tag == "" {
		return nil, exitcode.AsInvalid(fmt.Errorf("the cluster target needs the updated image's tag and digest, got %q", image.String()))
	}
	res := &Result{Image: image.Short() + "@" + string(image.Digest), Workloads: []Workload{}, bodies: map[int][]byte{}, errs: map[int]error{}}
	for _, kind := range c.kinds() {
		served, err := c.api.Served(ctx, kind)
		if err != nil {
			return nil, fmt.Errorf("finding the %s API: %w", kind, err)
		}
		if !served {
			res.Notes = append(res.Notes, kind+": the API server does not serve this kind; not looked at")
			continue
		}
		for _, ns := range c.namespaces() {
			pageSize := c.target.PageSize
			if pageSize <= 0 {
				pageSize = DefaultPageSize
			}
			cont := ""
			for {
				page, next, err := c.api.List(ctx, kind, ns, metav1.ListOptions{Limit: pageSize, Continue: cont})
				if err != nil {
					where := "every namespace"
					if ns != "" {
						where = "namespace " + ns
					}
					return nil, classify(fmt.Errorf("listing %ss in %s: %w", kind, where, err))
				}
				for i := range page {
					if w, body, ok := decide(&page[i], image); ok {
						w.Cluster = c.target.Name
						if body != nil {
							res.bodies[len(res.Workloads)] = body
						}
						res.Workloads = append(res.Workloads, w)
					}
				}
				if next == "" {
					break
				}
				cont = next
			}
		}
	}
	c.applyAll(ctx, res, image, true)
	return res, nil
}

// Apply makes the applies Plan checked: every workload of status roll
// becomes rolled or failed. Call it with the Result of Plan.
func (c *Cluster) Apply(ctx context.Context, image imageref.Ref, res *Result) {
	c.applyAll(ctx, res, image, false)
}

func (c *Cluster) applyAll(ctx context.Context, res *Result, image imageref.Ref, dryRun bool) {
	manager := FieldManager(image)
	n := c.target.Concurrency
	if n <= 0 {
		n = DefaultConcurrency
	}
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	var mu sync.Mutex // guards res.errs
	for i := range res.Workloads {
		w := &res.Workloads[i]
		if w.Status != StatusRoll {
			continue
		}
		if ctx.Err() != nil {
			err := fmt.Errorf("not applied: %w", context.Cause(ctx))
			if dryRun {
				err = fmt.Errorf("not checked: %w", context.Cause(ctx))
			}
			mu.Lock()
			res.errs[i] = err
			mu.Unlock()
			w.Status, w.Reason = StatusFailed, err.Error()
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			force := true
			opts := metav1.PatchOptions{FieldManager: manager, Force: &force}
			if dryRun {
				opts.DryRun = []string{metav1.DryRunAll}
			}
			err := c.api.Apply(ctx, w.Kind, w.Namespace, w.Name, res.bodies[i], opts)
			switch {
			case err != nil:
				if dryRun {
					err = fmt.Errorf("server-side dry run: %w", err)
				} else {
					err = fmt.Errorf("apply: %w", err)
				}
				mu.Lock()
				res.errs[i] = err
				mu.Unlock()
				w.Status, w.Reason = StatusFailed, err.Error()
			case !dryRun:
				w.Status = StatusRolled
			}
		}()
	}
	wg.Wait()
}

// classify gives an API error its exit code: a refusal by the API server
// (forbidden, unauthorized, invalid) is invalid input; a server error,
// throttling or timeout is transient.
func classify(err error) error {
	switch {
	case apierrors.IsForbidden(err), apierrors.IsUnauthorized(err), apierrors.IsInvalid(err), apierrors.IsBadRequest(err), apierrors.IsNotFound(err):
		return exitcode.AsInvalid(err)
	}
	return exitcode.AsTransient(err)
}

// Object is one listed workload, reduced to what the target reads.
type Object struct {
	Kind       string
	APIVersion string
	Meta       metav1.ObjectMeta
	// PodSpec is the pod template's spec (nil when it has none).
	PodSpec *PodSpec
}

// PodSpec is the part of a pod template's spec the target reads.
type PodSpec struct {
	InitContainers []Container `json:"initContainers"`
	Containers     []Container `json:"containers"`
}

// Container is a container's name and image.
type Container struct {
	Name  string `json:"name"`
	Image string `json:"image"`
}

// podSpecPath is where kind keeps its pod template's spec.
func podSpecPath(kind string) []string {
	if kind == KindCronJob {
		return []string{"spec", "jobTemplate", "spec", "template", "spec"}
	}
	return []string{"spec", "template", "spec"}
}

// gitOps says which GitOps controller owns m ("" when none).
func gitOps(m *metav1.ObjectMeta) string {
	for _, k := range []string{"argocd.argoproj.io/instance"} {
		if _, ok := m.Labels[k]; ok {
			return "Argo CD (label " + k + ")"
		}
	}
	if _, ok := m.Annotations["argocd.argoproj.io/tracking-id"]; ok {
		return "Argo CD (annotation argocd.argoproj.io/tracking-id)"
	}
	for _, k := range []string{"kustomize.toolkit.fluxcd.io/name", "helm.toolkit.fluxcd.io/name"} {
		if _, ok := m.Labels[k]; ok {
			return "Flux (label " + k + ")"
		}
	}
	for _, f := range m.ManagedFields {
		switch f.Manager {
		case "argocd-controller", "argocd-application-controller":
			return "Argo CD (field manager " + f.Manager + ")"
		case "kustomize-controller", "helm-controller":
			return "Flux (field manager " + f.Manager + ")"
		}
	}
	return ""
}

// container is one container of a pod spec that references the updated
// repository.
type container struct {
	list  string // "containers" or "initContainers"
	index int
	name  string
	image string
}

func (c container) field() string {
	return fmt.Sprintf("%s[name=%s].image", c.list, c.name)
}

// decide reads one object: false when it references neither the updated
// repository nor (through a trigger) the updated image.
func decide(o *Object, image imageref.Ref) (w Workload, body []byte, ok bool) {
	w = Workload{Kind: o.Kind, Namespace: o.Meta.Namespace, Name: o.Meta.Name}
	if o.PodSpec == nil {
		return w, nil, false
	}
	var trig manifests.Triggers
	var trigErr error
	if v, ok := o.Meta.Annotations[manifests.TriggersAnnotation]; ok {
		trig, trigErr = manifests.ParseTriggers(v, image)
	}
	follow, hasFollow := o.Meta.Annotations[FollowAnnotation]
	followAll, followNames := parseFollow(follow)

	var relevant []container // every container of the repository, or named by a trigger
	var moves []Change
	var notes []string
	current, optedOut, paused := 0, 0, 0
	keep := map[string]string{} // field → the value to apply
	lists := []struct {
		name string
		cs   []Container
	}{{"initContainers", o.PodSpec.InitContainers}, {"containers", o.PodSpec.Containers}}
	for _, l := range lists {
		for i, c := range l.cs {
			ct := container{list: l.name, index: i, name: c.Name, image: c.Image}
			ref, err := imageref.Parse(c.Image)
			sameRepo := err == nil && ref.SameRepository(image)
			sel := trig.Select(l.name, i, c.Name)
			if !sameRepo && sel != manifests.Named {
				continue
			}
			relevant = append(relevant, ct)
			if sameRepo {
				keep[ct.field()] = c.Image
			}
			// Where it would move to.
			var to, why string
			if sameRepo {
				to, why = manifests.Pin(ref, image)
			} else if v, ok := manifests.TriggeredValue(c.Image, image); ok {
				to = v
			} else {
				why = "named by an " + manifests.TriggersAnnotation + " entry for " + image.Short() + " but holds another image"
			}
			if to == "" {
				notes = append(notes, ct.field()+": "+why)
				continue
			}
			// Opted in?
			optIn := false
			switch {
			case trigErr != nil:
			case sel == manifests.Named:
				optIn = true
			case sel == manifests.Paused:
				paused++
				notes = append(notes, ct.field()+": its trigger is paused")
				continue
			case sel == manifests.NotNamed:
				optedOut++
				notes = append(notes, ct.field()+": the triggers for "+image.Short()+" name other containers")
				continue
			case hasFollow && (followAll || followNames[c.Name]):
				optIn = true
			}
			if !optIn {
				optedOut++
				continue
			}
			if to == c.Image {
				current++
				continue
			}
			keep[ct.field()] = to
			moves = append(moves, Change{Field: ct.field(), From: c.Image, To: to})
		}
	}
	if len(relevant) == 0 {
		return w, nil, false
	}
	w.Reason = strings.Join(notes, "; ")
	switch owner := gitOps(&o.Meta); {
	case trigErr != nil:
		w.Status, w.Reason = StatusSkipped, trigErr.Error()
	case owner != "" && (len(moves) > 0 || current > 0 || optedOut > 0):
		w.Status, w.Reason = StatusGitOps, "owned by "+owner+": change its source (cascade update), not the live object"
		w.Changes = moves
	case len(moves) > 0:
		w.Status, w.Changes = StatusRoll, moves
		body = applyBody(o, relevant, keep)
	case current > 0:
		w.Status, w.Reason = StatusCurrent, joinReason("already at "+string(image.Digest), w.Reason)
	case paused > 0:
		w.Status = StatusPaused
	case optedOut > 0:
		w.Status = StatusNotOptedIn
		w.Reason = joinReason("would roll if opted in ("+manifests.TriggersAnnotation+" or "+FollowAnnotation+")", w.Reason)
	default:
		w.Status = StatusSkipped
	}
	return w, body, true
}

func joinReason(a, b string) string {
	if b == "" {
		return a
	}
	return a + "; " + b
}

// parseFollow reads FollowAnnotation.
func parseFollow(v string) (all bool, names map[string]bool) {
	v = strings.TrimSpace(v)
	if strings.EqualFold(v, "true") {
		return true, nil
	}
	names = map[string]bool{}
	for n := range strings.SplitSeq(v, ",") {
		if n = strings.TrimSpace(n); n != "" {
			names[n] = true
		}
	}
	return false, names
}

// applyBody is the server-side apply body: the object's identity and, for
// every relevant container, its name and the image to hold.
func applyBody(o *Object, cs []container, keep map[string]string) []byte {
	type entry struct {
		Name  string `json:"name"`
		Image string `json:"image"`
	}
	spec := map[string]any{}
	for _, c := range cs {
		img, ok := keep[c.field()]
		if !ok {
			continue
		}
		l, _ := spec[c.list].([]entry)
		if slices.ContainsFunc(l, func(e entry) bool { return e.Name == c.name }) {
			continue
		}
		spec[c.list] = append(l, entry{Name: c.name, Image: img})
	}
	var node any = spec
	path := podSpecPath(o.Kind)
	for i := len(path) - 1; i >= 0; i-- {
		node = map[string]any{path[i]: node}
	}
	body := node.(map[string]any)
	body["apiVersion"] = o.APIVersion
	body["kind"] = o.Kind
	body["metadata"] = map[string]any{"name": o.Meta.Name, "namespace": o.Meta.Namespace}
	// Maps of strings always marshal.
	b, _ := json.Marshal(body)
	return b
}
