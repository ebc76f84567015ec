package b1

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
)

// Repository is the updated image's repository in the workload.
const Repository = "registry.example.com/acme/app-a"

// Tag is the updated image's tag.
const Tag = "latest"

var (
	// NewDigest is the updated image's new digest.
	NewDigest = fakeDigest("new")
	// OldDigest is the digest the workload's pinned references hold.
	OldDigest = fakeDigest("old")
)

// Image is the updated image as cascade update takes it: REPO:TAG@NEW.
func Image() string { return Repository + ":" + Tag + "@" + NewDigest }

func fakeDigest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Spec sizes a workload.
type Spec struct {
	// Files is the number of YAML files (10,000 for B1).
	Files int
	// Targets is how many of them reference the updated image (1,000).
	Targets int
	// Seed makes the tree reproducible.
	Seed uint64
	// Padding scales the filler (env vars, config data, comments) of each
	// file; 1.15 gives B1's ~8 KB average.
	Padding float64
}

// B1 is the workload of docs/benchmarks.md.
func B1() Spec { return Spec{Files: 10000, Targets: 1000, Seed: 1, Padding: 1.15} }

// Smoke is a small workload that keeps the harness from rotting.
func Smoke() Spec { return Spec{Files: 200, Targets: 20, Seed: 1, Padding: 1.15} }

// Workload is a generated tree.
type Workload struct {
	Spec Spec
	// Version is the generator's; a cached tree from another is rebuilt.
	Version int
	// Original is the pristine tree; Expected is it after a correct update.
	Original, Expected string
	// Files, Targets and Kustomizations count files; Bytes is the size of
	// the original tree.
	Files, Targets, Kustomizations int
	Bytes                          int64
	// MinimalBytes is the byte difference between Original and Expected.
	MinimalBytes int
}

// kinds of files, with their weights out of 100.
const (
	kindDeployment = iota
	kindMultiDoc
	kindCRLF
	kindComments
	kindKustomization
	kindHelm
	kindCronJob
	kindStatefulSet
)

var kindWeights = []int{35, 20, 10, 10, 10, 10, 3, 2}

// Generate writes the workload under dir: dir/original and dir/expected.
func Generate(dir string, s Spec) (*Workload, error) {
	if s.Files <= 0 || s.Targets < 0 || s.Targets > s.Files {
		return nil, fmt.Errorf("generating B1: bad spec %+v", s)
	}
	if s.Padding <= 0 {
		s.Padding = 1
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("generating B1: %w", err)
	}
	w := &Workload{Spec: s, Version: generatorVersion, Original: filepath.Join(dir, "original"), Expected: filepath.Join(dir, "expected"), Files: s.Files, Targets: s.Targets}
	rng := rand.New(rand.NewPCG(s.Seed, 0xb1))
	target := make([]bool, s.Files)
	for _, i := range rng.Perm(s.Files)[:s.Targets] {
		target[i] = true
	}
	for i := range s.Files {
		g := &gen{rng: rng, pad: s.Padding, target: target[i], n: i}
		kind := g.pickKind()
		rel := g.path(kind)
		g.file(kind)
		if kind == kindKustomization {
			w.Kustomizations++
		}
		old, want := g.old.String(), g.new.String()
		if kind == kindCRLF {
			old, want = strings.ReplaceAll(old, "\n", "\r\n"), strings.ReplaceAll(want, "\n", "\r\n")
		}
		if err := writeFile(filepath.Join(w.Original, rel), old); err != nil {
			return nil, err
		}
		if err := writeFile(filepath.Join(w.Expected, rel), want); err != nil {
			return nil, err
		}
		w.Bytes += int64(len(old))
		w.MinimalBytes += changedBytes([]byte(old), []byte(want))
	}
	stamp, err := json.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("generating B1: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, stampName), stamp, 0o644); err != nil {
		return nil, fmt.Errorf("generating B1: %w", err)
	}
	return w, nil
}

// generatorVersion changes whenever Generate writes different trees.
const generatorVersion = 4

// stampName records, beside the trees, the spec they were generated from.
const stampName = "workload.json"

// Cached returns the workload generated under dir earlier from the same
// spec, or generates it.
func Cached(dir string, s Spec) (*Workload, error) {
	if b, err := os.ReadFile(filepath.Join(dir, stampName)); err == nil {
		var w Workload
		if json.Unmarshal(b, &w) == nil && w.Spec == s && w.Version == generatorVersion && w.Original == filepath.Join(dir, "original") {
			return &w, nil
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("generating B1: %w", err)
	}
	return Generate(dir, s)
}

func writeFile(p, content string) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("generating B1: %w", err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		return fmt.Errorf("generating B1: %w", err)
	}
	return nil
}

// gen writes one file twice: as it is (old) and as it must become (new).
type gen struct {
	rng      *rand.Rand
	pad      float64
	target   bool
	n        int
	old, new strings.Builder
}

func (g *gen) pickKind() int {
	r := g.rng.IntN(100)
	for k, w := range kindWeights {
		if r < w {
			return k
		}
		r -= w
	}
	return kindDeployment
}

func (g *gen) path(kind int) string {
	team := fmt.Sprintf("team%02d", g.n%50)
	switch kind {
	case kindKustomization:
		return filepath.Join(team, "overlays", fmt.Sprintf("env%05d", g.n), "kustomization.yaml")
	case kindHelm:
		return filepath.Join(team, "charts", fmt.Sprintf("svc%05d", g.n), "values.yaml")
	case kindMultiDoc:
		return filepath.Join(team, "deploy", fmt.Sprintf("bundle%05d.yaml", g.n))
	default:
		return filepath.Join(team, "deploy", fmt.Sprintf("svc%05d.yml", g.n))
	}
}

// line writes the same text to both versions, followed by a newline.
func (g *gen) line(format string, args ...any) {
	s := fmt.Sprintf(format, args...) + "\n"
	g.old.WriteString(s)
	g.new.WriteString(s)
}

// text writes different text to the two versions.
func (g *gen) text(old, new string) {
	g.old.WriteString(old)
	g.new.WriteString(new)
}

// count scales a filler count by the padding.
func (g *gen) count(lo, hi int) int {
	return int(float64(lo+g.rng.IntN(hi-lo+1)) * g.pad)
}

var decoys = []string{
	"registry.example.com/acme/app-b:latest",
	"registry.example.com/acme/app-a-migrations:latest",
	"registry.example.com/acme/app-a:v2",
	"registry.example.com/acme/app-a:v2@" + fakeDigest("v2"),
	"nginx:1.27",
	"docker.io/library/redis:7.2",
	"quay.io/prometheus/node-exporter:v1.8.0",
	"ghcr.io/acme/sidecar:1.4.2@" + fakeDigest("sidecar"),
}

// decoy is an image that must never change.
func (g *gen) decoy() string {
	// Most files name unrelated images; a few name near misses of the
	// updated one (another tag, a longer repository name): one in twenty.
	if g.rng.IntN(20) != 0 {
		return decoys[[]int{0, 4, 5, 6, 7}[g.rng.IntN(5)]]
	}
	return decoys[1+g.rng.IntN(3)]
}

// image writes an image value: the updated image in one of the forms that
// track it when the file is a target (once), else a decoy.
func (g *gen) image(indent string, isTarget bool) {
	q := [...]string{"", "", "", `"`, `'`}[g.rng.IntN(5)]
	if !isTarget {
		g.line("%simage: %s%s%s", indent, q, g.decoy(), q)
		return
	}
	var old string
	switch r := g.rng.IntN(10); {
	case r < 5:
		old = Repository + ":" + Tag
	case r < 8:
		old = Repository + ":" + Tag + "@" + OldDigest
	default:
		old = Repository
	}
	g.text(indent+"image: "+q+old+q+"\n", indent+"image: "+q+Repository+":"+Tag+"@"+NewDigest+q+"\n")
}

func (g *gen) name() string {
	return fmt.Sprintf("svc%05d", g.n)
}

func (g *gen) file(kind int) {
	switch kind {
	case kindDeployment, kindCRLF:
		g.workload("apps/v1", "Deployment", "", g.target, false)
	case kindComments:
		g.workload("apps/v1", "Deployment", "", g.target, true)
	case kindCronJob:
		g.workload("batch/v1", "CronJob", "", g.target, false)
	case kindStatefulSet:
		g.workload("apps/v1", "StatefulSet", "", g.target, false)
	case kindMultiDoc:
		g.multiDoc()
	case kindKustomization:
		g.kustomization()
	case kindHelm:
		g.helm()
	}
}

// comment writes a comment line when the file is comment-heavy.
func (g *gen) comment(heavy bool, indent, text string) {
	if heavy {
		g.line("%s# %s", indent, text)
	}
}

// workload writes one workload document with 1-3 containers; when isTarget,
// one of them runs the updated image.
func (g *gen) workload(api, kind, suffix string, isTarget, heavy bool) {
	name := g.name() + suffix
	g.comment(heavy, "", fmt.Sprintf("%s %s: owned by team %02d; edit through the platform repo, not by hand.", kind, name, g.n%50))
	if heavy && isTarget && g.rng.IntN(2) == 0 {
		// A comment that names the image: a text-blind tool rewrites it.
		g.line("# previously ran %s:%s before the migration", Repository, Tag)
	}
	g.line("apiVersion: %s", api)
	g.line("kind: %s", kind)
	g.line("metadata:")
	g.line("  name: %s", name)
	g.line("  labels:")
	g.line("    app.kubernetes.io/name: %s", name)
	g.line("    app.kubernetes.io/part-of: team%02d", g.n%50)
	g.line("spec:")
	pod := "  "
	switch kind {
	case "CronJob":
		g.line("  schedule: \"*/%d * * * *\"", 5+g.rng.IntN(50))
		g.line("  jobTemplate:")
		g.line("    spec:")
		pod = "      "
	case "StatefulSet":
		g.line("  serviceName: %s", name)
		fallthrough
	default:
		g.line("  replicas: %d", 1+g.rng.IntN(5))
		g.line("  selector:")
		g.line("    matchLabels:")
		g.line("      app.kubernetes.io/name: %s", name)
	}
	g.line("%stemplate:", pod)
	g.line("%s  metadata:", pod)
	g.line("%s    labels:", pod)
	g.line("%s      app.kubernetes.io/name: %s", pod, name)
	g.line("%s  spec:", pod)
	c := pod + "    "
	g.comment(heavy, c, "Containers are listed in start order; the first one serves traffic.")
	g.line("%scontainers:", c)
	n := 1 + g.rng.IntN(3)
	which := g.rng.IntN(n)
	for i := range n {
		g.container(c, fmt.Sprintf("c%d", i), isTarget && i == which, heavy)
	}
	if kind == "CronJob" {
		g.line("%srestartPolicy: OnFailure", c)
	}
}

func (g *gen) container(indent, name string, isTarget, heavy bool) {
	g.comment(heavy, indent, "Resources were sized from the last quarter's p99 usage.")
	g.line("%s- name: %s", indent, name)
	in := indent + "  "
	g.image(in, isTarget)
	g.line("%simagePullPolicy: IfNotPresent", in)
	g.line("%sports:", in)
	g.line("%s- containerPort: %d", in, 8000+g.rng.IntN(1000))
	g.line("%s  protocol: TCP", in)
	g.line("%senv:", in)
	for i := range g.count(10, 40) {
		g.comment(heavy && i%2 == 0, in, fmt.Sprintf("FEATURE_%03d: rolled out in release %d.%d; safe to remove after %d.%d.", i, g.rng.IntN(9), g.rng.IntN(20), g.rng.IntN(9), g.rng.IntN(20)))
		switch i % 3 {
		case 0:
			g.line("%s- name: FEATURE_%03d", in, i)
			g.line("%s  value: \"%d\"", in, g.rng.IntN(100000))
		case 1:
			g.line("%s- name: SERVICE_%03d_URL", in, i)
			g.line("%s  value: http://svc%05d.team%02d.svc.cluster.local:%d/api/v%d", in, g.rng.IntN(10000), g.rng.IntN(50), 8000+g.rng.IntN(1000), 1+g.rng.IntN(3))
		default:
			g.line("%s- name: SECRET_%03d", in, i)
			g.line("%s  valueFrom:", in)
			g.line("%s    secretKeyRef: {name: creds-%05d, key: token}", in, g.rng.IntN(10000))
		}
	}
	g.line("%sresources:", in)
	g.line("%s  requests: {cpu: %dm, memory: %dMi}", in, 50+g.rng.IntN(500), 64+g.rng.IntN(1024))
	g.line("%s  limits:", in)
	g.line("%s    memory: %dMi", in, 128+g.rng.IntN(2048))
}

// multiDoc writes a Service, ConfigMaps and one or two Deployments.
func (g *gen) multiDoc() {
	deployments := 1 + g.rng.IntN(2)
	which := g.rng.IntN(deployments)
	g.line("# Bundle %s: everything the service needs, applied together.", g.name())
	g.line("---")
	g.line("apiVersion: v1")
	g.line("kind: Service")
	g.line("metadata:")
	g.line("  name: %s", g.name())
	g.line("spec:")
	g.line("  selector: {app.kubernetes.io/name: %s}", g.name())
	g.line("  ports:")
	g.line("  - port: 80")
	g.line("    targetPort: %d", 8000+g.rng.IntN(1000))
	for i := range 1 + g.rng.IntN(3) {
		g.line("---")
		g.line("apiVersion: v1")
		g.line("kind: ConfigMap")
		g.line("metadata:")
		g.line("  name: %s-config-%d", g.name(), i)
		g.line("data:")
		for j := range g.count(10, 60) {
			g.line("  key_%03d: '%s'", j, strings.Repeat(string(rune('a'+g.rng.IntN(26))), 10+g.rng.IntN(60)))
		}
		g.line("  script.sh: |")
		for j := range g.count(3, 15) {
			g.line("    echo step %d && curl -fsS http://localhost:%d/healthz", j, 8000+g.rng.IntN(1000))
		}
	}
	for i := range deployments {
		g.line("--- # deployment %d", i)
		g.workload("apps/v1", "Deployment", fmt.Sprintf("-%d", i), g.target && i == which, false)
	}
}

// kustomization writes an overlay with an images: list; the updated image's
// entry (newTag: latest, with or without a digest) when a target.
func (g *gen) kustomization() {
	g.line("apiVersion: kustomize.config.k8s.io/v1beta1")
	g.line("kind: Kustomization")
	g.line("namespace: team%02d", g.n%50)
	g.line("resources:")
	for i := range g.count(20, 120) {
		g.line("- ../../base/component-%03d", i)
	}
	g.line("commonLabels:")
	g.line("  app.kubernetes.io/part-of: team%02d", g.n%50)
	g.line("patches:")
	for i := range g.count(5, 30) {
		g.line("- path: patches/replicas-%03d.yaml", i)
		g.line("  target:")
		g.line("    kind: Deployment")
		g.line("    name: svc%05d", g.rng.IntN(10000))
	}
	g.line("images:")
	entries := 2 + g.rng.IntN(4)
	which := g.rng.IntN(entries)
	for i := range entries {
		if g.target && i == which {
			g.line("- name: %s", Repository)
			g.line("  newTag: %s", Tag)
			if g.rng.IntN(2) == 0 {
				g.text("  digest: "+OldDigest+"\n", "  digest: "+NewDigest+"\n")
			} else {
				g.text("", "  digest: "+NewDigest+"\n")
			}
			continue
		}
		switch d := g.decoy(); {
		case strings.Contains(d, "@"):
			name, dig, _ := strings.Cut(d, "@")
			colon := strings.LastIndexByte(name, ':')
			g.line("- name: %s", name[:colon])
			g.line("  newTag: %q", name[colon+1:])
			g.line("  digest: %s", dig)
		case strings.HasPrefix(d, "nginx"):
			g.line("- name: nginx")
			g.line("  newName: registry.example.com/mirror/nginx")
			g.line("  newTag: \"1.27\"")
		default:
			name, tag, _ := strings.Cut(d[strings.LastIndexByte(d, '/')+1:], ":")
			g.line("- name: %s%s", d[:strings.LastIndexByte(d, '/')+1], name)
			g.line("  newTag: %q", tag)
		}
	}
}

// helm writes a values.yaml; when a target, image.repository names the
// updated image, split from its registry or not, and its tag is latest.
func (g *gen) helm() {
	g.line("# Default values for svc%05d.", g.n)
	g.line("# This is a YAML-formatted file; declare variables to be passed into your templates.")
	g.line("replicaCount: %d", 1+g.rng.IntN(4))
	g.line("image:")
	if g.target {
		if g.rng.IntN(2) == 0 {
			g.line("  registry: registry.example.com")
			g.line("  repository: acme/app-a")
		} else {
			g.line("  repository: %s", Repository)
		}
		if g.rng.IntN(2) == 0 {
			g.text("  tag: latest\n", "  tag: latest@"+NewDigest+"\n")
		} else {
			g.line("  tag: latest")
			g.text("  digest: \"\"\n", "  digest: \""+NewDigest+"\"\n")
		}
	} else {
		g.line("  repository: registry.example.com/acme/app-b")
		g.line("  tag: \"1.%d.%d\"", g.rng.IntN(10), g.rng.IntN(10))
	}
	g.line("  pullPolicy: IfNotPresent")
	g.line("imagePullSecrets: []")
	g.line("serviceAccount:")
	g.line("  create: true")
	g.line("  annotations: {}")
	g.line("podAnnotations:")
	g.line("  prometheus.io/scrape: \"true\"")
	g.line("service:")
	g.line("  type: ClusterIP")
	g.line("  port: 80")
	g.line("config:")
	for i := range g.count(40, 200) {
		if i%10 == 0 {
			g.line("  # section %d", i/10)
		}
		g.line("  setting%03d: %q", i, strings.Repeat(string(rune('a'+g.rng.IntN(26))), 5+g.rng.IntN(40)))
	}
	g.line("resources: {}")
	g.line("nodeSelector: {}")
	g.line("tolerations: []")
}
