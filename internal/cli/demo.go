package cli

import (
	"github.com/spf13/cobra"

	"github.com/imagecascade/cascade/internal/demo"
)

func newDemoCmd(g *globals) *cobra.Command {
	var opts demo.Options
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Play the seed scenario (centos:7 -> httpd-base -> app-a, app-b) on an embedded registry",
		Long: `demo plays the OpenShift "Image Stream" lab end to end without any external
service: an in-process registry holds centos:7, httpd-base:latest built on it,
and app-a and app-b built on httpd-base, each deployed from manifests pinned by
digest. It plans (everything current), pushes a new httpd-base — the lab's
"Start build" — and runs the cascade: app-a (found stale by its OCI base
annotation) and app-b (by its layers) are dispatched to an embedded executor that
stands in for their Tekton and GitHub pipelines; each rebuilds on the new base,
pushes, and runs its own cascade step, which pins the new digest in its
deployment. It prints the story, the cascade tree and the manifest diff.`,
		Example: `  cascade demo
  cascade demo --keep    # keep the generated workspace (cascade.yaml, Dockerfiles) to look at`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := demo.Run(cmd.Context(), g.streams.Out, opts)
			return err
		},
	}
	cmd.Flags().BoolVar(&opts.Keep, "keep", false, "keep the demo workspace and print where it is")
	return cmd
}
