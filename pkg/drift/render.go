package drift

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// names returns the names of the clusters at the indexes idx.
func (c *comparison) names(idx []int) []string {
	out := make([]string, len(idx))
	for i, n := range idx {
		out[i] = c.snaps[n].Cluster
	}
	return out
}

// list names the clusters at idx in prose: "a", "a and b", "a, b and c".
func (c *comparison) list(idx []int) string {
	names := c.names(idx)
	if len(names) <= 1 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// describe renders a value per cluster, clusters with equal values
// together, in order of first appearance: `"true" in a and c; not set in b`.
func (c *comparison) describe(idx []int, value func(int) string) string {
	var order []string
	groups := map[string][]int{}
	for _, i := range idx {
		v := value(i)
		if _, seen := groups[v]; !seen {
			order = append(order, v)
		}
		groups[v] = append(groups[v], i)
	}
	parts := make([]string, len(order))
	for n, v := range order {
		parts[n] = v + " in " + c.list(groups[v])
	}
	return strings.Join(parts, "; ")
}

// command is a command line of tool (kubectl or istioctl) run against
// cluster i.
func (c *comparison) command(i int, tool, args string) string {
	if flags := c.snaps[i].Kubectl; flags != "" {
		return tool + " " + flags + " " + args
	}
	return tool + " " + args
}

func labelPath(key string) string {
	return field.NewPath("metadata", "labels").Key(key).String()
}

func labelValue(labels Labels, key string) string {
	if v, ok := labels[key]; ok {
		return fmt.Sprintf("%s=%q", key, v)
	}
	return key + " not set"
}

// rendered is an effective value and where it is declared.
type rendered struct {
	message proto.Message
	path    string
}

func (r rendered) String() string {
	if r.message == nil {
		return "not set"
	}
	raw, err := protojson.Marshal(r.message)
	if err != nil {
		return fmt.Sprintf("%v", r.message)
	}
	// protojson varies its whitespace on purpose; compact it so messages
	// are stable.
	var b bytes.Buffer
	if json.Compact(&b, raw) == nil {
		raw = b.Bytes()
	}
	return fmt.Sprintf("%s (%s)", raw, cmp.Or(r.path, "Istio's default"))
}
