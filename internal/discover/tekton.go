package discover

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"

	"github.com/imagecascade/cascade/internal/config"
	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/kuberest"
)

// The annotations by which a Tekton Pipeline declares the image it builds
// (docs/contract.md, "Discovered dependents"). Only AnnotationImage is
// required; a Pipeline without it is not a declaration and is not looked
// at further.
const (
	// AnnotationImage is the image the Pipeline builds and pushes: a
	// repository and a tag that moves ("registry.example.com/acme/app-a:latest").
	AnnotationImage = "cascade.dev/image"
	// AnnotationFrom lists the bases it follows, separated by commas or
	// new lines.
	AnnotationFrom = "cascade.dev/from"
	// AnnotationName is the image's name in the cascade (default: the
	// Pipeline's name).
	AnnotationName = "cascade.dev/name"
	// AnnotationParams are the PipelineRun's params, a YAML or JSON
	// mapping whose values are templates, as rebuild.tekton.params.
	AnnotationParams = "cascade.dev/params"
	// AnnotationServiceAccount is the PipelineRun's service account.
	AnnotationServiceAccount = "cascade.dev/service-account"
	// AnnotationWorkspaces binds the Pipeline's workspaces, a YAML or JSON
	// list as rebuild.tekton.workspaces.
	AnnotationWorkspaces = "cascade.dev/workspaces"
	// AnnotationTimeout is the PipelineRun's pipeline timeout ("1h").
	AnnotationTimeout = "cascade.dev/timeout"
)

// tektonPageSize is the limit of one list request; the API server hands
// out a continue token for the rest.
const tektonPageSize = 100

// Tekton discovers the annotated Pipelines of some namespaces. Each one
// declaring AnnotationImage is a dependent rebuilt by a PipelineRun of that
// very Pipeline, in its namespace: a Pipeline cannot name another
// Pipeline, namespace or rebuild kind, so creating a Pipeline grants
// nothing its author could not start already.
type Tekton struct {
	// Namespaces are listed one by one (discover.tekton.namespaces).
	Namespaces []string

	list func(ctx context.Context, ns, cont string) (*pipelineList, error)
}

var _ Source = (*Tekton)(nil)

// NewTekton returns a Tekton source that lists Pipelines through the
// Kubernetes REST API of cfg, under the outbound policy.
func NewTekton(cfg *rest.Config, namespaces []string) (*Tekton, error) {
	cfg = kuberest.Config(cfg)
	cfg.GroupVersion = &schema.GroupVersion{Group: "tekton.dev", Version: "v1"}
	c, err := rest.RESTClientFor(cfg)
	if err != nil {
		return nil, exitcode.AsInvalid(fmt.Errorf("configuring the Tekton client: %w", err))
	}
	t := &Tekton{Namespaces: namespaces}
	t.list = func(ctx context.Context, ns, cont string) (*pipelineList, error) {
		req := c.Get().Namespace(ns).Resource("pipelines").Param("limit", fmt.Sprint(tektonPageSize))
		if cont != "" {
			req = req.Param("continue", cont)
		}
		body, err := req.DoRaw(ctx)
		if err != nil {
			return nil, err
		}
		var l pipelineList
		if err := json.Unmarshal(body, &l); err != nil {
			return nil, fmt.Errorf("decoding the Pipeline list: %w", err)
		}
		return &l, nil
	}
	return t, nil
}

// pipelineList is the part of a tekton.dev/v1 PipelineList discovery reads.
type pipelineList struct {
	Metadata struct {
		Continue string `json:"continue"`
	} `json:"metadata"`
	Items []struct {
		Metadata struct {
			Name        string            `json:"name"`
			Namespace   string            `json:"namespace"`
			Annotations map[string]string `json:"annotations"`
		} `json:"metadata"`
	} `json:"items"`
}

// Name implements Source.
func (t *Tekton) Name() string { return "tekton:" + strings.Join(t.Namespaces, ",") }

// Discover implements Source.
func (t *Tekton) Discover(ctx context.Context) (*Found, error) {
	out := &Found{}
	for _, ns := range t.Namespaces {
		cont := ""
		for page := 0; ; page++ {
			if page > 10000 {
				return nil, fmt.Errorf("listing the Pipelines of %s: more than 10000 pages", ns)
			}
			l, err := t.list(ctx, ns, cont)
			if err != nil {
				return nil, kubeError(ns, err)
			}
			for _, it := range l.Items {
				im, skipped, ok := PipelineDeclaration(ns, it.Metadata.Name, it.Metadata.Annotations)
				if !ok {
					continue
				}
				if len(skipped) > 0 {
					out.Skipped = append(out.Skipped, skipped...)
					continue
				}
				out.Images = append(out.Images, im)
			}
			if cont = l.Metadata.Continue; cont == "" {
				break
			}
		}
	}
	return out, nil
}

// kubeError classifies a failed list: no access or no Tekton is invalid
// input (the config names a namespace cascade may not read), the rest
// transient.
func kubeError(ns string, err error) error {
	err = fmt.Errorf("listing the Pipelines of namespace %s: %w", ns, err)
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		switch {
		case apierrors.IsForbidden(err):
			return exitcode.AsInvalid(fmt.Errorf("%w (grant list on pipelines.tekton.dev in it)", err))
		case apierrors.IsUnauthorized(err):
			return exitcode.AsInvalid(err)
		case apierrors.IsNotFound(err):
			return exitcode.AsInvalid(fmt.Errorf("%w (is Tekton installed?)", err))
		}
	}
	return exitcode.AsTransient(err)
}

// PipelineDeclaration reads the image Pipeline ns/name declares through
// its annotations. ok is false when it declares none (no
// AnnotationImage); skipped lists the problems of an invalid declaration,
// each at its annotation's field path.
func PipelineDeclaration(ns, name string, ann map[string]string) (im config.Image, skipped []Skipped, ok bool) {
	image, declared := ann[AnnotationImage]
	if !declared {
		for k := range ann {
			if strings.HasPrefix(k, "cascade.dev/") && k != "cascade.dev/dependent" {
				// cascade.dev/from without cascade.dev/image: a
				// declaration missing its subject.
				source := "tekton:" + ns + "/" + name
				return im, []Skipped{{Source: source, Path: annPath(AnnotationImage), Reason: "required (the Pipeline has other cascade.dev/ annotations)"}}, true
			}
		}
		return im, nil, false
	}
	source := "tekton:" + ns + "/" + name
	bad := func(key, format string, args ...any) {
		skipped = append(skipped, Skipped{Source: source, Path: annPath(key), Reason: fmt.Sprintf(format, args...)})
	}
	tk := &config.Tekton{Namespace: ns, Pipeline: name, ServiceAccount: ann[AnnotationServiceAccount], Timeout: ann[AnnotationTimeout]}
	if v, set := ann[AnnotationParams]; set {
		if err := strictYAML(v, &tk.Params); err != nil {
			bad(AnnotationParams, "want a mapping of param names to templates: %v", err)
		}
	}
	if v, set := ann[AnnotationWorkspaces]; set {
		if err := strictYAML(v, &tk.Workspaces); err != nil {
			bad(AnnotationWorkspaces, "want a list of workspace bindings as in rebuild.tekton.workspaces: %v", err)
		}
	}
	im = config.Image{
		Name:       name,
		Image:      strings.TrimSpace(image),
		From:       splitList(ann[AnnotationFrom]),
		Rebuild:    config.Rebuild{Tekton: tk},
		DeclaredBy: source,
	}
	if n, set := ann[AnnotationName]; set {
		im.Name = strings.TrimSpace(n)
	}
	if len(im.From) == 0 {
		bad(AnnotationFrom, "required: the bases the Pipeline's image is built on")
	}
	for _, s := range Validate(source, "", im) {
		s.Path = fieldToAnnotation(s.Path)
		skipped = append(skipped, s)
	}
	if len(skipped) > 0 {
		return config.Image{}, skipped, true
	}
	return im, nil, true
}

func annPath(key string) string { return "metadata.annotations[" + key + "]" }

// fieldToAnnotation maps a config field path of a Pipeline's image to the
// annotation it came from.
func fieldToAnnotation(p string) string {
	for _, m := range []struct{ field, key string }{
		{".name", AnnotationName}, {".image", AnnotationImage}, {".from", AnnotationFrom},
		{".rebuild.tekton.params", AnnotationParams}, {".rebuild.tekton.serviceAccount", AnnotationServiceAccount},
		{".rebuild.tekton.workspaces", AnnotationWorkspaces}, {".rebuild.tekton.timeout", AnnotationTimeout},
	} {
		if rest, ok := strings.CutPrefix(p, m.field); ok && (rest == "" || rest[0] == '[' || rest[0] == '.') {
			return annPath(m.key) + rest
		}
	}
	if p == ".rebuild.tekton.pipeline" || p == ".rebuild.tekton.namespace" || p == ".rebuild.tekton" {
		return "metadata.name"
	}
	return "metadata" + p
}

// splitList splits an annotation's list on commas and new lines.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' }) {
		if f = strings.TrimSpace(f); f != "" && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// strictYAML decodes an annotation's YAML (or JSON) into v, refusing
// unknown keys.
func strictYAML(s string, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader([]byte(s)))
	dec.KnownFields(true)
	return dec.Decode(v)
}
