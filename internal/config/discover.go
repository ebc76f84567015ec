package config

import (
	"fmt"
	"regexp"
)

// Discover names where dependents declare themselves, so that the base's
// config need not list them (docs/contract.md, "Discovered dependents").
// internal/discover reads the sources; a discovered image becomes an
// ordinary Image before the graph is built.
type Discover struct {
	// GitHub lists an owner's repositories carrying a topic and reads each
	// one's .github/cascade.yaml.
	GitHub *DiscoverGitHub `yaml:"github,omitempty"`
	// Tekton lists the annotated Pipelines of some namespaces.
	Tekton *DiscoverTekton `yaml:"tekton,omitempty"`
}

// DiscoverGitHub is one GitHub owner (organisation or user) and the topic
// its dependent repositories carry.
type DiscoverGitHub struct {
	Owner string `yaml:"owner"`
	Topic string `yaml:"topic"`
}

// DiscoverTekton lists the namespaces whose Pipelines may declare
// themselves; a Pipeline elsewhere is never looked at.
type DiscoverTekton struct {
	Namespaces []string `yaml:"namespaces"`
}

// GitHub's rule for topics: lowercase letters, digits and hyphens, at most
// 50 characters, starting with a letter or digit.
var ghTopicRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,49}$`)

func (v *validator) discover(p string, d *Discover) {
	if d == nil {
		return
	}
	if d.GitHub == nil && d.Tekton == nil {
		v.add(p, "name at least one source: github or tekton")
	}
	if g := d.GitHub; g != nil {
		switch {
		case g.Owner == "":
			v.add(p+".github.owner", "required")
		case !ghOwnerRE.MatchString(g.Owner):
			v.add(p+".github.owner", "%q is not a GitHub user or organisation name", g.Owner)
		}
		switch {
		case g.Topic == "":
			v.add(p+".github.topic", "required")
		case !ghTopicRE.MatchString(g.Topic):
			v.add(p+".github.topic", "%q must be a GitHub topic: at most 50 lowercase letters, digits and '-'", g.Topic)
		}
	}
	if t := d.Tekton; t != nil {
		if len(t.Namespaces) == 0 {
			v.add(p+".tekton.namespaces", "at least one namespace is required")
		}
		seen := map[string]bool{}
		for i, ns := range t.Namespaces {
			np := fmt.Sprintf("%s.tekton.namespaces[%d]", p, i)
			switch {
			case len(ns) > 63 || !dnsLabelRE.MatchString(ns):
				v.add(np, "%q must be a DNS label", ns)
			case seen[ns]:
				v.add(np, "duplicate namespace %q", ns)
			}
			seen[ns] = true
		}
	}
}
