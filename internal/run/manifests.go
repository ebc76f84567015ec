package run

import (
	"context"
	"slices"

	"github.com/imagecascade/cascade/internal/config"
	"github.com/imagecascade/cascade/internal/imageref"
	"github.com/imagecascade/cascade/internal/manifests"
	"github.com/imagecascade/cascade/internal/report"
)

// configFiles are the config's default places, never updated as manifests.
var configFiles = []string{config.DefaultFile, ".github/" + config.DefaultFile}

// UpdateManifests runs the manifest update over the selected file sets:
// --paths, else each of the config's manifest sets, else the default set.
// A file selected by several sets is reported once.
func UpdateManifests(ctx context.Context, cfg *config.Config, workspace string, paths []string, ref imageref.Ref, dryRun bool) (*manifests.Result, error) {
	type set struct {
		paths, exclude []string
		helm           []manifests.HelmPaths
	}
	sets := []set{{paths: paths}}
	if len(paths) == 0 && cfg != nil && len(cfg.Manifests) > 0 {
		sets = nil
		for _, m := range cfg.Manifests {
			s := set{paths: m.Paths, exclude: m.Exclude}
			for _, h := range m.HelmPathsOrDefault() {
				s.helm = append(s.helm, manifests.HelmPaths{Registry: h.Registry, Repository: h.Repository, Tag: h.Tag, Digest: h.Digest})
			}
			sets = append(sets, s)
		}
	}
	// Several sets are checked together before any is written, so that a
	// later set refusing a file leaves the earlier ones unwritten too (one
	// set is checked whole by manifests.Update itself).
	if !dryRun && len(sets) > 1 {
		if r, err := UpdateManifests(ctx, cfg, workspace, paths, ref, true); err != nil || r.Err() != nil {
			return r, err
		}
	}
	out := &manifests.Result{}
	seen := map[string]bool{}
	for _, s := range sets {
		// cascade's own config names images by tag on purpose: it is never
		// a manifest to pin.
		exclude := append(slices.Clone(s.exclude), configFiles...)
		r, err := manifests.Update(ctx, manifests.Options{
			Workspace: workspace, Paths: s.paths, Exclude: exclude, Image: ref, DryRun: dryRun, Helm: s.helm,
		})
		if r != nil {
			for _, f := range r.Files {
				if !seen[f.Path] {
					seen[f.Path] = true
					out.Files = append(out.Files, f)
				}
			}
		}
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// WorkspaceManifests pins digests in a workspace's manifests — Paths when
// set, else the config's file sets (their Helm paths included), else the
// default set; the config files themselves never — and writes them back
// with Write. It is the Manifests of `cascade run`, and what an app's own
// cascade step does in the demo.
type WorkspaceManifests struct {
	Config    *config.Config // nil: no config (the default file set)
	Workspace string
	Paths     []string
	// Write takes the changed files out of the workspace (nil: they stay
	// in it). reapply recomputes the update in another folder, for a
	// write-back that retries on a fresh tree.
	Write func(ctx context.Context, ref imageref.Ref, res *manifests.Result, reapply func(ctx context.Context, dir string) ([]string, error)) (*report.WriteBack, error)
	// Lock, when set, guards the write (see Guarded): it takes the
	// workspace lock and refuses when a file planned to change holds a
	// person's uncommitted edit. It calls planned only when its check
	// needs the changes (there are uncommitted edits to compare).
	Lock func(ctx context.Context, planned func(context.Context) (*manifests.Result, error)) (release func(), err error)
}

var (
	_ Guarded     = (*WorkspaceManifests)(nil)
	_ LazyGuarded = (*WorkspaceManifests)(nil)
)

// Guard takes Lock's guard (nothing without one).
func (m *WorkspaceManifests) Guard(ctx context.Context, planned *manifests.Result) (func(), error) {
	return m.GuardLazy(ctx, func(context.Context) (*manifests.Result, error) { return planned, nil })
}

// GuardLazy takes Lock's guard, computing the planned changes only if
// it needs them.
func (m *WorkspaceManifests) GuardLazy(ctx context.Context, planned func(context.Context) (*manifests.Result, error)) (func(), error) {
	if m.Lock == nil {
		return func() {}, nil
	}
	return m.Lock(ctx, planned)
}

var _ Manifests = (*WorkspaceManifests)(nil)

// Update pins ref's digest (dryRun: computes and checks, writes nothing).
func (m *WorkspaceManifests) Update(ctx context.Context, ref imageref.Ref, dryRun bool) (*manifests.Result, error) {
	return UpdateManifests(ctx, m.Config, m.Workspace, m.Paths, ref, dryRun)
}

// WriteBack hands the changed files to Write.
func (m *WorkspaceManifests) WriteBack(ctx context.Context, ref imageref.Ref, res *manifests.Result) (*report.WriteBack, error) {
	if m.Write == nil {
		return &report.WriteBack{Mode: "none"}, nil
	}
	return m.Write(ctx, ref, res, func(ctx context.Context, dir string) ([]string, error) {
		r, err := UpdateManifests(ctx, m.Config, dir, m.Paths, ref, false)
		if err != nil {
			return nil, err
		}
		return r.Changed(), r.Err()
	})
}
