package mutate

import (
	"encoding/json"
	"fmt"
	"sort"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// sortedOps returns the patch operations in a fixed order: jsonpatch emits
// them in map order.
func sortedOps[Op any](t *testing.T, ops []Op) []string {
	t.Helper()
	out := make([]string, len(ops))
	for i, op := range ops {
		raw, err := json.Marshal(op)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = string(raw)
	}
	sort.Strings(out)
	return out
}

// The response from patchDocuments must be the response of diffing the
// whole objects: the same operations, and no patch when nothing changed.
func TestPatchDocumentsGiveTheWholeObjectPatch(t *testing.T) {
	maps := map[string]map[string]string{
		"nil":          nil,
		"empty":        {},
		"one":          {"failover": "cluster"},
		"one changed":  {"failover": "other"},
		"two":          {"failover": "cluster", "istio.io/global": "true"},
		"three":        {"failover": "cluster", "istio.io/global": "true", "istio.io/use-waypoint": "waypoint"},
		"other key":    {"app": "x"},
		"escapes":      {"a/b~c": "quote \" backslash \\ <tag> & \u2028", "tab": "\t", "bad": "\xff\xfe"},
		"escapes, one": {"a/b~c": "quote \" backslash \\ <tag> & \u2028"},
	}
	for nameBefore, labelsBefore := range maps {
		for nameAfter, labelsAfter := range maps {
			for _, annotations := range []bool{false, true} {
				before := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "s", Labels: labelsBefore}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}
				after := before.DeepCopy()
				after.Labels = labelsAfter
				if annotations {
					before.Annotations, after.Annotations = labelsAfter, labelsBefore
				}
				t.Run(fmt.Sprintf("%s to %s, annotations %v", nameBefore, nameAfter, annotations), func(t *testing.T) {
					wholeBefore, err := json.Marshal(before)
					if err != nil {
						t.Fatal(err)
					}
					wholeAfter, err := json.Marshal(after)
					if err != nil {
						t.Fatal(err)
					}
					want := admission.PatchResponseFromRaw(wholeBefore, wholeAfter)
					original, mutated, err := patchDocuments(before, after)
					if err != nil {
						t.Fatal(err)
					}
					got := admission.PatchResponseFromRaw(original, mutated)
					if !got.Allowed || !want.Allowed {
						t.Fatalf("got %+v, want %+v (documents %s, %s)", got.Result, want.Result, original, mutated)
					}
					if (got.PatchType == nil) != (want.PatchType == nil) {
						t.Errorf("patch type %v, want %v", got.PatchType, want.PatchType)
					}
					g, w := sortedOps(t, got.Patches), sortedOps(t, want.Patches)
					if fmt.Sprint(g) != fmt.Sprint(w) {
						t.Errorf("patch %v, want %v (documents %s, %s)", g, w, original, mutated)
					}
				})
			}
		}
	}
}
