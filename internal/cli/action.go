package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/imagecascade/cascade/internal/action"
	"github.com/imagecascade/cascade/internal/exitcode"
)

func newActionCmd(g *globals) *cobra.Command {
	var tektonResults string
	cmd := &cobra.Command{
		Use:   "action",
		Short: "Run as the GitHub Action: inputs from INPUT_* and the triggering event, outputs and a step summary",
		Long: `action is what the composite action (action.yml) runs. It reads the action's
inputs from the INPUT_* variables the runner sets (image, digest, config,
workspace, command, dry-run, write, push, token, github-api-url,
max-dispatches, dispatch-unknown); with the image input empty it reads the
image, digest and cascade context of the repository_dispatch (client_payload)
or workflow_dispatch (inputs) that started the job. The token is masked and
reaches the command through CASCADE_GITHUB_TOKEN, never the command line.

It runs cascade run, plan or update with -o json, and writes the step outputs
plan, stale, dispatched, updated-files and pull-request, a log group per
stage, a notice with file and line for each manifest change, and a step
summary with a Mermaid graph of the cascade. The exit code is the command's.

The Tekton Task (tekton/task/cascade.yaml) runs it too, with the same INPUT_*
variables set from its params and --tekton-results: then the log is plain
text and the results STALE, DISPATCHED and UPDATED_FILES are written instead.`,
		Example: `  # A workflow step using the action (action.yml runs this; the runner turns with: into INPUT_*):
  #   with: {image: ghcr.io/acme/httpd-base:latest, digest: "${{ steps.build.outputs.digest }}", command: plan}
  cascade action`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			runner := func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
				return Run(ctx, args, Streams{Out: stdout, Err: stderr})
			}
			code := action.Run(cmd.Context(), action.Options{Runner: runner, Stdout: g.streams.Out, TektonResults: tektonResults})
			if code == exitcode.OK {
				return nil
			}
			return &exitcode.Error{Code: code, Err: fmt.Errorf("action: exit %d (see above)", code)}
		},
	}
	cmd.Flags().StringVar(&tektonResults, "tekton-results", "", "run as the Tekton Task: write the results STALE, DISPATCHED and UPDATED_FILES into this folder (/tekton/results), no workflow commands")
	return cmd
}
