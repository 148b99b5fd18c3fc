// Package rules is the catalogue of failover-webhook's findings. Every
// finding the webhook, `webhook check` and `webhook audit` report carries
// one of these IDs; `webhook explain ID` prints its entry and docs/rules.md
// is generated from the same entries (`make rules-doc`), so the reference
// cannot drift from the code.
package rules

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// ID names a rule: "FW" and three digits. The hundreds say what the rule is
// about: 1 DestinationRules, 2 Services, 3 namespaces, 4 clusters (audit).
type ID string

// The rules. Keep IDs stable: CI configurations and suppressions name them.
const (
	FailoverWithoutOutlierDetection ID = "FW101"
	TooManyScopes                   ID = "FW102"
	FailoverDisabled                ID = "FW103"
	OutlierDetectionNeverEjects     ID = "FW104"
	PortEntryDropsFailover          ID = "FW105"
	ZoneAwareIgnoredByWaypoint      ID = "FW106"
	DistributeOverridesFailover     ID = "FW107"
	ExportToHidesRule               ID = "FW108"
	FailoverWithWorkloadSelector    ID = "FW109"
	SubsetNamedLikeProtocol         ID = "FW110"
	TwoLabelHost                    ID = "FW111"
	RuleShadowed                    ID = "FW112"
	ServiceNotFound                 ID = "FW113"

	ServiceMutated           ID = "FW201"
	GlobalValueReplaced      ID = "FW202"
	NoWaypoint               ID = "FW203"
	EmptyWaypoint            ID = "FW204"
	WaypointNamespaceApplies ID = "FW205"
	EastWestGatewayUntouched ID = "FW206"

	UnknownMode ID = "FW301"

	ServiceMissingInCluster  ID = "FW401"
	LabelDiffers             ID = "FW402"
	WaypointDiffers          ID = "FW403"
	WaypointMissing          ID = "FW404"
	WaypointServiceNotGlobal ID = "FW405"
	WaypointNotReady         ID = "FW406"
	RuleMissingInCluster     ID = "FW407"
	SubsetMissingInCluster   ID = "FW408"
	EffectivePolicyDiffers   ID = "FW409"
	TooManyScopesToCompare   ID = "FW410"
	ModeDiffers              ID = "FW411"
	GatewayLabelNotCopied    ID = "FW412"
	GlobalThroughWaypoint    ID = "FW413"
	SameClusterTwice         ID = "FW414"
)

// Rule is one entry of the catalogue.
type Rule struct {
	ID ID
	// Title is one line: what the rule finds.
	Title string
	// Reported says how a finding of the rule is reported: in enforce mode
	// at admission, as a warning, as a mutation, or by audit only.
	Reported string
	// Why explains the Istio behaviour behind the rule, citing its source.
	Why string
	// Fix says what to change.
	Fix string
}

var idPattern = regexp.MustCompile(`^FW[0-9]{3}$`)

// Lookup returns the rule with this ID; the ID is matched case-insensitively
// so `webhook explain fw101` works.
func Lookup(id string) (Rule, error) {
	want := ID(strings.ToUpper(strings.TrimSpace(id)))
	if !idPattern.MatchString(string(want)) {
		return Rule{}, fmt.Errorf("%q is not a rule ID: rule IDs are FW followed by three digits, e.g. FW101", id)
	}
	i := slices.IndexFunc(Catalogue, func(r Rule) bool { return r.ID == want })
	if i < 0 {
		return Rule{}, fmt.Errorf("no rule %s: the rules are %s", want, strings.Join(IDs(), ", "))
	}
	return Catalogue[i], nil
}

// IDs lists every rule ID in order.
func IDs() []string {
	out := make([]string, len(Catalogue))
	for i, r := range Catalogue {
		out[i] = string(r.ID)
	}
	return out
}

// Markdown renders one rule as a section of docs/rules.md.
func (r Rule) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "## %s: %s\n\n", r.ID, r.Title)
	fmt.Fprintf(&b, "**Reported:** %s\n\n", r.Reported)
	fmt.Fprintf(&b, "**Why:** %s\n\n", r.Why)
	fmt.Fprintf(&b, "**Fix:** %s\n", r.Fix)
	return b.String()
}

// Text renders one rule for a terminal.
func (r Rule) Text() string {
	return fmt.Sprintf("%s: %s\n\nReported: %s\n\nWhy: %s\n\nFix: %s\n", r.ID, r.Title, r.Reported, r.Why, r.Fix)
}

// Document renders docs/rules.md.
func Document() string {
	var b strings.Builder
	b.WriteString("# Rules reference\n\n")
	b.WriteString("<!-- Generated from pkg/rules by `make rules-doc`; edit pkg/rules/catalogue.go, not this file. -->\n\n")
	b.WriteString("Every finding of failover-webhook carries one of these IDs: admission denials and warnings, `webhook check`\n")
	b.WriteString("and `webhook audit` output (text, JSON, SARIF, JUnit, GitHub). `webhook explain ID` prints a section.\n")
	b.WriteString("FW1xx are about DestinationRules, FW2xx about Services, FW3xx about namespaces, FW4xx about clusters\n")
	b.WriteString("(`webhook audit`).\n\n")
	b.WriteString("| ID | finds |\n|---|---|\n")
	for _, r := range Catalogue {
		fmt.Fprintf(&b, "| [%s](#%s) | %s |\n", r.ID, anchor(r), r.Title)
	}
	for _, r := range Catalogue {
		b.WriteString("\n")
		b.WriteString(r.Markdown())
	}
	return b.String()
}

// anchor is GitHub's heading anchor for the rule's section.
func anchor(r Rule) string {
	heading := strings.ToLower(string(r.ID) + ": " + r.Title)
	var b strings.Builder
	for _, c := range heading {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
			b.WriteRune(c)
		case c == ' ':
			b.WriteRune('-')
		}
	}
	return b.String()
}
