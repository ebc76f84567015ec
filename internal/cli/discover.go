package cli

import (
	"context"

	"github.com/imagecascade/cascade/internal/config"
	"github.com/imagecascade/cascade/internal/wire"
)

// discoverForGraph adds the discovered dependents to cfg for `cascade
// graph`, which has no run: skipped declarations are logged.
func discoverForGraph(ctx context.Context, g *globals, cfg *config.Config) error {
	d, err := wire.Discoverer(g.wireOptions(imageFlags{}, writeFlags{}, true), cfg)
	if err != nil || d == nil {
		return err
	}
	res, err := d.Apply(ctx, cfg)
	if err != nil {
		return err
	}
	for _, s := range res.Skipped {
		g.logger().Warn("declaration skipped", "source", s.Source, "path", s.Path, "reason", s.Reason)
	}
	return nil
}
