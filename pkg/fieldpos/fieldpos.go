// Package fieldpos finds where a field, named by its Kubernetes field path
// (k8s.io/apimachinery/pkg/util/validation/field), sits in a YAML or JSON
// document, so findings can point an editor or a CI annotation at the line
// and column of the offending field rather than at the document.
package fieldpos

import (
	"fmt"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// Position is a 1-based line and column inside the document given.
type Position struct {
	Line, Column int
}

// Document is one parsed YAML or JSON document whose fields can be located.
type Document struct {
	root *yaml.Node
}

// Parse parses one YAML document (JSON is YAML too, and positions come out
// the same). Only the first document of a stream is read.
func Parse(doc []byte) (*Document, error) {
	var n yaml.Node
	if err := yaml.Unmarshal(doc, &n); err != nil {
		return nil, err
	}
	root := &n
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = root.Content[0]
	}
	return &Document{root: root}, nil
}

// Locate returns the position of the field at path, e.g.
// `spec.subsets[1].trafficPolicy.loadBalancer` or
// `metadata.labels[istio.io/global]`: for a field held in a mapping, the
// position of its key, which is where editors show the field. When the
// path leads past what the document holds (a field the fix would add),
// it returns the position of the deepest field that exists and exact=false.
func (d *Document) Locate(path string) (pos Position, exact bool, err error) {
	steps, err := parsePath(path)
	if err != nil {
		return Position{}, false, err
	}
	node := d.root
	pos = Position{Line: node.Line, Column: node.Column}
	for _, s := range steps {
		node = resolveAlias(node)
		var key, value *yaml.Node
		switch {
		case s.index >= 0 && node.Kind == yaml.SequenceNode:
			if s.index < len(node.Content) {
				value = node.Content[s.index]
			}
		case node.Kind == yaml.MappingNode:
			name := s.name
			if s.index >= 0 {
				name = strconv.Itoa(s.index)
			}
			snake := snakeCase(name)
			for i := 0; i+1 < len(node.Content); i += 2 {
				if k := node.Content[i].Value; k == name || k == snake {
					key, value = node.Content[i], node.Content[i+1]
					break
				}
			}
		}
		if value == nil {
			return pos, false, nil
		}
		if key != nil {
			pos = Position{Line: key.Line, Column: key.Column}
		} else {
			pos = Position{Line: value.Line, Column: value.Column}
		}
		node = value
	}
	return pos, true, nil
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// step is one element of a field path: a field name, an index ([3]) or a
// map key ([istio.io/global], held in name with index -1).
type step struct {
	name  string
	index int
}

// parsePath splits a path as field.Path.String() writes it.
func parsePath(path string) ([]step, error) {
	var steps []step
	rest := path
	for rest != "" {
		switch rest[0] {
		case '.':
			rest = rest[1:]
			continue
		case '[':
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return nil, fmt.Errorf("field path %q: unclosed [", path)
			}
			inner := rest[1:end]
			if n, err := strconv.Atoi(inner); err == nil && n >= 0 {
				steps = append(steps, step{index: n})
			} else {
				steps = append(steps, step{name: inner, index: -1})
			}
			rest = rest[end+1:]
			continue
		}
		end := strings.IndexAny(rest, ".[")
		if end < 0 {
			end = len(rest)
		}
		steps = append(steps, step{name: rest[:end], index: -1})
		rest = rest[end:]
	}
	if len(steps) == 0 {
		return nil, fmt.Errorf("empty field path")
	}
	return steps, nil
}

// snakeCase returns the snake_case spelling of a camelCase field name
// (trafficPolicy → traffic_policy): Istio's decoder reads both, so a
// DestinationRule may spell its fields either way.
func snakeCase(name string) string {
	var b strings.Builder
	for i, r := range name {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}
