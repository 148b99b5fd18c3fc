package helm

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestREADMEValuesTableMatchesTheSchema: README's values table lists
// exactly the values values.schema.json accepts.
func TestREADMEValuesTableMatchesTheSchema(t *testing.T) {
	b, err := os.ReadFile(repoPath(t, "charts", "failover-webhook", "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema node
	if err := json.Unmarshal(b, &schema); err != nil {
		t.Fatal(err)
	}
	var want []string
	schema.leaves("", &want)
	slices.Sort(want)

	readme, err := os.ReadFile(repoPath(t, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, found := strings.Cut(string(readme), "#### Helm values\n")
	if !found {
		t.Fatal("README.md has no section #### Helm values")
	}
	section, _, _ = strings.Cut(section, "\n#")
	var got []string
	for _, m := range regexp.MustCompile("(?m)^\\| `([A-Za-z.]+)` \\|").FindAllStringSubmatch(section, -1) {
		got = append(got, m[1])
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("README's values table lists %v,\nthe schema accepts %v", got, want)
	}
}

// node is a JSON schema, as far as values.schema.json uses it.
type node struct {
	Properties map[string]node `json:"properties"`
}

// leaves lists the values a user sets one by one. resources is one value,
// a container's resources as Kubernetes defines them.
func (n node) leaves(prefix string, out *[]string) {
	for name, p := range n.Properties {
		path := strings.TrimPrefix(prefix+"."+name, ".")
		if len(p.Properties) == 0 || path == "resources" {
			*out = append(*out, path)
			continue
		}
		p.leaves(path, out)
	}
}
