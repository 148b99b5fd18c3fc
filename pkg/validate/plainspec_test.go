package validate

import (
	"encoding/binary"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/golang/protobuf/jsonpb" //nolint:staticcheck // Istio's own marshaler, as istio.io/api uses it
	"google.golang.org/protobuf/reflect/protoreflect"
	networking "istio.io/api/networking/v1alpha3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	sigsjson "sigs.k8s.io/json"

	"github.com/failover-webhook/failover-webhook/pkg/keys"
	"github.com/failover-webhook/failover-webhook/pkg/mode"
	"github.com/failover-webhook/failover-webhook/test/tables"
)

// randomSpec fills every field of a DestinationRule at random, down to
// depth 6: not only the fields the rule reads, so that a rule that starts
// reading another field gives a difference here until plainSpec decodes
// it. Values come from small sets, so that ports, subset names and
// failover settings meet, and are valid for jsonpb (finite numbers,
// known enum values, durations in range).
func randomSpec(r *rand.Rand) *networking.DestinationRule {
	spec := &networking.DestinationRule{}
	fill(r, spec.ProtoReflect(), 0)
	return spec
}

var (
	randomStrings = []string{"", "a", "v1", "v2", "http", "tcp", "reviews", "reviews.default.svc.cluster.local", "*.example.com",
		"topology.istio.io/cluster", "topology.kubernetes.io/region", "us-east/zone1/*", "us-west", ".", "default",
		keys.GatewayManaged, keys.ManagedByWaypointController, "waypoint"}
	randomNumbers = []uint64{0, 1, 2, 5, 80, 443, 9080}
)

func fill(r *rand.Rand, m protoreflect.Message, depth int) {
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if r.IntN(3) == 0 || (fd.ContainingOneof() != nil && m.WhichOneof(fd.ContainingOneof()) != nil) {
			continue
		}
		switch {
		case fd.IsMap():
			mp := m.Mutable(fd).Map()
			for range r.IntN(3) {
				key := protoreflect.ValueOfString(randomStrings[r.IntN(len(randomStrings))]).MapKey()
				if v, ok := scalar(r, fd.MapValue()); ok {
					mp.Set(key, v)
				} else if depth < 6 {
					mv := mp.NewValue()
					fill(r, mv.Message(), depth+1)
					mp.Set(key, mv)
				}
			}
		case fd.IsList():
			list := m.Mutable(fd).List()
			for range r.IntN(4) {
				if v, ok := scalar(r, fd); ok {
					list.Append(v)
				} else if depth < 6 {
					e := list.NewElement()
					fill(r, e.Message(), depth+1)
					list.Append(e)
				}
			}
		default:
			if v, ok := scalar(r, fd); ok {
				m.Set(fd, v)
			} else if depth < 6 {
				fill(r, m.Mutable(fd).Message(), depth+1)
			}
		}
	}
}

// scalar returns a random value of a field that is not a message; a
// Duration is one too, so that it stays in range.
func scalar(r *rand.Rand, fd protoreflect.FieldDescriptor) (protoreflect.Value, bool) {
	n := randomNumbers[r.IntN(len(randomNumbers))]
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(r.IntN(2) == 0), true
	case protoreflect.EnumKind:
		values := fd.Enum().Values()
		return protoreflect.ValueOfEnum(values.Get(r.IntN(values.Len())).Number()), true
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(randomStrings[r.IntN(len(randomStrings))]), true
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(int32(n)), true
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(int64(n)), true
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(uint32(n)), true
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(n), true
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32(float32(n) / 4), true
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(float64(n) / 4), true
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes([]byte{byte(n)}), true
	}
	return protoreflect.Value{}, false
}

// marshal encodes spec as the API server holds it, with the camelCase
// names of Istio's CRD schema, or with the proto names when protoNames.
func marshal(t testing.TB, spec *networking.DestinationRule, protoNames bool) []byte {
	t.Helper()
	s, err := (&jsonpb.Marshaler{OrigName: protoNames}).MarshalToString(spec)
	if err != nil {
		t.Fatalf("encoding %v: %v", spec, err)
	}
	return []byte(s)
}

// agree decodes raw through both decoders and requires the rule to give
// the same verdict for both, in each mode that evaluates and with and
// without the Service of the host. It reports whether the plain decoder
// read raw itself (no fallback to jsonpb).
func agree(t testing.TB, raw []byte) (plain bool) {
	t.Helper()
	want, err := decodeSpecJSONPB(raw)
	if err != nil {
		// Not a spec the API server can send.
		return false
	}
	got, err := decodeAdmittedSpec(raw)
	if err != nil {
		t.Fatalf("plain decoder refused what jsonpb reads: %v\n%s", err, raw)
	}
	svc := &corev1.Service{Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}, {Name: "tcp", Port: 9080}}}}
	lookups := map[string]func(types.NamespacedName) *corev1.Service{
		"without the Service": nil,
		"with the Service":    func(types.NamespacedName) *corev1.Service { return svc },
	}
	for _, c := range []struct {
		mode      mode.Mode
		unchanged bool
	}{{mode.Enforce, false}, {mode.Warn, true}} {
		ns := map[string]string{keys.Enforcement: string(c.mode)}
		for name, lookup := range lookups {
			wantV := Admit(want, TargetOf(want, "default", lookup), ns, c.unchanged)
			gotV := Admit(got, TargetOf(got, "default", lookup), ns, c.unchanged)
			if !reflect.DeepEqual(gotV, wantV) {
				t.Fatalf("mode %s, %s, spec unchanged %v: the plain decoder's spec is judged\n%+v\nthe jsonpb one\n%+v\nspec: %s",
					c.mode, name, c.unchanged, gotV, wantV, raw)
			}
		}
	}
	var p plainSpec
	return sigsjson.UnmarshalCaseSensitivePreserveInts(raw, &p) == nil
}

// TestPlainSpecAgreesWithJSONPB holds the admission decoder equal to
// Istio's jsonpb unmarshaler on every rule of the decision tables and on
// 5,000 random specs (fixed seed), encoded with the schema's camelCase
// names (read plainly) and with proto names (which must fall back).
func TestPlainSpecAgreesWithJSONPB(t *testing.T) {
	rows, err := tables.DestinationRuleSpecs(".")
	if err != nil {
		t.Fatal(err)
	}
	var plain, fellBack int
	count := func(p bool) {
		if p {
			plain++
		} else {
			fellBack++
		}
	}
	for _, row := range rows {
		raw, err := json.Marshal(row.Spec)
		if err != nil {
			t.Fatalf("%s: %v", row.Pos, err)
		}
		spec, err := decodeSpecJSONPB(raw)
		if err != nil {
			continue // a row about a spec jsonpb refuses
		}
		count(agree(t, marshal(t, spec, false)))
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 5000 {
		spec := randomSpec(r)
		if !agree(t, marshal(t, spec, false)) {
			t.Fatalf("the plain decoder did not read a schema-valid spec: %s", marshal(t, spec, false))
		}
		plain++
		if r.IntN(10) == 0 {
			raw := marshal(t, spec, true)
			if agree(t, raw) && hasProtoName(raw) {
				t.Fatalf("a spec with proto names was read plainly: %s", raw)
			}
			fellBack++
		}
	}
	t.Logf("%d specs read plainly, %d through jsonpb, all judged the same", plain, fellBack)
	if plain < 5000 || fellBack < 250 {
		t.Errorf("too few specs compared: %d plain, %d through jsonpb", plain, fellBack)
	}
}

// hasProtoName reports whether raw names a field the rule reads by its
// proto name, at any depth.
func hasProtoName(raw []byte) bool {
	var p plainSpec
	return sigsjson.UnmarshalCaseSensitivePreserveInts(raw, &p) == errProtoName
}

// FuzzPlainSpecAgreesWithJSONPB draws random specs from the fuzzer's bytes
// (as a seed) and arbitrary JSON, and requires the two decoders to agree
// on every spec jsonpb reads.
func FuzzPlainSpecAgreesWithJSONPB(f *testing.F) {
	f.Add(uint64(1), []byte(`{"host":"a","trafficPolicy":{"loadBalancer":{"localityLbSetting":{"failoverPriority":["x"]}}}}`))
	f.Add(uint64(2), []byte(`{"host":"a","traffic_policy":{"load_balancer":{"locality_lb_setting":{"failover_priority":["x"]}}}}`))
	f.Add(uint64(3), []byte(`{"host":"a","trafficPolicy":{"outlierDetection":{"consecutive5xxErrors":"0"},"loadBalancer":{"localityLbSetting":{"failover":[{"from":"a","to":"b"}]}}}}`))
	f.Add(uint64(4), []byte(`{"subsets":[null,{"name":"v1","trafficPolicy":{"portLevelSettings":[{"port":{"number":80},"outlierDetection":null}]}}]}`))
	f.Fuzz(func(t *testing.T, seed uint64, raw []byte) {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], seed)
		r := rand.New(rand.NewPCG(seed, binary.BigEndian.Uint64(b[:])))
		spec := randomSpec(r)
		agree(t, marshal(t, spec, false))
		agree(t, marshal(t, spec, true))
		agree(t, raw)
	})
}
