package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/template"
	"text/template/parse"
)

// TemplateData is the documented data model config templates (github
// inputs and ref, tekton params, webhook headers) are rendered against.
type TemplateData struct {
	// Base is the base image that was updated.
	Base TemplateImage
	// Image is the dependent being rebuilt.
	Image TemplateImage
	// Cascade describes the cascade this dispatch belongs to.
	Cascade TemplateCascade
}

// TemplateImage describes one image in a template.
type TemplateImage struct {
	// Name is the image's name in the config ("httpd-base"); empty for an
	// image the config does not list.
	Name string
	// Image is the reference as written in the config, tag included
	// ("registry.example.com/acme/httpd-base:latest").
	Image string
	// Digest is "sha256:…": the new digest for .Base, the digest the
	// dependent was last seen at for .Image (empty when unknown).
	Digest string
	// Ref is the repository pinned to Digest ("repo@sha256:…"); empty when
	// Digest is.
	Ref string
	// Tag is the tag the image moves on ("latest").
	Tag string
}

// TemplateCascade describes the cascade a dispatch belongs to.
type TemplateCascade struct {
	// ID is the dedup key of (dependent, new base digest).
	ID string `json:"id"`
	// Depth is how far down the chain the dependent is (1 for a direct
	// dependent of the origin).
	Depth int `json:"depth"`
	// Chain lists the image names from the origin to the base.
	Chain []string `json:"chain"`
	// Origin is the first updated image of the cascade, "repo@sha256:…".
	Origin string `json:"origin"`
}

// Bounds on templates: they come from a config file that may arrive in a
// pull request, so rendering must stay cheap whatever is written.
const (
	maxTemplateLen = 8 << 10  // bytes of template text
	maxRenderLen   = 64 << 10 // bytes of rendered output (GitHub's payload bound)
)

// templateFuncs are the only functions besides the safe builtins.
var templateFuncs = template.FuncMap{
	// short returns the first 12 hex characters of a digest.
	"short": func(digest string) string {
		h := strings.TrimPrefix(digest, "sha256:")
		if len(h) > 12 {
			return h[:12]
		}
		return h
	},
	"lower": strings.ToLower,
	"upper": strings.ToUpper,
	// join joins a list, for .Cascade.Chain (range is not allowed).
	"join": func(elems []string, sep string) string { return strings.Join(elems, sep) },
	// json renders a value of the data model as compact JSON: {{ json
	// .Cascade }} is the cascade context a workflow_dispatch input carries
	// to the dependent's own cascade step ({"id","depth","chain","origin"},
	// the shape --cascade-context reads).
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
}

// allowedBuiltins are the text/template builtins a template may call.
// printf is out (a width like %0999999999d allocates without bound), as
// is call (nothing in the data model is a function).
var allowedBuiltins = map[string]bool{
	"and": true, "or": true, "not": true, "len": true, "index": true, "slice": true,
	"eq": true, "ne": true, "lt": true, "le": true, "gt": true, "ge": true,
	"print": true, "urlquery": true,
}

// parseTemplate parses text as a config template and checks it only uses
// constructs whose cost is bounded by the text's length: actions, if and
// with, the functions above; no range, define, block or template.
func parseTemplate(text string) (*template.Template, error) {
	if len(text) > maxTemplateLen {
		return nil, fmt.Errorf("template longer than %d bytes", maxTemplateLen)
	}
	t, err := template.New("value").Option("missingkey=error").Funcs(templateFuncs).Parse(text)
	if err != nil {
		return nil, stripTemplateName(err)
	}
	if len(t.Templates()) > 1 {
		return nil, errors.New("define and block are not allowed in templates")
	}
	if t.Tree != nil {
		if err := checkNode(t.Tree.Root); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func checkNode(n parse.Node) error {
	switch n := n.(type) {
	case nil:
		return nil
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Nodes {
			if err := checkNode(c); err != nil {
				return err
			}
		}
	case *parse.TextNode, *parse.CommentNode, *parse.DotNode, *parse.FieldNode,
		*parse.VariableNode, *parse.BoolNode, *parse.NumberNode, *parse.StringNode, *parse.NilNode:
		return nil
	case *parse.ActionNode:
		return checkNode(n.Pipe)
	case *parse.PipeNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Cmds {
			if err := checkNode(c); err != nil {
				return err
			}
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			if err := checkNode(a); err != nil {
				return err
			}
		}
	case *parse.ChainNode:
		return checkNode(n.Node)
	case *parse.IdentifierNode:
		if _, ok := templateFuncs[n.Ident]; !ok && !allowedBuiltins[n.Ident] {
			return fmt.Errorf("function %q is not allowed in templates", n.Ident)
		}
	case *parse.IfNode:
		return checkBranch(&n.BranchNode)
	case *parse.WithNode:
		return checkBranch(&n.BranchNode)
	case *parse.RangeNode:
		return errors.New("range is not allowed in templates (use join)")
	case *parse.TemplateNode:
		return errors.New("template calls are not allowed in templates")
	default:
		return fmt.Errorf("%s is not allowed in templates", n)
	}
	return nil
}

func checkBranch(b *parse.BranchNode) error {
	for _, n := range []parse.Node{b.Pipe, b.List, b.ElseList} {
		if err := checkNode(n); err != nil {
			return err
		}
	}
	return nil
}

// stripTemplateName removes text/template's "template: value:" prefix,
// which names our internal template rather than anything the user wrote.
func stripTemplateName(err error) error {
	msg := strings.TrimPrefix(err.Error(), "template: ")
	msg = strings.TrimPrefix(msg, "value:")
	msg = strings.Replace(msg, `executing "value" at `, "", 1)
	return errors.New(msg)
}

// Render renders tmpl, a config template, against data. The result is data
// for an API call, never a shell command. Only the data model, if/with and
// the functions short, lower, upper and join (plus comparison and a few
// harmless builtins) are available; a reference to a field that does not
// exist is an error, and so is output over 64 KiB.
func Render(tmpl string, data TemplateData) (string, error) {
	t, err := parseTemplate(tmpl)
	if err != nil {
		return "", fmt.Errorf("parsing template %q: %w", tmpl, err)
	}
	w := &cappedBuffer{limit: maxRenderLen}
	if err := t.Execute(w, data); err != nil {
		return "", fmt.Errorf("rendering template %q: %w", tmpl, stripTemplateName(err))
	}
	return w.String(), nil
}

// cappedBuffer fails writes that would grow it past limit.
type cappedBuffer struct {
	strings.Builder
	limit int
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > b.limit {
		return 0, fmt.Errorf("output longer than %d bytes", b.limit)
	}
	return b.Builder.Write(p)
}

// SampleTemplateData returns a representative TemplateData, the one
// Validate renders every config template against.
func SampleTemplateData() TemplateData {
	const (
		base = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
		dep  = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
		orig = "sha256:3333333333333333333333333333333333333333333333333333333333333333"
	)
	return TemplateData{
		Base: TemplateImage{
			Name:   "httpd-base",
			Image:  "registry.example.com/acme/httpd-base:latest",
			Digest: base,
			Ref:    "registry.example.com/acme/httpd-base@" + base,
			Tag:    "latest",
		},
		Image: TemplateImage{
			Name:   "app-a",
			Image:  "registry.example.com/acme/app-a:latest",
			Digest: dep,
			Ref:    "registry.example.com/acme/app-a@" + dep,
			Tag:    "latest",
		},
		Cascade: TemplateCascade{
			ID:     "app-a-111111111111",
			Depth:  2,
			Chain:  []string{"centos", "httpd-base"},
			Origin: "quay.io/centos/centos@" + orig,
		},
	}
}

// checkTemplate parses text and renders it against the sample data.
func checkTemplate(text string) error {
	t, err := parseTemplate(text)
	if err != nil {
		return err
	}
	w := &cappedBuffer{limit: maxRenderLen}
	if err := t.Execute(w, SampleTemplateData()); err != nil {
		return stripTemplateName(err)
	}
	return nil
}
