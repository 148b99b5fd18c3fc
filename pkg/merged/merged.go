// Package merged judges the DestinationRules of one host together, as
// Istio merges them before a waypoint applies them (pkg/consolidate),
// for `webhook check` and `webhook audit`. The webhook at admission sees
// one rule at a time; a rule can pass alone and break failover once
// merged, or have its failover silently dropped by an earlier rule.
package merged

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	networking "istio.io/api/networking/v1alpha3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/failover-webhook/failover-webhook/pkg/consolidate"
	"github.com/failover-webhook/failover-webhook/pkg/mode"
	"github.com/failover-webhook/failover-webhook/pkg/policy"
	"github.com/failover-webhook/failover-webhook/pkg/rules"
	"github.com/failover-webhook/failover-webhook/pkg/validate"
	"github.com/failover-webhook/failover-webhook/pkg/verdict"
)

// Input is every DestinationRule of a cluster (or of a set of manifests)
// and what the judgment reads besides.
type Input struct {
	Rules []consolidate.Rule
	// Service returns the Service a host names (its labels choose the
	// waypoint, its ports the scopes); nil when it has none.
	Service func(types.NamespacedName) *corev1.Service
	// Namespaces gives each namespace's labels (the waypoint a Service
	// without its own label uses, and the mode) and the excluded ones.
	Namespaces policy.Namespaces
}

// Judge returns the findings about the hosts that some DestinationRule
// declaring a failover policy names:
//
//   - FW101 for a failover setting that lacks outlier detection in the
//     merged rule but not in its own rule, on the rule that declares it,
//     naming the rule whose policy it meets in the merge: an error in mode
//     enforce, a warning in warn, an audit finding in audit, as the rule's
//     own violations;
//   - FW101 likewise where a rule whose workloadSelector selects the
//     waypoint's pods gives its endpoints failover priorities while the
//     clusters, built from the rules without a selector, lack outlier
//     detection (Istio reads the two for endpoints and for clusters:
//     validate.EvaluateWaypoint), naming both;
//   - FW112, a warning, for a rule whose top-level trafficPolicy, subset
//     or whole self a waypoint does not apply, naming the rule that does,
//     and for a localityLbSetting of a rule the clusters read whose
//     endpoints read a selector rule instead.
//
// Rules of namespaces the webhook does not judge (excluded, mode off)
// get no findings. Findings come sorted by namespace, name and field.
func Judge(in Input) []policy.Finding {
	hosts := failoverHosts(in.Rules)
	if !anyShared(hosts, in.Rules) {
		// One rule per host: nothing is merged or dropped in favour of
		// another, and the index need not be built.
		return nil
	}
	idx := consolidate.DefaultMesh.Index(in.Rules)
	j := judgment{in: in, seen: map[string]bool{}}
	for _, h := range hosts {
		svc := (*corev1.Service)(nil)
		if in.Service != nil {
			svc = in.Service(h.service)
		}
		w := waypointOf(h.service, svc, in.Namespaces.LabelsOf(h.service.Namespace))
		proxyNS := w.Namespace
		res := idx.ForWaypointPods(proxyNS, consolidate.WaypointPodLabels(w.Name), h.service.Namespace, h.host)
		j.ignored(h.host, proxyNS, res)
		if res.Endpoints.Selected {
			j.failoverNotOnEndpoints(h.host, proxyNS, res)
			j.twoViewViolations(h, svc, w, res)
		} else {
			j.mergedViolations(h, svc, w, res)
		}
	}
	slices.SortStableFunc(j.out, func(a, b policy.Finding) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name), cmp.Compare(a.Field, b.Field))
	})
	return j.out
}

// host is a Service host some rule with a failover policy names.
type host struct {
	host    string
	service types.NamespacedName
}

// failoverHosts returns the Service hosts named by rules that declare a
// failover policy, each once, in order.
func failoverHosts(rs []consolidate.Rule) []host {
	seen := map[string]bool{}
	var out []host
	for _, r := range rs {
		if !validate.DeclaresFailoverPolicy(r.Spec) {
			continue
		}
		h := consolidate.DefaultMesh.Resolve(r.Spec.GetHost(), r.Namespace)
		key, ok := validate.ServiceOf(h, r.Namespace)
		if !ok || seen[h] {
			continue
		}
		seen[h] = true
		out = append(out, host{host: h, service: key})
	}
	slices.SortFunc(out, func(a, b host) int { return strings.Compare(a.host, b.host) })
	return out
}

// anyShared reports whether some host of hosts has another rule than its
// own: a second rule of the same host, or any rule with a wildcard host.
func anyShared(hosts []host, rs []consolidate.Rule) bool {
	perHost := make(map[string]int, len(hosts))
	for _, h := range hosts {
		perHost[h.host] = 0
	}
	for _, r := range rs {
		h := consolidate.DefaultMesh.Resolve(r.Spec.GetHost(), r.Namespace)
		if strings.HasPrefix(h, "*") {
			return true
		}
		if n, ok := perHost[h]; ok {
			if n == 1 {
				return true
			}
			perHost[h] = n + 1
		}
	}
	return false
}

// waypointOf is the waypoint serving the Service: the one its labels or
// its namespace's name (validate.WaypointOf); else a waypoint of unknown
// name in the Service's own namespace, where the webhook puts the waypoint
// it names.
func waypointOf(key types.NamespacedName, svc *corev1.Service, nsLabels map[string]string) types.NamespacedName {
	var labels map[string]string
	if svc != nil {
		labels = svc.Labels
	}
	if w, ok := validate.WaypointOf(key, labels, nsLabels); ok {
		return w
	}
	return types.NamespacedName{Namespace: key.Namespace}
}

type judgment struct {
	in   Input
	out  []policy.Finding
	seen map[string]bool
}

// modeOf returns the mode of namespace; "" when it is excluded.
func (j *judgment) modeOf(namespace string) mode.Mode {
	if j.in.Namespaces.IsExcluded(namespace) {
		return ""
	}
	m, _ := mode.FromLabels(j.in.Namespaces.LabelsOf(namespace))
	return m
}

// violationSeverity is what the mode makes of a violation, as for a
// rule's own: an error in enforce, a warning in warn, an audit finding in
// audit.
var violationSeverity = map[mode.Mode]policy.Severity{
	mode.Enforce: policy.Error,
	mode.Warn:    policy.Warning,
	mode.Audit:   policy.Audit,
}

func (j *judgment) add(r consolidate.Rule, id rules.ID, path string, sev policy.Severity, msg string) {
	m := j.modeOf(r.Namespace)
	if m == "" || m == mode.Off {
		return
	}
	if sev == policy.Error {
		sev = violationSeverity[m]
	}
	key := strings.Join([]string{r.Namespace, r.Name, string(id), path, msg}, "\x00")
	if j.seen[key] {
		return
	}
	j.seen[key] = true
	j.out = append(j.out, policy.Finding{
		Kind: policy.DestinationRuleKind, Namespace: r.Namespace, Name: r.Name,
		Rule: id, Field: path, Severity: sev, Message: msg,
	})
}

// ignored reports FW112 for every rule, or part of one, carrying a
// traffic policy that the waypoint drops in favour of another rule.
func (j *judgment) ignored(h, proxyNS string, res consolidate.Result) {
	for _, ig := range res.Ignored {
		if !ig.HasWinner() {
			continue
		}
		spec := ig.Rule.Spec
		// dropped is what the waypoint does not apply.
		dropped := spec
		var path, what string
		switch ig.Part {
		case consolidate.TrafficPolicy:
			path, what = "spec.trafficPolicy", "its top-level trafficPolicy"
			dropped = &networking.DestinationRule{TrafficPolicy: spec.GetTrafficPolicy()}
		case consolidate.Subset:
			i := slices.IndexFunc(spec.GetSubsets(), func(s *networking.Subset) bool { return s.GetName() == ig.SubsetName })
			if i < 0 || spec.GetSubsets()[i].GetTrafficPolicy() == nil {
				continue
			}
			path, what = fmt.Sprintf("spec.subsets[%d]", i), fmt.Sprintf("its subset %q", ig.SubsetName)
			dropped = &networking.DestinationRule{TrafficPolicy: spec.GetSubsets()[i].GetTrafficPolicy()}
		default:
			if !hasPolicy(spec) {
				continue
			}
			path, what = "spec", "the whole rule"
		}
		lost := ""
		if validate.DeclaresFailoverPolicy(dropped) {
			lost = ", with the failover policy it declares"
		}
		j.add(ig.Rule, rules.RuleShadowed, path, policy.Warning, fmt.Sprintf(
			"a waypoint in namespace %s ignores %s for host %s%s: %s applies instead, because %s",
			proxyNS, what, h, lost, ig.Winner, ig.Reason))
	}
}

func hasPolicy(spec *networking.DestinationRule) bool {
	return spec.GetTrafficPolicy() != nil || slices.ContainsFunc(spec.GetSubsets(), func(s *networking.Subset) bool { return s.GetTrafficPolicy() != nil })
}

// subsetPath matches the subset index a field path of a spec starts with.
var subsetPath = regexp.MustCompile(`^spec\.subsets\[(\d+)\]`)

// mergedViolations reports FW101 for the failover settings the merged rule
// leaves without outlier detection where their own rule does not.
func (j *judgment) mergedViolations(h host, svc *corev1.Service, w types.NamespacedName, res consolidate.Result) {
	if res.Spec == nil || len(res.From) < 2 {
		return
	}
	target := validate.Target{Namespace: res.From[0].Namespace, Service: svc, ServiceKey: h.service, Waypoint: w}
	view := consolidate.View{Spec: res.Spec, From: res.From, PolicyFrom: res.PolicyFrom}
	for _, v := range validate.EvaluateFor(res.Spec, field.NewPath("spec"), target).Violations {
		if v.Rule != rules.FailoverWithoutOutlierDetection {
			continue
		}
		origin, path, msg := fromRule(view, v.Field, v.Message)
		if origin.Name == "" || ownViolation(origin, path, h, svc, w) {
			continue
		}
		j.add(origin, rules.FailoverWithoutOutlierDetection, path, policy.Error, fmt.Sprintf(
			"after Istio merges the DestinationRules of host %s (%s, in this order; the top-level trafficPolicy is %s): %s",
			h.host, names(res.From), policySource(view), msg))
	}
}

// twoViewViolations reports FW101 where a rule whose workloadSelector
// selects the waypoint's pods gives its endpoints failover priorities
// (res.Endpoints) while the waypoint's clusters, built from the rules
// without a selector (res.Spec), lack outlier detection: Istio reads the
// first for outbound traffic in NewEndpointBuilder and the second for
// inbound traffic in buildWaypointInboundVIP (SidecarScope.DestinationRule).
// The finding is on the rule declaring the failover and names both.
func (j *judgment) twoViewViolations(h host, svc *corev1.Service, w types.NamespacedName, res consolidate.Result) {
	ep := res.Endpoints
	target := validate.Target{Namespace: ep.From[0].Namespace, Service: svc, ServiceKey: h.service, Waypoint: w}
	clusters := "no DestinationRule (Istio's defaults: no outlier detection)"
	if res.Spec != nil {
		clusters = fmt.Sprintf("%s (top-level trafficPolicy: %s)", names(res.From), policySource(consolidate.View{Spec: res.Spec, From: res.From, PolicyFrom: res.PolicyFrom}))
	}
	for _, v := range validate.EvaluateWaypoint(res.Spec, ep.Spec, field.NewPath("spec"), target).Violations {
		if v.Rule != rules.FailoverWithoutOutlierDetection {
			continue
		}
		origin, path, msg := fromRule(ep, v.Field, v.Message)
		if origin.Name == "" || ownViolation(origin, path, h, svc, w) {
			continue
		}
		j.add(origin, rules.FailoverWithoutOutlierDetection, path, policy.Error, fmt.Sprintf(
			"for host %s a waypoint in namespace %s takes its endpoints' failover priorities from %s, whose workloadSelector selects its pods (top-level trafficPolicy: %s), "+
				"but builds its clusters, and their outlier detection, from %s, as Istio reads rules with a selector for endpoints only (SidecarScope.DestinationRule): %s; "+
				"put the outlier detection in the rule without a workloadSelector, or the failover there too",
			h.host, w.Namespace, names(ep.From), policySource(ep), clusters, msg))
	}
}

// failoverNotOnEndpoints reports FW112 for each locality load balancer
// of the rules the waypoint builds its clusters from while its endpoints
// read a selector rule: the priorities of those endpoints come from the
// selector rule only (NewEndpointBuilder reads one DestinationRule for
// outbound traffic), so that load balancer's failover never applies.
func (j *judgment) failoverNotOnEndpoints(h, proxyNS string, res consolidate.Result) {
	ep := res.Endpoints
	for _, r := range res.From {
		if contains(ep.From, r) {
			continue
		}
		type lb struct {
			path string
			lb   *networking.LoadBalancerSettings
		}
		lbs := []lb{{"spec.trafficPolicy.loadBalancer", r.Spec.GetTrafficPolicy().GetLoadBalancer()}}
		for i, sub := range r.Spec.GetSubsets() {
			lbs = append(lbs, lb{fmt.Sprintf("spec.subsets[%d].trafficPolicy.loadBalancer", i), sub.GetTrafficPolicy().GetLoadBalancer()})
		}
		for _, l := range lbs {
			if l.lb.GetLocalityLbSetting() == nil {
				continue
			}
			j.add(r, rules.RuleShadowed, l.path, policy.Warning, fmt.Sprintf(
				"a waypoint in namespace %s builds its clusters for host %s from this rule but takes its endpoints' load balancing, and so their failover priorities, from %s, whose workloadSelector selects its pods (SidecarScope.DestinationRule, outbound, in NewEndpointBuilder): this localityLbSetting does not apply to them",
				proxyNS, h, names(ep.From)))
		}
	}
}

func contains(rs []consolidate.Rule, r consolidate.Rule) bool {
	return slices.ContainsFunc(rs, func(x consolidate.Rule) bool { return x.Namespace == r.Namespace && x.Name == r.Name })
}

// fromRule maps a violation at path, with message msg, in the merged spec
// of view to the rule it comes from and the path there: a subset's rule,
// else the rule of the top-level trafficPolicy.
func fromRule(view consolidate.View, path, msg string) (consolidate.Rule, string, string) {
	m := subsetPath.FindStringSubmatch(path)
	if m == nil {
		return view.PolicyFrom, path, msg
	}
	i, _ := strconv.Atoi(m[1])
	origin, at := subsetOrigin(view, view.Spec.GetSubsets()[i])
	from := fmt.Sprintf("spec.subsets[%d]", i)
	to := fmt.Sprintf("spec.subsets[%d]", at)
	return origin, strings.Replace(path, from, to, 1), strings.ReplaceAll(msg, from+".", to+".")
}

// subsetOrigin returns the rule a merged subset comes from and its index
// there.
func subsetOrigin(view consolidate.View, s *networking.Subset) (consolidate.Rule, int) {
	for _, r := range view.From {
		if i := slices.Index(r.Spec.GetSubsets(), s); i >= 0 {
			return r, i
		}
	}
	return consolidate.Rule{}, 0
}

// ownViolation reports whether r alone already violates at path, which
// the rule's own finding reports.
func ownViolation(r consolidate.Rule, path string, h host, svc *corev1.Service, w types.NamespacedName) bool {
	t := validate.Target{Namespace: r.Namespace, Service: svc, ServiceKey: h.service, Waypoint: w}
	return slices.ContainsFunc(validate.EvaluateFor(r.Spec, field.NewPath("spec"), t).Violations, func(v verdict.Entry) bool {
		return v.Rule == rules.FailoverWithoutOutlierDetection && v.Field == path
	})
}

func names(rs []consolidate.Rule) string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.String()
	}
	return strings.Join(out, ", ")
}

func policySource(v consolidate.View) string {
	if v.PolicyFrom.Name == "" {
		return "none"
	}
	return v.PolicyFrom.String() + "'s"
}
