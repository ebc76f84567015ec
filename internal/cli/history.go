package cli

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/history"
	"github.com/imagecascade/cascade/internal/imageref"
	"github.com/imagecascade/cascade/internal/report"
	"github.com/imagecascade/cascade/internal/wire"
)

// maxHistoryLimit bounds how many digests `history` walks back (its
// --limit rule in flagRules).
const maxHistoryLimit = 1000

func newHistoryCmd(g *globals) *cobra.Command {
	var image, cfgPath, workspace, output string
	var limit int
	cmd := &cobra.Command{
		Use:   "history --image REF",
		Short: "Show an image's digest generations and what each one triggered",
		Long: `history reads the cascade records stored in the registry next to the image (OCI
artifacts whose subject is each digest; the referrers API, or the tag scheme on
registries without it) and prints its generations, newest first: each digest,
the digest before it, when cascade ran, and every dispatch with its outcome.
The same records make cascade run idempotent: a dependent dispatched successfully
for a digest is not dispatched again; failed ones are retried.`,
		Example: `  cascade history --image registry.example.com/acme/httpd-base:latest
  cascade history --image "registry.example.com/acme/httpd-base@$DIGEST" -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if image == "" {
				return exitcode.AsInvalid(fmt.Errorf("--image is required"))
			}
			ref, err := imageref.Parse(image)
			if err != nil {
				return exitcode.AsInvalid(fmt.Errorf("--image: %w", err))
			}
			format, err := report.ParseFormat(output, report.Text, report.JSON)
			if err != nil {
				return err
			}
			cfg, err := wire.OptionalConfig(workspace, cfgPath)
			if err != nil {
				return err
			}
			res, err := wire.Resolver(wire.Options{RegistryRetryBudget: g.registryRetryBudget, UserAgent: "cascade/" + Version, Redactor: g.redactor}, cfg)
			if err != nil {
				return err
			}
			store := history.New(history.Options{Transport: res.Transport(), Keychain: res.Keychain(), Insecure: res.Insecure})
			gens, err := store.Chain(cmd.Context(), ref, limit)
			if err != nil {
				return err
			}
			if format == report.JSON {
				if gens == nil {
					gens = []history.Generation{}
				}
				return report.WriteJSON(g.streams.Out, gens)
			}
			return historyText(g.streams.Out, ref, gens)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&image, "image", "", "the image: name:tag (its current digest and back) or name@sha256:…")
	fl.IntVar(&limit, "limit", history.DefaultChainMax, "at most this many digests back (1 to 1000)")
	fl.StringVar(&cfgPath, "config", "", "config file, for registries.allow (optional)")
	fl.StringVar(&workspace, "workspace", ".", "folder holding the config")
	fl.StringVarP(&output, "output", "o", "text", "output format: text, json")
	return cmd
}

func historyText(w io.Writer, ref imageref.Ref, gens []history.Generation) error {
	if len(gens) == 0 {
		fmt.Fprintf(w, "No cascade history for %s.\n", ref.Original)
		return nil
	}
	last := ""
	for _, gen := range gens {
		if gen.Digest != last {
			last = gen.Digest
			prev := "-"
			if gen.Previous != "" {
				prev = imageref.Digest(gen.Previous).Short()
			}
			fmt.Fprintf(w, "\n%s@%s  (previous %s)\n", gen.Image, gen.Digest, prev)
		}
		fmt.Fprintf(w, "  run at %s", gen.Time.UTC().Format("2006-01-02 15:04:05Z"))
		if len(gen.Chain) > 0 {
			fmt.Fprintf(w, "  chain %v", gen.Chain)
		}
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, d := range gen.Dispatches {
			detail := d.Detail
			if d.Error != "" {
				detail = d.Error
			}
			fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\n", d.Dependent, d.Kind, d.Status, detail)
		}
		for _, ro := range gen.Rollouts {
			fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\n", ro.Workload, "rollout "+ro.Cluster, ro.Status, ro.Error)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}
