package config

import (
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imagecascade/cascade/internal/exitcode"
)

// TestDiscoverSection: the discover: section is decoded strictly and
// validated with field paths and lines; with it, images may be left out.
func TestDiscoverSection(t *testing.T) {
	t.Parallel()
	c, err := Parse([]byte("version: 1\ndiscover:\n  github: {owner: acme, topic: cascade-dependent}\n  tekton: {namespaces: [ci, web]}\n"), "cascade.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := &Discover{GitHub: &DiscoverGitHub{Owner: "acme", Topic: "cascade-dependent"}, Tekton: &DiscoverTekton{Namespaces: []string{"ci", "web"}}}
	if diff := cmp.Diff(want, c.Discover); diff != "" || len(c.Images) != 0 {
		t.Errorf("discover (-want +got):\n%s\nimages: %v", diff, c.Images)
	}
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"no images, no discover", "version: 1\n", []string{"images"}},
		{"empty discover", "version: 1\ndiscover: {}\n", []string{"discover (line 2)"}},
		{"github fields", "version: 1\ndiscover:\n  github: {owner: -acme, topic: Cascade Dependent}\n", []string{"discover.github.owner (line 3)", "discover.github.topic (line 3)"}},
		{"github required", "version: 1\ndiscover:\n  github: {}\n", []string{"discover.github.owner (line 3)", "discover.github.topic (line 3)"}},
		{"tekton namespaces", "version: 1\ndiscover:\n  tekton:\n    namespaces: [ci, Web, ci]\n", []string{"discover.tekton.namespaces[1] (line 4)", "discover.tekton.namespaces[2] (line 4)"}},
		{"tekton no namespace", "version: 1\ndiscover:\n  tekton: {namespaces: []}\n", []string{"discover.tekton.namespaces (line 3)"}},
		{"unknown key", "version: 1\ndiscover:\n  gitlab: {group: acme}\n", []string{"discover.gitlab (line 3)", "discover (line 2)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tc.yaml), "cascade.yaml")
			if exitcode.Of(err) != exitcode.Invalid {
				t.Fatalf("class %d, want invalid: %v", exitcode.Of(err), err)
			}
			var got []string
			for _, fe := range FieldErrors(err) {
				s := fe.Path
				if fe.Line > 0 {
					s += " (line " + strconv.Itoa(fe.Line) + ")"
				}
				got = append(got, s)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s\n%v", diff, err)
			}
		})
	}
}
