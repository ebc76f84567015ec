package config

// Validation of the rebuild kinds: github, tekton, webhook.

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

func (v *validator) rebuild(p string, r Rebuild) {
	var set []string
	if r.GitHub != nil {
		set = append(set, "github")
		v.github(p+".github", r.GitHub)
	}
	if r.Tekton != nil {
		set = append(set, "tekton")
		v.tekton(p+".tekton", r.Tekton)
	}
	if r.Webhook != nil {
		set = append(set, "webhook")
		v.webhook(p+".webhook", r.Webhook)
	}
	if r.Rebase != nil {
		set = append(set, "rebase")
	}
	switch len(set) {
	case 1:
	case 0:
		v.add(p, "required: exactly one of github, tekton, webhook, rebase")
	default:
		v.add(p, "exactly one of github, tekton, webhook, rebase; got %s", strings.Join(set, ", "))
	}
}

func (v *validator) github(p string, g *GitHub) {
	if g.Repository == "" {
		v.add(p+".repository", "required")
	} else if owner, name, ok := strings.Cut(g.Repository, "/"); !ok || !ghOwnerRE.MatchString(owner) ||
		!ghRepoRE.MatchString(name) || name == "." || name == ".." {
		v.add(p+".repository", "%q must be owner/name", g.Repository)
	}
	switch {
	case g.Event != "" && g.Workflow != "":
		v.add(p, "event (repository_dispatch) and workflow (workflow_dispatch) are exclusive; set one")
	case g.Event != "":
		if len(g.Event) > maxEventTypeLen {
			v.add(p+".event", "longer than %d characters", maxEventTypeLen)
		}
		if g.Ref != "" {
			v.add(p+".ref", "only used with workflow (workflow_dispatch)")
		}
		if len(g.Inputs) > 0 {
			v.add(p+".inputs", "only used with workflow (workflow_dispatch); a repository_dispatch carries the standard payload")
		}
	case g.Workflow != "":
		if !workflowRE.MatchString(g.Workflow) {
			v.add(p+".workflow", "%q must be a workflow file name ending in .yml or .yaml, or a numeric id", g.Workflow)
		}
	}
	if g.Ref != "" {
		v.template(p+".ref", g.Ref)
	}
	if len(g.Inputs) > maxWorkflowInputs {
		v.add(p+".inputs", "%d inputs, GitHub accepts at most %d", len(g.Inputs), maxWorkflowInputs)
	}
	for _, k := range sortedKeys(g.Inputs) {
		if k == "" {
			v.add(p+".inputs[]", "input name must not be empty")
			continue
		}
		v.template(fmt.Sprintf("%s.inputs[%s]", p, k), g.Inputs[k])
	}
}

func (v *validator) tekton(p string, t *Tekton) {
	switch {
	case t.Namespace == "":
		v.add(p+".namespace", "required")
	case len(t.Namespace) > 63 || !dnsLabelRE.MatchString(t.Namespace):
		v.add(p+".namespace", "%q must be a DNS label", t.Namespace)
	}
	switch {
	case t.Pipeline != "" && t.PipelineRef != nil:
		v.add(p, "pipeline and pipelineRef are exclusive; set one")
	case t.Pipeline == "" && t.PipelineRef == nil:
		v.add(p+".pipeline", "required (or pipelineRef)")
	case t.Pipeline != "":
		v.dnsSubdomain(p+".pipeline", t.Pipeline)
	default:
		if t.PipelineRef.Resolver == "" {
			v.add(p+".pipelineRef.resolver", "required")
		}
		v.params(p+".pipelineRef.params", t.PipelineRef.Params)
	}
	if t.ServiceAccount != "" {
		v.dnsSubdomain(p+".serviceAccount", t.ServiceAccount)
	}
	v.params(p+".params", t.Params)
	seen := map[string]bool{}
	for i, w := range t.Workspaces {
		v.workspace(fmt.Sprintf("%s.workspaces[%d]", p, i), w, seen)
	}
	if t.Timeout != "" {
		if d, err := time.ParseDuration(t.Timeout); err != nil {
			v.add(p+".timeout", "%q is not a duration (like 1h30m)", t.Timeout)
		} else if d < 0 {
			v.add(p+".timeout", "%q must not be negative", t.Timeout)
		}
	}
	v.labels(p+".labels", t.Labels, true)
	v.labels(p+".annotations", t.Annotations, false)
}

func (v *validator) params(p string, params map[string]string) {
	for _, k := range sortedKeys(params) {
		if !paramNameRE.MatchString(k) {
			v.add(fmt.Sprintf("%s[%s]", p, k), "%q is not a valid param name", k)
			continue
		}
		v.template(fmt.Sprintf("%s[%s]", p, k), params[k])
	}
}

func (v *validator) workspace(p string, w TektonWorkspace, seen map[string]bool) {
	switch {
	case w.Name == "":
		v.add(p+".name", "required")
	case seen[w.Name]:
		v.add(p+".name", "duplicate workspace %q", w.Name)
	}
	seen[w.Name] = true
	if w.SubPath != "" {
		if msg := checkRelPath(w.SubPath); msg != "" {
			v.add(p+".subPath", "%q %s", w.SubPath, msg)
		}
	}
	n := 0
	if w.PersistentVolumeClaim != nil {
		n++
		if w.PersistentVolumeClaim.ClaimName == "" {
			v.add(p+".persistentVolumeClaim.claimName", "required")
		}
	}
	if w.EmptyDir != nil {
		n++
	}
	if w.ConfigMap != nil {
		n++
		if w.ConfigMap.Name == "" {
			v.add(p+".configMap.name", "required")
		}
	}
	if w.Secret != nil {
		n++
		if w.Secret.SecretName == "" {
			v.add(p+".secret.secretName", "required")
		}
	}
	if w.VolumeClaimTemplate != nil {
		n++
	}
	if n != 1 {
		v.add(p, "exactly one of persistentVolumeClaim, emptyDir, configMap, secret, volumeClaimTemplate")
	}
}

// labels checks Kubernetes label (or annotation) keys, and label values.
// The cascade.dev/ prefix belongs to the dispatcher.
func (v *validator) labels(p string, m map[string]string, values bool) {
	for _, k := range sortedKeys(m) {
		kp := fmt.Sprintf("%s[%s]", p, k)
		if !validQualifiedName(k) {
			v.add(kp, "%q is not a valid key (prefix/name, name at most 63 characters)", k)
		} else if strings.HasPrefix(k, "cascade.dev/") {
			v.add(kp, "the cascade.dev/ prefix is reserved for cascade")
		}
		if values && (len(m[k]) > 63 || !labelValueRE.MatchString(m[k])) {
			v.add(kp, "value %q is not a valid label value", m[k])
		}
	}
}

func validQualifiedName(k string) bool {
	name := k
	if prefix, n, ok := strings.Cut(k, "/"); ok {
		if len(prefix) > 253 || !dnsSubRE.MatchString(prefix) {
			return false
		}
		name = n
	}
	return len(name) <= 63 && labelNameRE.MatchString(name)
}

func (v *validator) dnsSubdomain(p, s string) {
	if len(s) > 253 || !dnsSubRE.MatchString(s) {
		v.add(p, "%q must be a DNS subdomain (lowercase letters, digits, '-' and '.')", s)
	}
}

func (v *validator) webhook(p string, w *Webhook) {
	if w.URL == "" {
		v.add(p+".url", "required")
	} else if u, err := url.Parse(w.URL); err != nil {
		v.add(p+".url", "not a URL")
	} else {
		switch {
		case u.Scheme != "http" && u.Scheme != "https":
			v.add(p+".url", "must be an absolute http or https URL")
		case u.Host == "" || u.Hostname() == "":
			v.add(p+".url", "must name a host")
		case u.User != nil:
			v.add(p+".url", "must not carry credentials; use secretEnv")
		}
	}
	if w.SecretEnv != "" && !envNameRE.MatchString(w.SecretEnv) {
		v.add(p+".secretEnv", "%q is not a valid environment variable name", w.SecretEnv)
	}
	for _, k := range sortedKeys(w.Headers) {
		hp := fmt.Sprintf("%s.headers[%s]", p, k)
		if !headerNameRE.MatchString(k) {
			v.add(hp, "%q is not a valid header name", k)
			continue
		}
		if strings.EqualFold(k, "X-Cascade-Signature-256") {
			v.add(hp, "set by cascade; use secretEnv")
			continue
		}
		if strings.ContainsAny(w.Headers[k], "\r\n") {
			v.add(hp, "must not contain line breaks")
			continue
		}
		v.template(hp, w.Headers[k])
	}
}

func (v *validator) template(p, text string) {
	if err := checkTemplate(text); err != nil {
		v.add(p, "template: %v", err)
	}
}
