package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"
)

// Document is a Chunk decoded: the Kubernetes objects it holds.
type Document struct {
	Source string
	Index  int
	Line   int
	// Data is the document's text as read, starting on Line, for finding
	// where a field sits (pkg/fieldpos).
	Data []byte
	// Objects are the document itself, or the items of a List.
	Objects []Object
	// Notes say what in the document was skipped and why: an empty
	// document, one that is not a Kubernetes object, a List item without a
	// kind.
	Notes []string
}

// Object is one Kubernetes object of a document.
type Object struct {
	GVK schema.GroupVersionKind
	// Item is the object's position in its List, from 1; 0 when the
	// object is the document itself.
	Item int
	// JSON is the object, as JSON.
	JSON []byte
}

// Decode parses the chunk and finds the Kubernetes objects in it: the
// document itself when it has an apiVersion and a kind, or the items of a
// List (kind List, or any kind ending in List that has items). Anything
// else is not an error but a note. A document that is not valid YAML or
// JSON is a *SyntaxError naming the line of the source.
func (c Chunk) Decode() (Document, error) {
	doc := Document{Source: c.Source, Index: c.Index, Line: c.Line, Data: c.Data}
	if c.Err != nil {
		return doc, c.Err
	}
	data := c.Data
	if !c.JSON {
		var err error
		if data, err = yaml.YAMLToJSON(c.Data); err != nil {
			return doc, c.yamlError(err)
		}
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 || bytes.Equal(data, []byte("null")) {
		doc.Notes = append(doc.Notes, "empty document")
		return doc, nil
	}
	obj, note := objectOf(data)
	if note != "" {
		doc.Notes = append(doc.Notes, note)
		return doc, nil
	}
	items, isList, err := listItems(obj.GVK, data)
	if err != nil {
		doc.Notes = append(doc.Notes, fmt.Sprintf("%s %s is not a valid List: %v", obj.GVK.GroupVersion(), obj.GVK.Kind, err))
		return doc, nil
	}
	if !isList {
		doc.Objects = append(doc.Objects, obj)
		return doc, nil
	}
	for i, raw := range items {
		item, note := objectOf(bytes.TrimSpace(raw))
		switch {
		case note != "":
			doc.Notes = append(doc.Notes, fmt.Sprintf("item %d of the %s is %s", i+1, obj.GVK.Kind, note))
		case isListKind(item.GVK):
			doc.Notes = append(doc.Notes, fmt.Sprintf("item %d of the %s is a %s; Lists inside Lists are not read", i+1, obj.GVK.Kind, item.GVK.Kind))
		default:
			item.Item = i + 1
			doc.Objects = append(doc.Objects, item)
		}
	}
	return doc, nil
}

// typeMeta is the part of an object that says what it is.
type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

// objectOf returns data as an Object, or a note saying why it is not one.
func objectOf(data []byte) (Object, string) {
	if len(data) == 0 || data[0] != '{' {
		return Object{}, "not a Kubernetes object: " + describeJSON(data)
	}
	var tm typeMeta
	if err := json.Unmarshal(data, &tm); err != nil {
		return Object{}, fmt.Sprintf("not a Kubernetes object: %v", err)
	}
	switch {
	case tm.APIVersion == "" && tm.Kind == "":
		return Object{}, "not a Kubernetes object: no apiVersion and no kind"
	case tm.Kind == "":
		return Object{}, "not a Kubernetes object: no kind"
	case tm.APIVersion == "":
		return Object{}, fmt.Sprintf("not a Kubernetes object: kind %s without an apiVersion", tm.Kind)
	}
	gv, err := schema.ParseGroupVersion(tm.APIVersion)
	if err != nil {
		return Object{}, fmt.Sprintf("not a Kubernetes object: %v", err)
	}
	return Object{GVK: gv.WithKind(tm.Kind), JSON: data}, ""
}

func describeJSON(data []byte) string {
	if len(data) == 0 {
		return "nothing"
	}
	switch data[0] {
	case '[':
		return "a list of values, not a mapping"
	case '"':
		return "a string, not a mapping"
	case 't', 'f':
		return "a boolean, not a mapping"
	}
	return "a number, not a mapping"
}

func isListKind(gvk schema.GroupVersionKind) bool {
	return strings.HasSuffix(gvk.Kind, "List")
}

// listItems returns the items of a List kind; isList is false for any
// other object, and for a kind named *List without an items field.
func listItems(gvk schema.GroupVersionKind, data []byte) (items []json.RawMessage, isList bool, err error) {
	if !isListKind(gvk) {
		return nil, false, nil
	}
	var list struct {
		Items *[]json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, true, err
	}
	if list.Items == nil {
		return nil, gvk.Kind == "List", nil
	}
	return *list.Items, true, nil
}

// yamlLine finds the line go-yaml's messages name ("yaml: line 7: ...").
var yamlLine = regexp.MustCompile(`\bline (\d+)(: )?`)

// yamlError turns a YAML parser error into a SyntaxError at the line of
// the source: the parser counts lines from the start of the document.
func (c Chunk) yamlError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "error converting YAML to JSON: ")
	line := c.Line
	if m := yamlLine.FindStringSubmatchIndex(msg); m != nil {
		n, _ := strconv.Atoi(msg[m[2]:m[3]])
		line = c.Line + n - 1
		msg = msg[:m[0]] + msg[m[1]:]
	}
	return &SyntaxError{Source: c.Source, Line: line, Index: c.Index, Msg: msg}
}
