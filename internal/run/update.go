package run

import (
	"context"

	"github.com/imagecascade/cascade/internal/imageref"
	"github.com/imagecascade/cascade/internal/manifests"
	"github.com/imagecascade/cascade/internal/report"
)

// LazyGuarded is a Guarded that computes the changes its check needs
// itself, and only when it needs them: `cascade update` then does not
// compute every change twice when no file holds a person's edit.
type LazyGuarded interface {
	GuardLazy(ctx context.Context, planned func(context.Context) (*manifests.Result, error)) (release func(), err error)
}

// Update is `cascade update`: it pins ref's digest in m and writes the
// changed files back, in this order — the write guard (when m is Guarded
// and this is not a dry run: the workspace lock, and the refusal of a file
// that holds a person's uncommitted edit, its changes computed without
// writing), the pin, then the write-back, only when every file was
// pinned. The result is returned whenever the update ran, for the report;
// the error is the first failure (a file that could not be pinned is
// res.Err()).
func Update(ctx context.Context, m Manifests, ref imageref.Ref, dryRun bool) (*manifests.Result, *report.WriteBack, error) {
	if !dryRun {
		planned := func(ctx context.Context) (*manifests.Result, error) { return m.Update(ctx, ref, true) }
		release := func() {}
		var err error
		switch g := m.(type) {
		case LazyGuarded:
			release, err = g.GuardLazy(ctx, planned)
		case Guarded:
			var res *manifests.Result
			if res, err = planned(ctx); err == nil {
				release, err = g.Guard(ctx, res)
			}
		}
		if err != nil {
			return nil, nil, err
		}
		defer release()
	}
	res, err := m.Update(ctx, ref, dryRun)
	if err != nil || res.Err() != nil || dryRun {
		if err == nil && res != nil {
			err = res.Err()
		}
		return res, nil, err
	}
	wb, err := m.WriteBack(ctx, ref, res)
	return res, wb, err
}
