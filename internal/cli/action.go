package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/imagecascade/cascade/internal/action"
	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/history"
)

func newActionCmd(g *globals) *cobra.Command {
	var tektonResults, kubeconfig string
	var claimSettle time.Duration
	cmd := &cobra.Command{
		Use:   "action",
		Short: "Run as the GitHub Action: inputs from INPUT_* and the triggering event, outputs and a step summary",
		Long: `action is what the composite action (action.yml) runs. It reads the action's
inputs from the INPUT_* variables the runner sets (image, digest, config,
workspace, command, dry-run, write, push, token, github-api-url,
max-dispatches, dispatch-unknown); with the image input empty it reads the
image, digest and cascade context of the repository_dispatch (client_payload)
or workflow_dispatch (inputs) that started the job. The event is read once.

It does what cascade run, plan or update does — the same clients, the same
two phases, the same exit codes — in this process: the token (the token
input, else CASCADE_GITHUB_TOKEN, else GITHUB_TOKEN) is masked first and
handed to the clients as a value, never through the environment or a
command line. From the run's report it writes the step outputs plan, stale,
dispatched, updated-files and pull-request, a log group per stage (the
run's progress inside, at --log-level), a notice with file and line for each
manifest change, an error for each rebuild not started, and a step summary
with a Mermaid graph of the cascade.

The global flags, --claim-settle and --kubeconfig (or their CASCADE_
variables) work as for cascade run; the run's progress goes to the job log.

The Tekton Task (tekton/task/cascade.yaml) runs it too, with the same INPUT_*
variables set from its params and --tekton-results: then the log is plain
text and the results STALE, DISPATCHED and UPDATED_FILES are written instead.`,
		Example: `  # A workflow step using the action (action.yml runs this; the runner turns with: into INPUT_*):
  #   with: {image: ghcr.io/acme/httpd-base:latest, digest: "${{ steps.build.outputs.digest }}", command: plan}
  cascade action`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if claimSettle <= 0 {
				return exitcode.AsInvalid(fmt.Errorf("--claim-settle %s: must be positive", claimSettle))
			}
			// The action is a host of its own: it reads its inputs and
			// event, builds the clients (internal/wire) and calls
			// internal/run itself. cli only hands it the process's streams
			// and the global flags.
			code := action.Run(cmd.Context(), action.Options{Stdout: g.streams.Out, TektonResults: tektonResults,
				LogLevel: g.level(), RegistryRetryBudget: g.registryRetryBudget, UserAgent: "cascade/" + Version,
				ClaimSettle: claimSettle, Kubeconfig: kubeconfig})
			if code == exitcode.OK {
				return nil
			}
			return &exitcode.Error{Code: code, Err: fmt.Errorf("action: exit %d (see above)", code)}
		},
	}
	cmd.Flags().DurationVar(&claimSettle, "claim-settle", history.DefaultClaimSettle, "how long a run waits, after claiming its rebuilds in the registry, for concurrent runs' claims to show")
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig for Tekton rebuilds (default: $KUBECONFIG, else in-cluster)")
	cmd.Flags().StringVar(&tektonResults, "tekton-results", "", "run as the Tekton Task: write the results STALE, DISPATCHED and UPDATED_FILES into this folder (/tekton/results), no workflow commands")
	return cmd
}
