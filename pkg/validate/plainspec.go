package validate

import (
	"errors"

	"google.golang.org/protobuf/types/known/wrapperspb"
	networking "istio.io/api/networking/v1alpha3"
	typev1beta1 "istio.io/api/type/v1beta1"
	sigsjson "sigs.k8s.io/json"
)

// At admission, a DestinationRule's spec has already passed the API
// server's checks against the CRD's structural schema: unknown fields
// (snake_case names among them, since Istio's schema lists only camelCase
// ones) are pruned when the request is decoded
// (apiextensions-apiserver pkg/apiserver/customresource_handler.go), and
// types, enums and the schema's CEL rules are checked by the strategy's
// Validate (pkg/registry/customresource/strategy.go), which the registry
// runs before validating admission (k8s.io/apiserver
// pkg/registry/generic/registry/store.go: Create calls rest.BeforeCreate
// before createValidation, Update rest.BeforeUpdate before
// updateValidation). On such a spec, decoding only the fields the rule
// reads with the standard decoder gives the rule the same input as Istio's
// jsonpb unmarshaler, which re-reads every nested object once per level
// and was most of what an admission cost beyond the library's floor
// (docs/benchmarks.md). plainspec_test.go holds the two equal on random
// schema-valid specs of every field; `webhook check` and `webhook audit`,
// which read unvalidated files and lists, keep jsonpb.

// decodeAdmittedSpec decodes the spec of a DestinationRule the API server
// sends a validating webhook. A spec the plain decoder cannot read goes
// through jsonpb, with its result and its errors; so does one that names a
// field the rule reads by its proto name (snake_case), which jsonpb also
// reads and which can only reach the webhook through a schema that does
// not prune it.
func decodeAdmittedSpec(raw []byte) (*networking.DestinationRule, error) {
	if len(raw) > 0 {
		var plain plainSpec
		if err := sigsjson.UnmarshalCaseSensitivePreserveInts(raw, &plain); err == nil {
			return plain.proto(), nil
		}
	}
	return decodeSpecJSONPB(raw)
}

// decodeSpecJSONPB decodes a spec through Istio's jsonpb unmarshaler, as
// the istio.io/client-go types do.
func decodeSpecJSONPB(raw []byte) (*networking.DestinationRule, error) {
	spec := &networking.DestinationRule{}
	if len(raw) == 0 {
		return spec, nil
	}
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(raw, spec); err != nil {
		return nil, err
	}
	return spec, nil
}

// protoName is a field the rule reads, named by its proto name
// (snake_case): decoding it fails the plain decode, so that the spec goes
// through jsonpb, which reads both names. A null is no value for either.
type protoName struct{}

var errProtoName = errors.New("a field named by its proto name")

func (*protoName) UnmarshalJSON([]byte) error { return errProtoName }

// plainSpec and the types below hold exactly the fields of a
// DestinationRule's spec the rule, its warnings and TargetOf read, under
// the camelCase names of Istio's CRD schema; proto turns them into the
// istio.io/api message the rule takes. A field the rule starts reading
// must be added here: the differential test fails until it is.
type plainSpec struct {
	Host             string         `json:"host"`
	TrafficPolicy    *plainPolicy   `json:"trafficPolicy"`
	Subsets          []*plainSubset `json:"subsets"`
	ExportTo         []string       `json:"exportTo"`
	WorkloadSelector *struct {
		MatchLabels   map[string]string `json:"matchLabels"`
		MatchLabelsPB *protoName        `json:"match_labels"`
	} `json:"workloadSelector"`
	TrafficPolicyPB    *protoName `json:"traffic_policy"`
	ExportToPB         *protoName `json:"export_to"`
	WorkloadSelectorPB *protoName `json:"workload_selector"`
}

type plainSubset struct {
	Name            string       `json:"name"`
	TrafficPolicy   *plainPolicy `json:"trafficPolicy"`
	TrafficPolicyPB *protoName   `json:"traffic_policy"`
}

type plainPolicy struct {
	LoadBalancer        *plainLoadBalancer `json:"loadBalancer"`
	OutlierDetection    *plainOutlier      `json:"outlierDetection"`
	PortLevelSettings   []*plainPortPolicy `json:"portLevelSettings"`
	LoadBalancerPB      *protoName         `json:"load_balancer"`
	OutlierDetectionPB  *protoName         `json:"outlier_detection"`
	PortLevelSettingsPB *protoName         `json:"port_level_settings"`
}

type plainPortPolicy struct {
	Port *struct {
		Number uint32 `json:"number"`
	} `json:"port"`
	LoadBalancer       *plainLoadBalancer `json:"loadBalancer"`
	OutlierDetection   *plainOutlier      `json:"outlierDetection"`
	LoadBalancerPB     *protoName         `json:"load_balancer"`
	OutlierDetectionPB *protoName         `json:"outlier_detection"`
}

type plainLoadBalancer struct {
	LocalityLbSetting *struct {
		Enabled    *bool `json:"enabled"`
		Distribute []*struct {
			From string            `json:"from"`
			To   map[string]uint32 `json:"to"`
		} `json:"distribute"`
		Failover []*struct {
			From string `json:"from"`
			To   string `json:"to"`
		} `json:"failover"`
		FailoverPriority   []string   `json:"failoverPriority"`
		FailoverPriorityPB *protoName `json:"failover_priority"`
	} `json:"localityLbSetting"`
	// The rule reads only whether zoneAwareLbSetting is set.
	ZoneAwareLbSetting   *struct{}  `json:"zoneAwareLbSetting"`
	LocalityLbSettingPB  *protoName `json:"locality_lb_setting"`
	ZoneAwareLbSettingPB *protoName `json:"zone_aware_lb_setting"`
}

type plainOutlier struct {
	Consecutive5xxErrors             *uint32    `json:"consecutive5xxErrors"`
	ConsecutiveGatewayErrors         *uint32    `json:"consecutiveGatewayErrors"`
	SplitExternalLocalOriginErrors   bool       `json:"splitExternalLocalOriginErrors"`
	Consecutive5xxErrorsPB           *protoName `json:"consecutive_5xx_errors"`
	ConsecutiveGatewayErrorsPB       *protoName `json:"consecutive_gateway_errors"`
	SplitExternalLocalOriginErrorsPB *protoName `json:"split_external_local_origin_errors"`
}

func (s *plainSpec) proto() *networking.DestinationRule {
	out := &networking.DestinationRule{Host: s.Host, TrafficPolicy: s.TrafficPolicy.proto(), ExportTo: s.ExportTo}
	if s.WorkloadSelector != nil {
		out.WorkloadSelector = &typev1beta1.WorkloadSelector{MatchLabels: s.WorkloadSelector.MatchLabels}
	}
	if s.Subsets != nil {
		out.Subsets = make([]*networking.Subset, len(s.Subsets))
		for i, sub := range s.Subsets {
			if sub != nil {
				out.Subsets[i] = &networking.Subset{Name: sub.Name, TrafficPolicy: sub.TrafficPolicy.proto()}
			}
		}
	}
	return out
}

func (p *plainPolicy) proto() *networking.TrafficPolicy {
	if p == nil {
		return nil
	}
	out := &networking.TrafficPolicy{LoadBalancer: p.LoadBalancer.proto(), OutlierDetection: p.OutlierDetection.proto()}
	if p.PortLevelSettings != nil {
		out.PortLevelSettings = make([]*networking.TrafficPolicy_PortTrafficPolicy, len(p.PortLevelSettings))
		for i, pls := range p.PortLevelSettings {
			if pls == nil {
				continue
			}
			entry := &networking.TrafficPolicy_PortTrafficPolicy{LoadBalancer: pls.LoadBalancer.proto(), OutlierDetection: pls.OutlierDetection.proto()}
			if pls.Port != nil {
				entry.Port = &networking.PortSelector{Number: pls.Port.Number}
			}
			out.PortLevelSettings[i] = entry
		}
	}
	return out
}

func (lb *plainLoadBalancer) proto() *networking.LoadBalancerSettings {
	if lb == nil {
		return nil
	}
	out := &networking.LoadBalancerSettings{}
	if lb.ZoneAwareLbSetting != nil {
		out.ZoneAwareLbSetting = &networking.ZoneAwareLoadBalancerSetting{}
	}
	l := lb.LocalityLbSetting
	if l == nil {
		return out
	}
	loc := &networking.LocalityLoadBalancerSetting{FailoverPriority: l.FailoverPriority}
	if l.Enabled != nil {
		loc.Enabled = wrapperspb.Bool(*l.Enabled)
	}
	if l.Distribute != nil {
		loc.Distribute = make([]*networking.LocalityLoadBalancerSetting_Distribute, len(l.Distribute))
		for i, d := range l.Distribute {
			if d != nil {
				loc.Distribute[i] = &networking.LocalityLoadBalancerSetting_Distribute{From: d.From, To: d.To}
			}
		}
	}
	if l.Failover != nil {
		loc.Failover = make([]*networking.LocalityLoadBalancerSetting_Failover, len(l.Failover))
		for i, f := range l.Failover {
			if f != nil {
				loc.Failover[i] = &networking.LocalityLoadBalancerSetting_Failover{From: f.From, To: f.To}
			}
		}
	}
	out.LocalityLbSetting = loc
	return out
}

func (od *plainOutlier) proto() *networking.OutlierDetection {
	if od == nil {
		return nil
	}
	out := &networking.OutlierDetection{SplitExternalLocalOriginErrors: od.SplitExternalLocalOriginErrors}
	if od.Consecutive5xxErrors != nil {
		out.Consecutive_5XxErrors = wrapperspb.UInt32(*od.Consecutive5xxErrors)
	}
	if od.ConsecutiveGatewayErrors != nil {
		out.ConsecutiveGatewayErrors = wrapperspb.UInt32(*od.ConsecutiveGatewayErrors)
	}
	return out
}
