package app

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/failover-webhook/failover-webhook/pkg/rules"
)

// NewExplainCommand returns `webhook explain`.
func NewExplainCommand() *cobra.Command {
	var markdown bool
	cmd := &cobra.Command{
		Use:   "explain [RULE-ID]",
		Short: "Explain a finding's rule ID (FW101, ...), or list every rule",
		Long: `Every finding of the webhook, webhook check and webhook audit carries a rule ID:
FW1xx DestinationRules, FW2xx Services, FW3xx namespaces, FW4xx clusters.
explain prints what the rule finds, how it is reported, the Istio behaviour
behind it and the fix; without an ID it lists the rules. The same text is
docs/rules.md.`,
		Example: `  webhook explain FW101
  webhook explain
  webhook explain --markdown FW105`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageErrorf("explain takes one rule ID, got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			if len(args) == 0 {
				for _, r := range rules.Catalogue {
					fmt.Fprintf(out, "%s  %s\n", r.ID, r.Title)
				}
				return nil
			}
			r, err := rules.Lookup(args[0])
			if err != nil {
				return usageError{err}
			}
			if markdown {
				fmt.Fprint(out, r.Markdown())
				return nil
			}
			fmt.Fprint(out, wrap(r.Text(), 80))
			return nil
		},
	}
	cmd.Flags().BoolVar(&markdown, "markdown", false, "print the rule as the Markdown section of docs/rules.md")
	return cmd
}

// wrap breaks each paragraph of s at spaces so no line exceeds width.
func wrap(s string, width int) string {
	var b strings.Builder
	for i, line := range strings.Split(s, "\n") {
		if i > 0 {
			b.WriteByte('\n')
		}
		n := 0
		for j, word := range strings.Fields(line) {
			if j > 0 {
				if n+1+len(word) > width {
					b.WriteByte('\n')
					n = 0
				} else {
					b.WriteByte(' ')
					n++
				}
			}
			b.WriteString(word)
			n += len(word)
		}
	}
	return b.String()
}
