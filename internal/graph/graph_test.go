package graph

import (
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/imageref"
)

func img(name, ref string, bases ...string) Image {
	im := Image{Name: name, Ref: imageref.MustParse(ref)}
	for _, b := range bases {
		im.Bases = append(im.Bases, Base{Ref: imageref.MustParse(b), Source: "from"})
	}
	return im
}

func seed() []Image {
	return []Image{
		img("httpd-base", "reg.example.com/acme/httpd-base:latest", "quay.io/centos/centos:7"),
		img("app-a", "reg.example.com/acme/app-a:latest", "reg.example.com/acme/httpd-base"),
		img("app-b", "reg.example.com/acme/app-b:latest", "reg.example.com/acme/httpd-base:latest@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
		img("app-a-worker", "reg.example.com/acme/app-a-worker:latest", "reg.example.com/acme/app-a", "reg.example.com/acme/httpd-base"),
		img("other", "reg.example.com/acme/other:latest", "reg.example.com/acme/httpd-base:v2"),
		img("app-api", "reg.example.com/acme/app-api:latest", "reg.example.com/acme/app"),
	}
}

func names(ds []Dependent) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Node.ID)
	}
	return out
}

func TestDependentsTiers(t *testing.T) {
	t.Parallel()
	g, err := New(seed())
	if err != nil {
		t.Fatal(err)
	}
	roots := g.Roots(imageref.MustParse("reg.example.com/acme/httpd-base:latest"))
	if got := len(roots); got != 1 || roots[0].ID != "httpd-base" {
		t.Fatalf("roots = %v, want [httpd-base]", roots)
	}
	deps := g.Dependents(roots)
	if diff := cmp.Diff([]string{"app-a", "app-b", "app-a-worker"}, names(deps)); diff != "" {
		t.Errorf("dependents (-want +got):\n%s", diff)
	}
	depths := map[string]int{}
	for _, d := range deps {
		depths[d.Node.ID] = d.Depth
	}
	if diff := cmp.Diff(map[string]int{"app-a": 1, "app-b": 1, "app-a-worker": 2}, depths); diff != "" {
		t.Errorf("depths (-want +got):\n%s", diff)
	}
	// httpd-base:v2 is another tag: "other" is not a dependent of :latest,
	// and it hangs off an external node.
	if _, ok := g.Node("reg.example.com/acme/httpd-base:v2"); !ok {
		t.Error("httpd-base:v2 should be an external node")
	}
}

func TestExternalRoot(t *testing.T) {
	t.Parallel()
	g, err := New(seed())
	if err != nil {
		t.Fatal(err)
	}
	roots := g.Roots(imageref.MustParse("quay.io/centos/centos:7"))
	deps := g.Dependents(roots)
	if diff := cmp.Diff([]string{"httpd-base", "app-a", "app-b", "app-a-worker"}, names(deps)); diff != "" {
		t.Errorf("dependents (-want +got):\n%s", diff)
	}
	if roots := g.Roots(imageref.MustParse("quay.io/centos/centos:8")); len(roots) != 0 {
		t.Errorf("centos:8 roots = %v, want none", roots)
	}
}

func TestR06_NoSubstringEdges(t *testing.T) {
	t.Parallel()
	g, err := New(seed())
	if err != nil {
		t.Fatal(err)
	}
	roots := g.Roots(imageref.MustParse("reg.example.com/acme/app-a:latest"))
	if diff := cmp.Diff([]string{"app-a-worker"}, names(g.Dependents(roots))); diff != "" {
		t.Errorf("dependents of app-a (-want +got):\n%s", diff)
	}
	// "app" is not configured; app-api's base is external and nobody else
	// matches it.
	roots = g.Roots(imageref.MustParse("reg.example.com/acme/app:latest"))
	if diff := cmp.Diff([]string{"app-api"}, names(g.Dependents(roots))); diff != "" {
		t.Errorf("dependents of app (-want +got):\n%s", diff)
	}
}

func TestR08_Cycles(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		images []Image
		want   []string
	}{
		"own base": {
			images: []Image{img("a", "r.io/a:latest", "r.io/a:latest")},
			want:   []string{"a", "a"},
		},
		"two": {
			images: []Image{img("a", "r.io/a:latest", "r.io/b"), img("b", "r.io/b:latest", "r.io/a:latest")},
			want:   []string{"a", "b", "a"},
		},
		"three via digest pin": {
			images: []Image{
				img("a", "r.io/a:latest", "r.io/c@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
				img("b", "r.io/b:latest", "r.io/a"),
				img("c", "r.io/c:latest", "r.io/b"),
			},
			want: []string{"a", "b", "c", "a"},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := New(tt.images)
			var ce *CycleError
			if !errors.As(err, &ce) {
				t.Fatalf("New = %v, want a CycleError", err)
			}
			if diff := cmp.Diff(tt.want, ce.Cycle); diff != "" {
				t.Errorf("cycle (-want +got):\n%s", diff)
			}
			if got := exitcode.Of(err); got != exitcode.Refused {
				t.Errorf("exit code = %d, want %d", got, exitcode.Refused)
			}
		})
	}
}

// TestTwoTagsOfOneRepository: a base names the configured image of its
// tag; a digest-only pin names every configured tag of the repository, in
// config order.
func TestTwoTagsOfOneRepository(t *testing.T) {
	t.Parallel()
	pin := "reg.example.com/acme/base@sha256:" + "b" + "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	g, err := New([]Image{
		img("base-2", "reg.example.com/acme/base:2"),
		img("base-1", "reg.example.com/acme/base:1"),
		img("on-1", "reg.example.com/acme/on-1:latest", "reg.example.com/acme/base:1"),
		img("pinned", "reg.example.com/acme/pinned:latest", pin),
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, e := range g.Edges() {
		got[e.To] = append(got[e.To], e.From)
	}
	want := map[string][]string{"on-1": {"base-1"}, "pinned": {"base-2", "base-1"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("edges (-want +got):\n%s", diff)
	}
}

// BenchmarkNew10000 builds a 10,000-image stream in five tiers (B5's
// size): bases are looked up by repository, not compared with every image.
func BenchmarkNew10000(b *testing.B) {
	var images []Image
	images = append(images, img("base", "reg.example.com/b/base:latest"))
	prev := []string{"reg.example.com/b/base:latest"}
	for tier := 1; tier <= 5; tier++ {
		var this []string
		for k := range 2000 {
			ref := fmt.Sprintf("reg.example.com/b/t%d-%d:latest", tier, k)
			images = append(images, img(fmt.Sprintf("t%d-%d", tier, k), ref, prev[k%len(prev)]))
			this = append(this, ref)
		}
		prev = this
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := New(images); err != nil {
			b.Fatal(err)
		}
	}
}
