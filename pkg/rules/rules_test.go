package rules

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/rules.md from the catalogue")

func TestCatalogueIsWellFormed(t *testing.T) {
	seen := map[ID]bool{}
	for i, r := range Catalogue {
		if !idPattern.MatchString(string(r.ID)) {
			t.Errorf("entry %d: ID %q is not FW and three digits", i, r.ID)
		}
		if seen[r.ID] {
			t.Errorf("%s appears twice", r.ID)
		}
		seen[r.ID] = true
		if i > 0 && Catalogue[i-1].ID >= r.ID {
			t.Errorf("%s comes after %s: keep the catalogue in ID order", r.ID, Catalogue[i-1].ID)
		}
		for what, text := range map[string]string{"title": r.Title, "reported": r.Reported, "why": r.Why, "fix": r.Fix} {
			if strings.TrimSpace(text) == "" {
				t.Errorf("%s has no %s", r.ID, what)
			}
		}
	}
}

func TestLookup(t *testing.T) {
	tests := map[string]struct {
		in      string
		want    ID
		wantErr string
	}{
		"an ID as printed":                   {in: "FW101", want: FailoverWithoutOutlierDetection},
		"lower case and spaces are accepted": {in: " fw202 ", want: GlobalValueReplaced},
		"an unknown ID lists the known ones": {in: "FW999", wantErr: "no rule FW999: the rules are FW101, FW102"},
		"a word is not an ID":                {in: "outlier", wantErr: `"outlier" is not a rule ID`},
		"Istio's own codes are not ours":     {in: "IST0133", wantErr: "is not a rule ID"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := Lookup(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Lookup(%q) error = %v, want it to contain %q", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil || got.ID != tc.want {
				t.Fatalf("Lookup(%q) = %s, %v; want %s", tc.in, got.ID, err, tc.want)
			}
		})
	}
}

func TestEveryRuleHasASectionWithAnAnchorInTheIndex(t *testing.T) {
	doc := Document()
	for _, r := range Catalogue {
		if !strings.Contains(doc, "\n## "+string(r.ID)+": ") {
			t.Errorf("docs/rules.md has no section for %s", r.ID)
		}
		if !strings.Contains(doc, "(#"+anchor(r)+")") {
			t.Errorf("the index does not link %s", r.ID)
		}
	}
	if !slices.Contains(IDs(), "FW101") {
		t.Error("IDs() lacks FW101")
	}
}

// TestRulesDocIsCurrent fails when docs/rules.md differs from the catalogue:
// run `make rules-doc` after editing catalogue.go.
func TestRulesDocIsCurrent(t *testing.T) {
	path := filepath.Join("..", "..", "docs", "rules.md")
	want := Document()
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading %s: %v (run make rules-doc)", path, err)
	}
	if string(got) != want {
		t.Errorf("%s is stale: run make rules-doc", path)
	}
}
