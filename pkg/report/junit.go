package report

import (
	"encoding/xml"
	"strings"

	"github.com/failover-webhook/failover-webhook/pkg/policy"
)

// The JUnit XML report CI systems (GitLab, Jenkins, Azure Pipelines) show
// as test results: a test suite per file (or cluster), a test case per
// finding. A denial or a difference between clusters is a failure; other
// findings pass, with what they say as the case's output, because JUnit
// has no warnings.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	// Name is the object and field; ClassName the rule.
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Type    string `xml:"type,attr"`
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

// newJUnit returns the JUnit report of findings.
func newJUnit(findings []policy.Finding) junitSuites {
	out := junitSuites{Name: "failover-webhook", Suites: []junitSuite{}}
	index := map[string]int{}
	for _, f := range findings {
		suite := f.File
		switch {
		case suite != "":
		case f.Cluster != "":
			suite = f.Cluster
		case len(f.Clusters) > 0:
			suite = strings.Join(f.Clusters, ",")
		default:
			suite = "cluster"
		}
		i, ok := index[suite]
		if !ok {
			i = len(out.Suites)
			index[suite] = i
			out.Suites = append(out.Suites, junitSuite{Name: suite})
		}
		c := junitCase{Name: f.Kind + " " + objectName(f) + " " + f.Field, ClassName: string(f.Rule)}
		text := Line(f)
		if f.Fix != "" {
			text += "\nfix: " + f.Fix
		}
		if f.Severity == policy.Error || f.Severity == policy.Drift {
			c.Failure = &junitFailure{Type: string(f.Severity), Message: f.Message, Text: text}
			out.Suites[i].Failures++
			out.Failures++
		} else {
			c.SystemOut = text
		}
		out.Suites[i].Cases = append(out.Suites[i].Cases, c)
		out.Suites[i].Tests++
		out.Tests++
	}
	return out
}
