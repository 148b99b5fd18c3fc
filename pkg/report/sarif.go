package report

import (
	"net/url"
	"path/filepath"
	"slices"
	"strings"

	"github.com/failover-webhook/failover-webhook/pkg/policy"
	"github.com/failover-webhook/failover-webhook/pkg/rules"
)

// The SARIF 2.1.0 log (https://docs.oasis-open.org/sarif/sarif/v2.1.0/),
// reduced to what the findings fill in: code scanning tools read the rule,
// its level, the message and the field's file, line and column.
type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool    sarifTool     `json:"tool"`
	Results []sarifResult `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifRule struct {
	ID               string    `json:"id"`
	ShortDescription sarifText `json:"shortDescription"`
	FullDescription  sarifText `json:"fullDescription"`
	Help             sarifText `json:"help"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifResult struct {
	RuleID    string          `json:"ruleId"`
	RuleIndex int             `json:"ruleIndex"`
	Level     string          `json:"level"`
	Message   sarifText       `json:"message"`
	Locations []sarifLocation `json:"locations"`
}

type sarifLocation struct {
	PhysicalLocation *sarifPhysicalLocation `json:"physicalLocation,omitempty"`
	LogicalLocations []sarifLogicalLocation `json:"logicalLocations"`
}

type sarifPhysicalLocation struct {
	ArtifactLocation sarifArtifactLocation `json:"artifactLocation"`
	Region           sarifRegion           `json:"region"`
}

type sarifArtifactLocation struct {
	URI string `json:"uri"`
}

type sarifRegion struct {
	StartLine   int `json:"startLine"`
	StartColumn int `json:"startColumn"`
}

type sarifLogicalLocation struct {
	// FullyQualifiedName names the object and field, with the cluster of
	// a finding read from a cluster: "cluster2: Service sample/helloworld
	// metadata.labels".
	FullyQualifiedName string `json:"fullyQualifiedName"`
	Kind               string `json:"kind"`
}

const (
	sarifSchema = "https://json.schemastore.org/sarif-2.1.0.json"
	projectURI  = "https://github.com/failover-webhook/failover-webhook"
)

// sarifLevels map severities to SARIF levels: a denial is an error, a
// mutation a note, everything else a warning.
var sarifLevels = map[policy.Severity]string{
	policy.Error:    "error",
	policy.Warning:  "warning",
	policy.Audit:    "warning",
	policy.Drift:    "warning",
	policy.Mutation: "note",
}

// newSARIF returns the SARIF log of findings, with the catalogue entry of
// each rule they name.
func newSARIF(findings []policy.Finding) sarifLog {
	var ids []string
	for _, f := range findings {
		if !slices.Contains(ids, string(f.Rule)) {
			ids = append(ids, string(f.Rule))
		}
	}
	slices.Sort(ids)
	driver := sarifDriver{Name: "failover-webhook", InformationURI: projectURI, Rules: []sarifRule{}}
	for _, id := range ids {
		r, err := rules.Lookup(id)
		if err != nil {
			// Every finding names a catalogued rule (pkg/rules tests it);
			// an unknown one still gets an entry, so results stay valid.
			r = rules.Rule{ID: rules.ID(id), Title: id}
		}
		driver.Rules = append(driver.Rules, sarifRule{
			ID:               string(r.ID),
			ShortDescription: sarifText{r.Title},
			FullDescription:  sarifText{r.Why},
			Help:             sarifText{r.Fix},
		})
	}
	run := sarifRun{Tool: sarifTool{Driver: driver}, Results: []sarifResult{}}
	for _, f := range findings {
		loc := sarifLocation{LogicalLocations: []sarifLogicalLocation{{FullyQualifiedName: logicalName(f), Kind: "object"}}}
		if f.File != "" {
			loc.PhysicalLocation = &sarifPhysicalLocation{
				ArtifactLocation: sarifArtifactLocation{URI: (&url.URL{Path: filepath.ToSlash(f.File)}).String()},
				Region:           sarifRegion{StartLine: max(f.Line, 1), StartColumn: max(f.Column, 1)},
			}
		}
		msg := f.Field + ": " + f.Message
		if f.Fix != "" {
			msg += "\nfix: " + f.Fix
		}
		run.Results = append(run.Results, sarifResult{
			RuleID:    string(f.Rule),
			RuleIndex: slices.Index(ids, string(f.Rule)),
			Level:     sarifLevels[f.Severity],
			Message:   sarifText{msg},
			Locations: []sarifLocation{loc},
		})
	}
	return sarifLog{Schema: sarifSchema, Version: "2.1.0", Runs: []sarifRun{run}}
}

func logicalName(f policy.Finding) string {
	name := f.Kind + " " + objectName(f) + " " + f.Field
	switch {
	case f.Cluster != "":
		return f.Cluster + ": " + name
	case len(f.Clusters) > 0:
		return strings.Join(f.Clusters, ",") + ": " + name
	}
	return name
}
