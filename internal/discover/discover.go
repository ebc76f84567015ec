// Package discover finds dependents that declare themselves where they
// live — a Tekton Pipeline's annotations, a repository's
// .github/cascade.yaml — and merges them into the base's config as ordinary
// images, before the graph is built. From then on a discovered dependent is
// planned, limited, claimed and dispatched exactly like a configured one:
// graph and plan never know the difference, except for the image's
// DeclaredBy, which reports show.
//
// The rules (docs/contract.md, "Discovered dependents"):
//   - an entry in the base's own config wins over a discovered one for the
//     same image (repository and tag);
//   - an invalid declaration is skipped and reported with its source and
//     field path; it never fails the run;
//   - a source that cannot be read fails the run before anything is sent,
//     naming the source (a plan missing one source's dependents would miss
//     rebuilds silently);
//   - each source is read once per run (Discoverer caches the result).
package discover

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/imagecascade/cascade/internal/config"
	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/imageref"
)

// FromConfig is the DeclaredBy shown for an image listed in the base's
// own config.
const FromConfig = "config"

// Source is one place dependents declare themselves.
type Source interface {
	// Name identifies the source in messages ("github:acme topic
	// cascade-dependent", "tekton:builds").
	Name() string
	// Discover reads the source. Every image it returns has DeclaredBy
	// set and has passed config validation; declarations it could not use
	// are in Found.Skipped. An error means the source could not be read.
	Discover(ctx context.Context) (*Found, error)
}

// Found is what one source declares.
type Found struct {
	Images  []config.Image
	Skipped []Skipped
}

// Skipped is a declaration left out of the run, and why.
type Skipped struct {
	// Source is where it was declared ("github:acme/app-b@1a2b3c4d5e6f",
	// "tekton:builds/app-a").
	Source string `json:"source"`
	// Path is the field path of the problem within the declaration
	// ("images[0].rebuild.webhook", "metadata.annotations[cascade.dev/from]"),
	// empty when the whole declaration is concerned.
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

func (s Skipped) String() string {
	if s.Path == "" {
		return s.Source + ": " + s.Reason
	}
	return s.Source + ": " + s.Path + ": " + s.Reason
}

// Result is the outcome of merging the discovered images into a config.
type Result struct {
	// Added are the names of the discovered images now in the config, in
	// config order.
	Added []string
	// Skipped are the declarations left out.
	Skipped []Skipped
}

// Discoverer reads its sources once and merges what they declare into a
// config. It is safe for concurrent use.
type Discoverer struct {
	Sources []Source

	once  sync.Once
	found []*Found
	err   error
}

// Discover reads every source, concurrently, once per Discoverer: later
// calls return the first call's answer. An unreadable source is an error
// naming it; the errors of all sources are joined.
func (d *Discoverer) Discover(ctx context.Context) ([]*Found, error) {
	d.once.Do(func() {
		d.found = make([]*Found, len(d.Sources))
		errs := make([]error, len(d.Sources))
		var wg sync.WaitGroup
		for i, s := range d.Sources {
			wg.Add(1)
			go func() {
				defer wg.Done()
				f, err := s.Discover(ctx)
				if err != nil {
					errs[i] = classify(fmt.Errorf("discovering dependents from %s: %w", s.Name(), err))
					return
				}
				d.found[i] = f
			}()
		}
		wg.Wait()
		d.err = errors.Join(errs...)
	})
	return d.found, d.err
}

// classify keeps an error's class; an unclassified one (a network failure
// the client did not classify) is transient: nothing has been sent, and
// re-running is safe.
func classify(err error) error {
	if exitcode.Of(err) == exitcode.Internal {
		return exitcode.AsTransient(err)
	}
	return err
}

// Apply reads the sources (once) and merges what they declare into cfg, in
// place: the Planner and the dispatchers, which hold cfg, then see the
// discovered images as ordinary ones.
func (d *Discoverer) Apply(ctx context.Context, cfg *config.Config) (*Result, error) {
	found, err := d.Discover(ctx)
	if err != nil {
		return nil, err
	}
	return Merge(cfg, found), nil
}

// Merge adds the images of found to cfg, in place, under the rules of the
// package doc. Declarations are taken in a stable order (by DeclaredBy,
// then name) so that, of two declaring the same image or name, the same
// one wins every run.
func Merge(cfg *config.Config, found []*Found) *Result {
	res := &Result{Added: []string{}, Skipped: []Skipped{}}
	var images []config.Image
	for _, f := range found {
		if f == nil {
			continue
		}
		images = append(images, f.Images...)
		res.Skipped = append(res.Skipped, f.Skipped...)
	}
	slices.SortStableFunc(images, func(a, b config.Image) int {
		return cmp.Or(strings.Compare(a.DeclaredBy, b.DeclaredBy), strings.Compare(a.Name, b.Name))
	})

	names := map[string]string{}    // name → who declared it
	repoTags := map[string]string{} // repository:tag → who declared it
	for _, im := range cfg.Images {
		by := cmp.Or(im.DeclaredBy, FromConfig)
		names[im.Name] = by
		if r, err := imageref.Parse(im.Image); err == nil {
			repoTags[r.Name()+":"+r.EffectiveTag()] = by
		}
	}
	for _, im := range images {
		skip := func(path, format string, args ...any) {
			res.Skipped = append(res.Skipped, Skipped{Source: im.DeclaredBy, Path: path, Reason: fmt.Sprintf(format, args...)})
		}
		r, err := imageref.Parse(im.Image)
		if err != nil {
			skip("image", "%v", err)
			continue
		}
		key := r.Name() + ":" + r.EffectiveTag()
		if by, dup := repoTags[key]; dup && by == im.DeclaredBy && names[im.Name] == by {
			continue // merged into this config by an earlier Apply
		}
		if by, dup := repoTags[key]; dup {
			if by == FromConfig {
				skip("image", "%s is listed in the base's config too; the config's entry wins", r.Short())
			} else {
				skip("image", "%s is declared by %s too; that declaration wins", r.Short(), by)
			}
			continue
		}
		if by, dup := names[im.Name]; dup {
			skip("name", "name %q is already used by %s", im.Name, by)
			continue
		}
		if host, ok := notAllowed(cfg.Registries.Allow, r); ok {
			skip("image", "registry %s is not in the base's registries.allow", host)
			continue
		}
		names[im.Name] = im.DeclaredBy
		repoTags[key] = im.DeclaredBy
		cfg.Images = append(cfg.Images, im)
		res.Added = append(res.Added, im.Name)
	}
	return res
}

// notAllowed reports the registry host of r when an allowlist is set and
// does not list it. The registry client would refuse the host anyway (exit
// 5, the whole run); a discovered image is left out instead.
func notAllowed(allow []string, r imageref.Ref) (string, bool) {
	if allow == nil {
		return "", false
	}
	host := strings.ToLower(r.Registry)
	for _, a := range allow {
		a = strings.ToLower(a)
		if a == host || (host == imageref.DockerHub && a == "index.docker.io") {
			return "", false
		}
	}
	return r.Registry, true
}

// Validate checks im as the base's config would check it and returns its
// problems as Skipped entries of source, with prefix ("images[2]") put in
// front of each field path. A discovered image is validated alone: the
// rules that span images (names, repository and tag) are Merge's.
func Validate(source, prefix string, im config.Image) []Skipped {
	c := config.Config{Version: config.Version, Images: []config.Image{im}}
	c.ApplyDefaults()
	var out []Skipped
	for _, fe := range config.FieldErrors(c.Validate()) {
		path := fe.Path
		if rest, ok := strings.CutPrefix(path, "images[0]"); ok {
			path = prefix + rest
		}
		out = append(out, Skipped{Source: source, Path: path, Reason: fe.Msg})
	}
	return out
}
