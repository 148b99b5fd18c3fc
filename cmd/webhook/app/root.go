// Package app builds the webhook command line. Each subcommand's builder
// takes the function that does the work, so flag parsing and validation are
// tested without starting servers.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/failover-webhook/failover-webhook/pkg/version"
)

// Exit codes shared by every subcommand.
const (
	ExitOK      = 0
	ExitFailure = 1 // the command ran and failed, or found denials
	ExitUsage   = 2 // bad flags, arguments or input
)

// usageError marks errors in how the command was called.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// inputError marks input that could not be read or parsed: it exits like a
// usage error, but without the hint to read --help, which would not help.
type inputError struct{ err error }

func (e inputError) Error() string { return e.err.Error() }
func (e inputError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// Main runs the command line and returns the process exit code.
func Main(args []string, stdout, stderr io.Writer, serve ServeFunc) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	root := NewRootCommand(serve)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	fmt.Fprintf(stderr, "error: %v\n", err)
	var input inputError
	if errors.As(err, &input) {
		return ExitUsage
	}
	var usage usageError
	if errors.As(err, &usage) {
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", commandPath(root, args))
		return ExitUsage
	}
	return ExitFailure
}

// commandPath names the subcommand the arguments selected, for the hint.
func commandPath(root *cobra.Command, args []string) string {
	if cmd, _, err := root.Find(args); err == nil && cmd != nil {
		return cmd.CommandPath()
	}
	return root.CommandPath()
}

// NewRootCommand returns the `webhook` command with its subcommands.
func NewRootCommand(serve ServeFunc) *cobra.Command {
	root := &cobra.Command{
		Use:   "webhook",
		Short: "Admission webhook for Istio ambient multicluster failover",
		Long: `failover-webhook makes Istio ambient multicluster failover work by construction.

Services labeled failover=cluster get istio.io/global=true and
istio.io/use-waypoint (mutating webhook), and DestinationRules that set
locality failover without outlier detection are rejected with the exact field
and the fix (validating webhook). Each namespace chooses a mode with the
label failover-webhook.io/enforcement: enforce (default), warn, audit or off.

Label the waypoint's Gateway too (Istio copies its labels onto the
waypoint's Service), naming the kind in full:

  kubectl label gateways.gateway.networking.k8s.io waypoint -n NS failover=cluster

unless the Gateway sets spec.infrastructure.labels (even {}): Istio then
copies only those, so add the label there:

  kubectl patch gateways.gateway.networking.k8s.io waypoint -n NS --type=merge \
    -p '{"spec":{"infrastructure":{"labels":{"failover":"cluster"}}}}'`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErrorf("unknown command %q for %q", args[0], cmd.CommandPath())
			}
			return nil
		},
		// Without a subcommand, show help rather than doing nothing.
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.Version = version.Get().String()
	root.SetVersionTemplate("{{.Version}}\n")
	root.AddCommand(NewServeCommand(serve), NewCheckCommand(), NewAuditCommand(), NewVersionCommand(), NewExplainCommand())
	return root
}
