package app

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/failover-webhook/failover-webhook/pkg/version"
)

// NewVersionCommand returns `webhook version`.
func NewVersionCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit, Go version and the Istio API version this build understands",
		Long: `Print what build of failover-webhook this is: its version (from git describe
when built with make build, the module version when installed with go install),
the commit, the Go toolchain, the platform, and the istio.io/api version whose
DestinationRule fields the rules read. Pin this version in CI, next to the one
deployed in the clusters.`,
		Example: `  webhook version
  webhook version -o json
  webhook --version`,
		Args: noArgs(""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			info := version.Get()
			switch output {
			case "text":
				fmt.Fprintf(cmd.OutOrStdout(), "version:   %s\ncommit:    %s\ngo:        %s\nplatform:  %s\nistio api: %s\n",
					info.Version, info.Commit, info.Go, info.Platform, info.IstioAPI)
			case "json":
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(info)
			default:
				return usageErrorf("--output %q is not one of text, json", output)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}
