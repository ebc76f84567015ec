package discover_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imagecascade/cascade/internal/config"
	"github.com/imagecascade/cascade/internal/discover"
	"github.com/imagecascade/cascade/internal/exitcode"
)

// fakeSource returns fixed declarations and counts its reads.
type fakeSource struct {
	name  string
	found *discover.Found
	err   error
	reads atomic.Int32
}

func (f *fakeSource) Name() string { return f.name }

func (f *fakeSource) Discover(context.Context) (*discover.Found, error) {
	f.reads.Add(1)
	if f.err != nil {
		return nil, f.err
	}
	// A copy: Merge appends the images to the config.
	c := *f.found
	c.Images = append([]config.Image(nil), f.found.Images...)
	return &c, nil
}

func dispatchTo(repo string) config.Rebuild {
	return config.Rebuild{GitHub: &config.GitHub{Repository: repo, Event: config.DefaultEvent}}
}

func baseConfig() *config.Config {
	return &config.Config{Version: 1, Images: []config.Image{
		{Name: "app-a", Image: "registry.example.com/acme/app-a:latest", From: []string{"registry.example.com/acme/httpd-base:latest"}, Rebuild: dispatchTo("acme/app-a")},
	}}
}

func TestMergeRules(t *testing.T) {
	t.Parallel()
	cfg := baseConfig()
	cfg.Registries.Allow = []string{"registry.example.com"}
	found := []*discover.Found{
		{Images: []config.Image{
			// Same image as the config's app-a, under another name: the config wins.
			{Name: "a", Image: "registry.example.com/acme/app-a", From: []string{"registry.example.com/acme/httpd-base"}, Rebuild: dispatchTo("acme/a"), DeclaredBy: "github:acme/a@aaaaaaaaaaaa"},
			// New: added.
			{Name: "app-b", Image: "registry.example.com/acme/app-b:latest", From: []string{"registry.example.com/acme/httpd-base"}, Rebuild: dispatchTo("acme/app-b"), DeclaredBy: "github:acme/app-b@bbbbbbbbbbbb"},
			// Name taken by the config.
			{Name: "app-a", Image: "registry.example.com/acme/other:latest", Rebuild: dispatchTo("acme/other"), DeclaredBy: "github:acme/other@cccccccccccc"},
			// Registry not allowed.
			{Name: "app-d", Image: "ghcr.io/acme/app-d:latest", Rebuild: dispatchTo("acme/app-d"), DeclaredBy: "github:acme/app-d@dddddddddddd"},
		}, Skipped: []discover.Skipped{{Source: "github:acme/broken@eeeeeeeeeeee", Path: "images[0].rebuild", Reason: "bad"}}},
		{Images: []config.Image{
			// Same image as app-b, declared by a source that sorts after it.
			{Name: "app-b2", Image: "registry.example.com/acme/app-b:latest", Rebuild: config.Rebuild{Rebase: &config.Rebase{}}, DeclaredBy: "tekton:builds/app-b"},
			{Name: "app-c", Image: "registry.example.com/acme/app-c:latest", Rebuild: config.Rebuild{Rebase: &config.Rebase{}}, DeclaredBy: "tekton:builds/app-c"},
		}},
		nil, // a source that found nothing
	}
	res := discover.Merge(cfg, found)
	if diff := cmp.Diff([]string{"app-b", "app-c"}, res.Added); diff != "" {
		t.Errorf("added (-want +got):\n%s", diff)
	}
	wantSkipped := []discover.Skipped{
		{Source: "github:acme/broken@eeeeeeeeeeee", Path: "images[0].rebuild", Reason: "bad"},
		{Source: "github:acme/a@aaaaaaaaaaaa", Path: "image", Reason: "registry.example.com/acme/app-a is listed in the base's config too; the config's entry wins"},
		{Source: "github:acme/app-d@dddddddddddd", Path: "image", Reason: "registry ghcr.io is not in the base's registries.allow"},
		{Source: "github:acme/other@cccccccccccc", Path: "name", Reason: `name "app-a" is already used by config`},
		{Source: "tekton:builds/app-b", Path: "image", Reason: "registry.example.com/acme/app-b:latest is declared by github:acme/app-b@bbbbbbbbbbbb too; that declaration wins"},
	}
	if diff := cmp.Diff(wantSkipped, res.Skipped); diff != "" {
		t.Errorf("skipped (-want +got):\n%s", diff)
	}
	var got []string
	for _, im := range cfg.Images {
		got = append(got, im.Name+" "+im.DeclaredBy)
	}
	want := []string{"app-a ", "app-b github:acme/app-b@bbbbbbbbbbbb", "app-c tekton:builds/app-c"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("config images (-want +got):\n%s", diff)
	}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		t.Errorf("merged config does not validate: %v", err)
	}
}

func TestDiscovererReadsEachSourceOnce(t *testing.T) {
	t.Parallel()
	src := &fakeSource{name: "fake", found: &discover.Found{Images: []config.Image{
		{Name: "app-b", Image: "registry.example.com/acme/app-b:latest", Rebuild: dispatchTo("acme/app-b"), DeclaredBy: "github:acme/app-b@bbbbbbbbbbbb"},
	}}}
	d := &discover.Discoverer{Sources: []discover.Source{src}}
	for range 3 {
		cfg := baseConfig()
		res, err := d.Apply(t.Context(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"app-b"}, res.Added); diff != "" {
			t.Errorf("added (-want +got):\n%s", diff)
		}
	}
	if n := src.reads.Load(); n != 1 {
		t.Errorf("source read %d times, want once per run", n)
	}
}

func TestUnreadableSourceFailsNamingIt(t *testing.T) {
	t.Parallel()
	ok := &fakeSource{name: "tekton:builds", found: &discover.Found{}}
	down := &fakeSource{name: "github:acme topic cascade-dependent", err: errors.New("connection refused")}
	refused := &fakeSource{name: "github:other topic x", err: exitcode.AsInvalid(errors.New("401 Bad credentials"))}
	d := &discover.Discoverer{Sources: []discover.Source{ok, down, refused}}
	cfg := baseConfig()
	_, err := d.Apply(t.Context(), cfg)
	if err == nil {
		t.Fatal("no error")
	}
	want := "discovering dependents from github:acme topic cascade-dependent: connection refused\n" +
		"discovering dependents from github:other topic x: 401 Bad credentials"
	if err.Error() != want {
		t.Errorf("error:\n%s\nwant:\n%s", err, want)
	}
	// Each part keeps its class (the refused token stays invalid input);
	// the joined error takes the highest, here the transient one.
	if got := exitcode.Of(err.(interface{ Unwrap() []error }).Unwrap()[1]); got != exitcode.Invalid {
		t.Errorf("class of the 401 %v, want invalid", got)
	}
	_, err = (&discover.Discoverer{Sources: []discover.Source{down}}).Apply(t.Context(), baseConfig())
	if got := exitcode.Of(err); got != exitcode.Transient {
		t.Errorf("class %v, want transient", got)
	}
	if len(cfg.Images) != 1 {
		t.Errorf("config changed by a failed discovery: %d images", len(cfg.Images))
	}
}

func TestValidatePrefixesFieldPaths(t *testing.T) {
	t.Parallel()
	got := discover.Validate("github:acme/x@abc", "images[3]", config.Image{Name: "Bad_Name", Image: "registry.example.com/x:1"})
	want := []discover.Skipped{
		{Source: "github:acme/x@abc", Path: "images[3].name", Reason: `"Bad_Name" must be at most 63 lowercase letters, digits, '-' and '.', starting and ending with a letter or digit`},
		{Source: "github:acme/x@abc", Path: "images[3].rebuild", Reason: "required: exactly one of github, tekton, webhook, rebase"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
