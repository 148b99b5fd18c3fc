// Package tables reads the DestinationRule specs written in pkg/validate's
// decision tables, from the test sources, so that the tests that send the
// same rules elsewhere (to the native policies, to Istio's own config
// generator) judge a row as soon as it is added there, without a copy.
package tables

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"

	"sigs.k8s.io/yaml"
)

// Row is one DestinationRule spec of a decision table, and where it is
// written.
type Row struct {
	Pos  token.Position
	Spec map[string]any
}

// minRows is fewer rows than pkg/validate's tables hold: finding fewer
// means the table format changed under the reader.
const minRows = 20

// DestinationRuleSpecs returns the value of each `spec:` field of a test
// table in the *_test.go files of dir (pkg/validate) that is a string
// constant (literals, the package's constants and their concatenations)
// holding a YAML mapping. Rows about undecodable input are left out.
func DestinationRuleSpecs(dir string) ([]Row, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	var files []*ast.File
	consts := map[string]ast.Expr{}
	for _, n := range names {
		f, err := parser.ParseFile(fset, n, nil, 0)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
		for _, d := range f.Decls {
			if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.CONST {
				for _, spec := range g.Specs {
					vs := spec.(*ast.ValueSpec)
					for i, name := range vs.Names {
						if i < len(vs.Values) {
							consts[name.Name] = vs.Values[i]
						}
					}
				}
			}
		}
	}
	var out []Row
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			kv, ok := n.(*ast.KeyValueExpr)
			if !ok {
				return true
			}
			if key, ok := kv.Key.(*ast.Ident); !ok || key.Name != "spec" {
				return true
			}
			src, ok := stringValue(kv.Value, consts)
			if !ok {
				return true
			}
			var spec map[string]any
			if err := yaml.Unmarshal([]byte(src), &spec); err != nil || spec == nil {
				return true // a row about undecodable input
			}
			out = append(out, Row{Pos: fset.Position(kv.Pos()), Spec: spec})
			return true
		})
	}
	if len(out) < minRows {
		return nil, fmt.Errorf("found only %d DestinationRule specs in %s's test tables; has the table format changed?", len(out), dir)
	}
	return out, nil
}

// stringValue evaluates a string constant expression: literals, constants
// of the package and their concatenations.
func stringValue(e ast.Expr, consts map[string]ast.Expr) (string, bool) {
	switch e := e.(type) {
	case *ast.BasicLit:
		if e.Kind != token.STRING {
			return "", false
		}
		s, err := strconv.Unquote(e.Value)
		return s, err == nil
	case *ast.Ident:
		if c, ok := consts[e.Name]; ok {
			return stringValue(c, consts)
		}
	case *ast.ParenExpr:
		return stringValue(e.X, consts)
	case *ast.BinaryExpr:
		if e.Op == token.ADD {
			x, okX := stringValue(e.X, consts)
			y, okY := stringValue(e.Y, consts)
			return x + y, okX && okY
		}
	}
	return "", false
}
