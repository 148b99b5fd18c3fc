package manifests_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	admv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/failover-webhook/failover-webhook/pkg/keys"
	"github.com/failover-webhook/failover-webhook/pkg/mode"
)

// What manifests/default installs, and where.
const (
	installNamespace = "failover-webhook-system"
	namePrefix       = "failover-webhook-"

	appNameLabel = "app.kubernetes.io/name"
	appName      = "failover-webhook"

	namespaceNameLabel = "kubernetes.io/metadata.name"

	mutatingConfigName   = "mutating-webhook-configuration"
	validatingConfigName = "validating-webhook-configuration"
	mutatingWebhookName  = "mservice.failover-webhook.io"
	validatingWebhook    = "vdestinationrule.failover-webhook.io"
	mutatePath           = "/mutate-service"
	validatePath         = "/validate-destinationrule"

	webhookServiceName = "webhook-service"
	deploymentName     = "controller-manager"
	serviceAccountName = "controller-manager"
	servingCertName    = "serving-cert"
	managerContainer   = "manager"
)

// object is one rendered document, with the identity kustomize gave it.
type object struct {
	APIVersion, Kind, Namespace, Name string
	YAML                              []byte
}

func (o object) id() string {
	if o.Namespace == "" {
		return o.Kind + "/" + o.Name
	}
	return o.Kind + "/" + o.Namespace + "/" + o.Name
}

type rendering []object

// render builds a kustomization directory the way `kustomize build` does.
func render(dir string) (rendering, error) {
	resMap, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	var r rendering
	for _, res := range resMap.Resources() {
		b, err := res.AsYAML()
		if err != nil {
			return nil, fmt.Errorf("serializing %s: %w", res.CurId(), err)
		}
		r = append(r, object{
			APIVersion: res.GetApiVersion(),
			Kind:       res.GetKind(),
			Namespace:  res.GetNamespace(),
			Name:       res.GetName(),
			YAML:       b,
		})
	}
	return r, nil
}

var renderDefault = sync.OnceValues(func() (rendering, error) { return render("default") })

func defaultRendering(t *testing.T) rendering {
	t.Helper()
	r, err := renderDefault()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (r rendering) ids() []string {
	var ids []string
	for _, o := range r {
		ids = append(ids, o.id())
	}
	sort.Strings(ids)
	return ids
}

func (r rendering) ofKind(kind string) []object {
	var out []object
	for _, o := range r {
		if o.Kind == kind {
			out = append(out, o)
		}
	}
	return out
}

// get decodes the rendered object of this kind and name into T, rejecting
// fields T does not have and duplicated fields.
func get[T any](t *testing.T, r rendering, kind, name string) *T {
	t.Helper()
	for _, o := range r {
		if o.Kind == kind && o.Name == name {
			return decode[T](t, o)
		}
	}
	t.Fatalf("no %s named %q was rendered; rendered: %v", kind, name, r.ids())
	return nil
}

func decode[T any](t *testing.T, o object) *T {
	t.Helper()
	j, err := yaml.YAMLToJSONStrict(o.YAML)
	if err != nil {
		t.Fatalf("converting %s to JSON: %v\n%s", o.id(), err, o.YAML)
	}
	// Decode as the API server does: field names are case-sensitive, so a
	// miscased field is reported as unknown rather than silently accepted.
	out := new(T)
	strictErrs, err := sigsjson.UnmarshalStrict(j, out)
	if err != nil {
		t.Fatalf("decoding %s: %v\n%s", o.id(), err, o.YAML)
	}
	if len(strictErrs) > 0 {
		t.Fatalf("decoding %s: %v\n%s", o.id(), errors.Join(strictErrs...), o.YAML)
	}
	return out
}

// all decodes every rendered object of this kind.
func all[T any](t *testing.T, r rendering, kind string) []*T {
	t.Helper()
	var out []*T
	for _, o := range r.ofKind(kind) {
		out = append(out, decode[T](t, o))
	}
	return out
}

// kinds maps every kind the manifests may contain to its API version and
// typed struct; a kind missing here fails TestEveryObjectDecodesIntoItsTypedStruct.
var kinds = map[string]struct {
	apiVersion    string
	clusterScoped bool
	decode        func(*testing.T, object)
}{
	"Namespace":                        {"v1", true, func(t *testing.T, o object) { decode[corev1.Namespace](t, o) }},
	"ServiceAccount":                   {"v1", false, func(t *testing.T, o object) { decode[corev1.ServiceAccount](t, o) }},
	"Service":                          {"v1", false, func(t *testing.T, o object) { decode[corev1.Service](t, o) }},
	"Deployment":                       {"apps/v1", false, func(t *testing.T, o object) { decode[appsv1.Deployment](t, o) }},
	"PodDisruptionBudget":              {"policy/v1", false, func(t *testing.T, o object) { decode[policyv1.PodDisruptionBudget](t, o) }},
	"ClusterRole":                      {"rbac.authorization.k8s.io/v1", true, func(t *testing.T, o object) { decode[rbacv1.ClusterRole](t, o) }},
	"ClusterRoleBinding":               {"rbac.authorization.k8s.io/v1", true, func(t *testing.T, o object) { decode[rbacv1.ClusterRoleBinding](t, o) }},
	"Role":                             {"rbac.authorization.k8s.io/v1", false, func(t *testing.T, o object) { decode[rbacv1.Role](t, o) }},
	"RoleBinding":                      {"rbac.authorization.k8s.io/v1", false, func(t *testing.T, o object) { decode[rbacv1.RoleBinding](t, o) }},
	"NetworkPolicy":                    {"networking.k8s.io/v1", false, func(t *testing.T, o object) { decode[networkingv1.NetworkPolicy](t, o) }},
	"PriorityClass":                    {"scheduling.k8s.io/v1", true, func(t *testing.T, o object) { decode[schedulingv1.PriorityClass](t, o) }},
	"Secret":                           {"v1", false, func(t *testing.T, o object) { decode[corev1.Secret](t, o) }},
	"ValidatingAdmissionPolicy":        {"admissionregistration.k8s.io/v1", true, func(t *testing.T, o object) { decode[admv1.ValidatingAdmissionPolicy](t, o) }},
	"ValidatingAdmissionPolicyBinding": {"admissionregistration.k8s.io/v1", true, func(t *testing.T, o object) { decode[admv1.ValidatingAdmissionPolicyBinding](t, o) }},
	"MutatingWebhookConfiguration":     {"admissionregistration.k8s.io/v1", true, func(t *testing.T, o object) { decode[admv1.MutatingWebhookConfiguration](t, o) }},
	"ValidatingWebhookConfiguration":   {"admissionregistration.k8s.io/v1", true, func(t *testing.T, o object) { decode[admv1.ValidatingWebhookConfiguration](t, o) }},
	"Issuer":                           {"cert-manager.io/v1", false, func(t *testing.T, o object) { decode[cmapi.Issuer](t, o) }},
	"Certificate":                      {"cert-manager.io/v1", false, func(t *testing.T, o object) { decode[cmapi.Certificate](t, o) }},
}

// commonObjects are the objects every overlay installs, by id.
func commonObjects() []string {
	p := namePrefix
	ns := installNamespace
	return []string{
		"Namespace/" + ns,
		"Deployment/" + ns + "/" + p + "controller-manager",
		"PodDisruptionBudget/" + ns + "/" + p + "controller-manager",
		"PriorityClass/" + p + "critical",
		"ServiceAccount/" + ns + "/" + p + "controller-manager",
		"ClusterRole/" + p + "manager-role",
		"ClusterRoleBinding/" + p + "manager-rolebinding",
		"ClusterRole/" + p + "metrics-auth-role",
		"ClusterRoleBinding/" + p + "metrics-auth-rolebinding",
		"ClusterRole/" + p + "metrics-reader",
		"MutatingWebhookConfiguration/" + p + mutatingConfigName,
		"ValidatingWebhookConfiguration/" + p + validatingConfigName,
		"Service/" + ns + "/" + p + "webhook-service",
		"NetworkPolicy/" + ns + "/" + p + "allow-webhook-traffic",
	}
}

func TestDefaultOverlayRendersExactlyTheseObjects(t *testing.T) {
	p := namePrefix
	ns := installNamespace
	checkRendersExactly(t, defaultRendering(t), append(commonObjects(),
		"Issuer/"+ns+"/"+p+"selfsigned-issuer",
		"Certificate/"+ns+"/"+p+"ca",
		"Issuer/"+ns+"/"+p+"ca-issuer",
		"Certificate/"+ns+"/"+p+"serving-cert",
	))
}

func checkRendersExactly(t *testing.T, r rendering, want []string) {
	t.Helper()
	sort.Strings(want)
	if got := r.ids(); !slices.Equal(got, want) {
		t.Errorf("rendered objects:\n got %v\nwant %v", got, want)
	}
}

func TestEveryObjectDecodesIntoItsTypedStruct(t *testing.T) {
	checkDecodes(t, defaultRendering(t))
}

// checkDecodes decodes every object of r into its typed struct.
func checkDecodes(t *testing.T, r rendering) {
	for _, o := range r {
		t.Run(o.id(), func(t *testing.T) {
			k, ok := kinds[o.Kind]
			if !ok {
				t.Fatalf("kind %s has no typed check in this test", o.Kind)
			}
			if o.APIVersion != k.apiVersion {
				t.Errorf("apiVersion = %q, want %q", o.APIVersion, k.apiVersion)
			}
			k.decode(t, o)
		})
	}
}

func TestEveryObjectIsPrefixedLabelledAndInTheInstallNamespace(t *testing.T) {
	checkPlacement(t, defaultRendering(t), installNamespace, namePrefix)
}

// checkPlacement asserts that namespaced objects are in ns, cluster-scoped
// ones carry no namespace, every name (but the Namespace's) has the prefix
// and every object carries the app label.
func checkPlacement(t *testing.T, r rendering, ns, prefix string) {
	t.Helper()
	for _, o := range r {
		k, ok := kinds[o.Kind]
		if !ok {
			t.Errorf("%s: unknown kind", o.id())
			continue
		}
		switch {
		case k.clusterScoped && o.Namespace != "":
			t.Errorf("%s is cluster-scoped but has namespace %q", o.id(), o.Namespace)
		case !k.clusterScoped && o.Namespace != ns:
			t.Errorf("%s is in namespace %q, want %q", o.id(), o.Namespace, ns)
		}
		if o.Kind == "Namespace" {
			if o.Name != ns {
				t.Errorf("Namespace is named %q, want %q", o.Name, ns)
			}
		} else if !strings.HasPrefix(o.Name, prefix) {
			t.Errorf("%s: name lacks prefix %q", o.id(), prefix)
		}
		var meta metav1.PartialObjectMetadata
		if err := yaml.Unmarshal(o.YAML, &meta); err != nil {
			t.Fatalf("%s: %v", o.id(), err)
		}
		if got := meta.Labels[appNameLabel]; got != appName {
			t.Errorf("%s: label %s = %q, want %q", o.id(), appNameLabel, got, appName)
		}
	}
}

func TestNamespace(t *testing.T) {
	ns := get[corev1.Namespace](t, defaultRendering(t), "Namespace", installNamespace)
	for key, want := range map[string]string{
		keys.Enforcement: string(mode.Off),
		"control-plane":  "controller-manager",
		appNameLabel:     appName,
	} {
		t.Run("is labelled "+key+"="+want, func(t *testing.T) {
			if got, ok := ns.Labels[key]; !ok || got != want {
				t.Errorf("label %s = %q (present: %v), want %q", key, got, ok, want)
			}
		})
	}
	t.Run("is read by the webhook as mode off", func(t *testing.T) {
		if m, warning := mode.FromLabels(ns.Labels); m != mode.Off || warning != "" {
			t.Errorf("mode.FromLabels = %q, %q; want %q with no warning", m, warning, mode.Off)
		}
	})
}

// webhook flattens the fields shared by mutating and validating webhooks.
type webhook struct {
	Config                  string
	Annotations             map[string]string
	Name                    string
	ClientConfig            admv1.WebhookClientConfig
	Rules                   []admv1.RuleWithOperations
	FailurePolicy           *admv1.FailurePolicyType
	MatchPolicy             *admv1.MatchPolicyType
	SideEffects             *admv1.SideEffectClass
	TimeoutSeconds          *int32
	AdmissionReviewVersions []string
	NamespaceSelector       *metav1.LabelSelector
	ObjectSelector          *metav1.LabelSelector
	ReinvocationPolicy      *admv1.ReinvocationPolicyType
}

func mutatingWebhooks(c *admv1.MutatingWebhookConfiguration) []webhook {
	var out []webhook
	for _, w := range c.Webhooks {
		out = append(out, webhook{
			Config: c.Name, Annotations: c.Annotations, Name: w.Name, ClientConfig: w.ClientConfig,
			Rules: w.Rules, FailurePolicy: w.FailurePolicy, MatchPolicy: w.MatchPolicy,
			SideEffects: w.SideEffects, TimeoutSeconds: w.TimeoutSeconds,
			AdmissionReviewVersions: w.AdmissionReviewVersions,
			NamespaceSelector:       w.NamespaceSelector, ObjectSelector: w.ObjectSelector,
			ReinvocationPolicy: w.ReinvocationPolicy,
		})
	}
	return out
}

func validatingWebhooks(c *admv1.ValidatingWebhookConfiguration) []webhook {
	var out []webhook
	for _, w := range c.Webhooks {
		out = append(out, webhook{
			Config: c.Name, Annotations: c.Annotations, Name: w.Name, ClientConfig: w.ClientConfig,
			Rules: w.Rules, FailurePolicy: w.FailurePolicy, MatchPolicy: w.MatchPolicy,
			SideEffects: w.SideEffects, TimeoutSeconds: w.TimeoutSeconds,
			AdmissionReviewVersions: w.AdmissionReviewVersions,
			NamespaceSelector:       w.NamespaceSelector, ObjectSelector: w.ObjectSelector,
		})
	}
	return out
}

// webhookSpec is what each webhook must look like, whatever reads the files.
type webhookSpec struct {
	kind, config, name, path string
	rule                     admv1.RuleWithOperations
	objectSelector           *metav1.LabelSelector
	reinvocation             *admv1.ReinvocationPolicyType
}

func ptr[T any](v T) *T { return &v }

var webhookSpecs = []webhookSpec{
	{
		kind:   "MutatingWebhookConfiguration",
		config: mutatingConfigName,
		name:   mutatingWebhookName,
		path:   mutatePath,
		rule: admv1.RuleWithOperations{
			Operations: []admv1.OperationType{admv1.Create, admv1.Update},
			Rule: admv1.Rule{
				APIGroups:   []string{""},
				APIVersions: []string{"v1"},
				Resources:   []string{"services"},
			},
		},
		objectSelector: &metav1.LabelSelector{MatchLabels: map[string]string{keys.Trigger: keys.TriggerValue}},
		reinvocation:   ptr(admv1.IfNeededReinvocationPolicy),
	},
	{
		kind:   "ValidatingWebhookConfiguration",
		config: validatingConfigName,
		name:   validatingWebhook,
		path:   validatePath,
		rule: admv1.RuleWithOperations{
			Operations: []admv1.OperationType{admv1.Create, admv1.Update},
			Rule: admv1.Rule{
				APIGroups:   []string{"networking.istio.io"},
				APIVersions: []string{"v1", "v1beta1", "v1alpha3"},
				Resources:   []string{"destinationrules"},
			},
		},
	},
}

func wantNamespaceSelector(ownNamespace string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		{Key: namespaceNameLabel, Operator: metav1.LabelSelectorOpNotIn, Values: []string{"kube-system", ownNamespace}},
		{Key: keys.Enforcement, Operator: metav1.LabelSelectorOpNotIn, Values: []string{string(mode.Off)}},
	}}
}

// checkWebhookBehaviour asserts everything about a webhook that does not
// depend on how it is reached: names, rules, policies and selectors.
func checkWebhookBehaviour(t *testing.T, spec webhookSpec, w webhook, ownNamespace string) {
	t.Run("is named "+spec.name, func(t *testing.T) {
		if w.Name != spec.name {
			t.Errorf("name = %q, want %q", w.Name, spec.name)
		}
	})
	t.Run("accepts only admission.k8s.io/v1 reviews", func(t *testing.T) {
		if !slices.Equal(w.AdmissionReviewVersions, []string{"v1"}) {
			t.Errorf("admissionReviewVersions = %v, want [v1]", w.AdmissionReviewVersions)
		}
	})
	t.Run("declares no side effects", func(t *testing.T) {
		if w.SideEffects == nil || *w.SideEffects != admv1.SideEffectClassNone {
			t.Errorf("sideEffects = %v, want None", deref(w.SideEffects))
		}
	})
	t.Run("matches equivalent API versions", func(t *testing.T) {
		if w.MatchPolicy == nil || *w.MatchPolicy != admv1.Equivalent {
			t.Errorf("matchPolicy = %v, want Equivalent", deref(w.MatchPolicy))
		}
	})
	t.Run("times out after 5 seconds", func(t *testing.T) {
		if w.TimeoutSeconds == nil || *w.TimeoutSeconds != 5 {
			t.Errorf("timeoutSeconds = %v, want 5", deref(w.TimeoutSeconds))
		}
	})
	t.Run("fails closed", func(t *testing.T) {
		if w.FailurePolicy == nil || *w.FailurePolicy != admv1.Fail {
			t.Errorf("failurePolicy = %v, want Fail", deref(w.FailurePolicy))
		}
	})
	t.Run("has the expected reinvocation policy", func(t *testing.T) {
		if !reflect.DeepEqual(w.ReinvocationPolicy, spec.reinvocation) {
			t.Errorf("reinvocationPolicy = %v, want %v", deref(w.ReinvocationPolicy), deref(spec.reinvocation))
		}
	})
	t.Run("intercepts exactly the expected resources, versions and operations", func(t *testing.T) {
		if !reflect.DeepEqual(w.Rules, []admv1.RuleWithOperations{spec.rule}) {
			t.Errorf("rules = %+v, want [%+v]", w.Rules, spec.rule)
		}
	})
	t.Run("does not intercept DELETE", func(t *testing.T) {
		for _, r := range w.Rules {
			for _, op := range r.Operations {
				if op == admv1.Delete || op == admv1.OperationAll {
					t.Errorf("rule %+v intercepts %s", r, op)
				}
			}
		}
	})
	t.Run("has the expected object selector", func(t *testing.T) {
		got := w.ObjectSelector
		if got != nil && reflect.DeepEqual(*got, metav1.LabelSelector{}) {
			got = nil // an empty selector matches everything, like no selector
		}
		if !reflect.DeepEqual(got, spec.objectSelector) {
			t.Errorf("objectSelector = %+v, want %+v", got, spec.objectSelector)
		}
	})
	t.Run("has exactly the expected namespace selector", func(t *testing.T) {
		if want := wantNamespaceSelector(ownNamespace); !reflect.DeepEqual(w.NamespaceSelector, want) {
			t.Errorf("namespaceSelector = %+v, want %+v", w.NamespaceSelector, want)
		}
	})
	// The API server adds kubernetes.io/metadata.name to every namespace.
	for _, c := range []struct {
		desc   string
		labels map[string]string
		want   bool
	}{
		{"skips kube-system", map[string]string{namespaceNameLabel: "kube-system"}, false},
		{"skips its own namespace", map[string]string{namespaceNameLabel: ownNamespace}, false},
		{"skips namespaces with enforcement off", map[string]string{namespaceNameLabel: "shop", keys.Enforcement: string(mode.Off)}, false},
		{"covers unlabelled namespaces", map[string]string{namespaceNameLabel: "shop"}, true},
		{"covers namespaces in warn mode", map[string]string{namespaceNameLabel: "shop", keys.Enforcement: string(mode.Warn)}, true},
		{"covers namespaces in audit mode", map[string]string{namespaceNameLabel: "shop", keys.Enforcement: string(mode.Audit)}, true},
		{"covers namespaces in enforce mode", map[string]string{namespaceNameLabel: "shop", keys.Enforcement: string(mode.Enforce)}, true},
	} {
		t.Run(c.desc, func(t *testing.T) {
			if got := selects(t, w.NamespaceSelector, c.labels); got != c.want {
				t.Errorf("namespaceSelector matches %v = %v, want %v", c.labels, got, c.want)
			}
		})
	}
	if spec.objectSelector != nil {
		t.Run("reaches only Services labelled "+keys.Trigger+"="+keys.TriggerValue, func(t *testing.T) {
			if !selects(t, w.ObjectSelector, map[string]string{keys.Trigger: keys.TriggerValue, "app": "x"}) {
				t.Error("objectSelector does not match an opted-in Service")
			}
			for _, l := range []map[string]string{{}, {keys.Trigger: "local"}, {"app": "x"}} {
				if selects(t, w.ObjectSelector, l) {
					t.Errorf("objectSelector matches %v", l)
				}
			}
		})
	}
}

func deref[T any](p *T) any {
	if p == nil {
		return "<unset>"
	}
	return *p
}

// selects reports whether a label selector, as the API server reads it,
// matches an object with these labels. A nil selector matches everything.
func selects(t *testing.T, sel *metav1.LabelSelector, l map[string]string) bool {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Fatalf("invalid selector %+v: %v", sel, err)
	}
	if sel == nil {
		return true
	}
	return s.Matches(labels.Set(l))
}

// renderedWebhooks returns the webhooks of the one configuration of kind.
func renderedWebhooks(t *testing.T, r rendering, spec webhookSpec, prefix string) []webhook {
	t.Helper()
	switch spec.kind {
	case "MutatingWebhookConfiguration":
		return mutatingWebhooks(get[admv1.MutatingWebhookConfiguration](t, r, spec.kind, prefix+spec.config))
	case "ValidatingWebhookConfiguration":
		return validatingWebhooks(get[admv1.ValidatingWebhookConfiguration](t, r, spec.kind, prefix+spec.config))
	}
	t.Fatalf("unknown kind %s", spec.kind)
	return nil
}

func TestWebhookConfigurations(t *testing.T) {
	r := defaultRendering(t)
	for _, kind := range []string{"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"} {
		if n := len(r.ofKind(kind)); n != 1 {
			t.Errorf("rendered %d %s objects, want 1", n, kind)
		}
	}
	for _, spec := range webhookSpecs {
		t.Run(spec.kind, func(t *testing.T) {
			hooks := renderedWebhooks(t, r, spec, namePrefix)
			if len(hooks) != 1 {
				t.Fatalf("%s has %d webhooks, want 1", spec.config, len(hooks))
			}
			checkWebhookBehaviour(t, spec, hooks[0], installNamespace)
			checkWebhookWiring(t, r, spec, hooks[0], installNamespace)
		})
	}
}

// checkWebhookWiring asserts that a rendered webhook reaches the rendered
// Service and trusts the CA of the rendered serving Certificate.
func checkWebhookWiring(t *testing.T, r rendering, spec webhookSpec, w webhook, ns string) {
	checkWebhookCallsTheService(t, r, spec, w, ns)
	cert := servingCertificate(t, r)
	t.Run("gets its CA bundle injected from the serving Certificate", func(t *testing.T) {
		const key = "cert-manager.io/inject-ca-from"
		want := cert.Namespace + "/" + cert.Name
		if got := w.Annotations[key]; got != want {
			t.Errorf("%s = %q, want %q", key, got, want)
		}
		if cert.Namespace != ns {
			t.Errorf("serving Certificate is in %q, want %q", cert.Namespace, ns)
		}
		if len(w.ClientConfig.CABundle) != 0 {
			t.Error("clientConfig.caBundle is set in the manifests; cert-manager must inject it")
		}
	})
}

// checkWebhookCallsTheService asserts that a rendered webhook reaches the
// rendered Service on the webhook's path.
func checkWebhookCallsTheService(t *testing.T, r rendering, spec webhookSpec, w webhook, ns string) {
	svc := webhookService(t, r)
	t.Run("calls "+spec.path+" on the rendered webhook Service on port 443", func(t *testing.T) {
		s := w.ClientConfig.Service
		if s == nil {
			t.Fatalf("clientConfig.service is unset (url %v)", deref(w.ClientConfig.URL))
		}
		if w.ClientConfig.URL != nil {
			t.Errorf("clientConfig.url = %q, want unset", *w.ClientConfig.URL)
		}
		if s.Name != svc.Name || s.Namespace != svc.Namespace || s.Namespace != ns {
			t.Errorf("clientConfig.service = %s/%s, want %s/%s in %s", s.Namespace, s.Name, svc.Namespace, svc.Name, ns)
		}
		if s.Path == nil || *s.Path != spec.path {
			t.Errorf("clientConfig.service.path = %v, want %s", deref(s.Path), spec.path)
		}
		if s.Port == nil || *s.Port != 443 {
			t.Errorf("clientConfig.service.port = %v, want 443", deref(s.Port))
		}
		if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Port == 443 }) {
			t.Errorf("Service %s exposes %+v, not port 443", svc.Name, svc.Spec.Ports)
		}
	})
}

func webhookService(t *testing.T, r rendering) *corev1.Service {
	t.Helper()
	return get[corev1.Service](t, r, "Service", namePrefixOf(r)+webhookServiceName)
}

func servingCertificate(t *testing.T, r rendering) *cmapi.Certificate {
	t.Helper()
	return get[cmapi.Certificate](t, r, "Certificate", namePrefixOf(r)+servingCertName)
}

// namePrefixOf recovers the name prefix from the rendered Deployment, so
// the same checks run on a rendering with another prefix.
func namePrefixOf(r rendering) string {
	for _, o := range r {
		if o.Kind == "Deployment" && strings.HasSuffix(o.Name, deploymentName) {
			return strings.TrimSuffix(o.Name, deploymentName)
		}
	}
	return namePrefix
}

func TestCertificateChain(t *testing.T) {
	r := defaultRendering(t)
	svc := webhookService(t, r)
	serving := servingCertificate(t, r)

	t.Run("the serving certificate names the rendered webhook Service", func(t *testing.T) {
		want := []string{
			svc.Name + "." + svc.Namespace + ".svc",
			svc.Name + "." + svc.Namespace + ".svc.cluster.local",
		}
		if !slices.Equal(serving.Spec.DNSNames, want) {
			t.Errorf("dnsNames = %v, want %v", serving.Spec.DNSNames, want)
		}
	})
	t.Run("the serving certificate is written to the prefixed Secret", func(t *testing.T) {
		if want := namePrefix + "webhook-server-cert"; serving.Spec.SecretName != want {
			t.Errorf("secretName = %q, want %q", serving.Spec.SecretName, want)
		}
	})

	caIssuer := issuerFor(t, r, serving)
	t.Run("the serving certificate is signed by a CA issuer", func(t *testing.T) {
		if caIssuer.Spec.CA == nil {
			t.Fatalf("Issuer %s is not a CA issuer: %+v", caIssuer.Name, caIssuer.Spec)
		}
	})
	if caIssuer.Spec.CA == nil {
		return
	}

	ca := certificateWithSecret(t, r, caIssuer.Spec.CA.SecretName)
	t.Run("the CA issuer reads the Secret of a CA certificate", func(t *testing.T) {
		if !ca.Spec.IsCA {
			t.Errorf("Certificate %s is not a CA", ca.Name)
		}
		if ca.Spec.CommonName != "failover-webhook-ca" {
			t.Errorf("CA commonName = %q, want failover-webhook-ca", ca.Spec.CommonName)
		}
		if ca.Spec.SecretName == serving.Spec.SecretName {
			t.Errorf("CA and serving certificate share Secret %q", ca.Spec.SecretName)
		}
	})
	t.Run("the CA certificate is self-signed", func(t *testing.T) {
		if root := issuerFor(t, r, ca); root.Spec.SelfSigned == nil {
			t.Errorf("Issuer %s of the CA is not selfSigned: %+v", root.Name, root.Spec)
		}
	})
	for _, c := range []*cmapi.Certificate{ca, serving} {
		t.Run("certificate "+c.Name+" uses an ECDSA P-256 key", func(t *testing.T) {
			pk := c.Spec.PrivateKey
			if pk == nil || pk.Algorithm != cmapi.ECDSAKeyAlgorithm || pk.Size != 256 {
				t.Errorf("privateKey = %+v, want ECDSA 256", pk)
			}
		})
		t.Run("certificate "+c.Name+" is in the install namespace", func(t *testing.T) {
			if c.Namespace != installNamespace {
				t.Errorf("namespace = %q, want %q", c.Namespace, installNamespace)
			}
		})
	}
}

// issuerFor returns the rendered namespaced Issuer a Certificate refers to.
func issuerFor(t *testing.T, r rendering, c *cmapi.Certificate) *cmapi.Issuer {
	t.Helper()
	ref := c.Spec.IssuerRef
	if ref.Kind != "" && ref.Kind != "Issuer" || ref.Group != "" && ref.Group != "cert-manager.io" {
		t.Fatalf("Certificate %s refers to %s.%s %s, want a cert-manager.io Issuer", c.Name, ref.Kind, ref.Group, ref.Name)
	}
	iss := get[cmapi.Issuer](t, r, "Issuer", ref.Name)
	if iss.Namespace != c.Namespace {
		t.Fatalf("Issuer %s is in %q, Certificate %s in %q", iss.Name, iss.Namespace, c.Name, c.Namespace)
	}
	return iss
}

func certificateWithSecret(t *testing.T, r rendering, secret string) *cmapi.Certificate {
	t.Helper()
	for _, c := range all[cmapi.Certificate](t, r, "Certificate") {
		if c.Spec.SecretName == secret {
			return c
		}
	}
	t.Fatalf("no Certificate writes Secret %q", secret)
	return nil
}

func managerDeployment(t *testing.T, r rendering) (*appsv1.Deployment, *corev1.Container) {
	t.Helper()
	d := get[appsv1.Deployment](t, r, "Deployment", namePrefix+deploymentName)
	for i := range d.Spec.Template.Spec.Containers {
		if c := &d.Spec.Template.Spec.Containers[i]; c.Name == managerContainer {
			return d, c
		}
	}
	t.Fatalf("Deployment %s has no container %q", d.Name, managerContainer)
	return nil, nil
}

// flagValue returns the value of --name=value in args.
func flagValue(args []string, name string) (string, bool) {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}

func TestDeployment(t *testing.T) {
	r := defaultRendering(t)
	d, c := managerDeployment(t, r)
	pod := d.Spec.Template.Spec

	t.Run("runs at least two replicas", func(t *testing.T) {
		if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
			t.Errorf("replicas = %v, want >= 2", deref(d.Spec.Replicas))
		}
	})
	t.Run("selects its own pods", func(t *testing.T) {
		if d.Spec.Selector == nil || len(d.Spec.Selector.MatchLabels)+len(d.Spec.Selector.MatchExpressions) == 0 {
			t.Fatal("Deployment has an empty selector")
		}
		if !selects(t, d.Spec.Selector, d.Spec.Template.Labels) {
			t.Errorf("selector %+v does not match pod labels %v", d.Spec.Selector, d.Spec.Template.Labels)
		}
	})
	t.Run("runs the placeholder image", func(t *testing.T) {
		if c.Image != "failover-webhook:latest" {
			t.Errorf("image = %q, want failover-webhook:latest", c.Image)
		}
	})
	t.Run("starts webhook serve with the expected flags", func(t *testing.T) {
		want := []string{
			"serve",
			"--port=9443",
			"--cert-dir=/tmp/k8s-webhook-server/serving-certs",
			"--metrics-bind-address=:8080",
			"--metrics-secure",
			"--health-probe-bind-address=:8081",
			"--shutdown-delay=5s",
		}
		if !slices.Equal(c.Args, want) {
			t.Errorf("args = %q, want %q", c.Args, want)
		}
	})
	t.Run("declares the webhook, metrics and health ports", func(t *testing.T) {
		got := map[string]int32{}
		for _, p := range c.Ports {
			if p.Protocol != "" && p.Protocol != corev1.ProtocolTCP {
				t.Errorf("port %s uses %s", p.Name, p.Protocol)
			}
			got[p.Name] = p.ContainerPort
		}
		want := map[string]int32{"webhook-server": 9443, "metrics": 8080, "health": 8081}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("ports = %v, want %v", got, want)
		}
		for flag, port := range map[string]string{"port": "9443", "metrics-bind-address": ":8080", "health-probe-bind-address": ":8081"} {
			if v, _ := flagValue(c.Args, flag); v != port {
				t.Errorf("--%s = %q does not match the declared port %s", flag, v, port)
			}
		}
	})
	t.Run("probes /healthz and /readyz on the health port", func(t *testing.T) {
		for _, p := range []struct {
			name  string
			probe *corev1.Probe
			path  string
		}{{"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}} {
			if p.probe == nil || p.probe.HTTPGet == nil {
				t.Errorf("%s probe is not an HTTP GET: %+v", p.name, p.probe)
				continue
			}
			g := p.probe.HTTPGet
			if g.Path != p.path || g.Port != intstr.FromInt32(8081) {
				t.Errorf("%s probe = GET %s on %s, want GET %s on 8081", p.name, g.Path, g.Port.String(), p.path)
			}
		}
	})
	t.Run("requests 50m CPU and 64Mi memory, limits memory to 128Mi and not CPU", func(t *testing.T) {
		res := c.Resources
		for _, q := range []struct {
			name string
			list corev1.ResourceList
			key  corev1.ResourceName
			want string
		}{
			{"cpu request", res.Requests, corev1.ResourceCPU, "50m"},
			{"memory request", res.Requests, corev1.ResourceMemory, "64Mi"},
			{"memory limit", res.Limits, corev1.ResourceMemory, "128Mi"},
		} {
			got, ok := q.list[q.key]
			if !ok || got.Cmp(resource.MustParse(q.want)) != 0 {
				t.Errorf("%s = %v (set: %v), want %s", q.name, got.String(), ok, q.want)
			}
		}
		if cpu, ok := res.Limits[corev1.ResourceCPU]; ok {
			t.Errorf("cpu limit = %s, want none", cpu.String())
		}
	})
	t.Run("runs the pod as non-root with the runtime default seccomp profile", func(t *testing.T) {
		sc := pod.SecurityContext
		if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
			t.Errorf("pod runAsNonRoot is not true: %+v", sc)
		}
		if sc == nil || sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("pod seccompProfile is not RuntimeDefault: %+v", sc)
		}
	})
	t.Run("locks down the manager container", func(t *testing.T) {
		sc := c.SecurityContext
		if sc == nil {
			t.Fatal("container has no securityContext")
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("allowPrivilegeEscalation = %v, want false", deref(sc.AllowPrivilegeEscalation))
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("readOnlyRootFilesystem = %v, want true", deref(sc.ReadOnlyRootFilesystem))
		}
		if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
			t.Errorf("runAsNonRoot = %v, want true", deref(sc.RunAsNonRoot))
		}
		if sc.Privileged != nil && *sc.Privileged {
			t.Error("container is privileged")
		}
		if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0 {
			t.Errorf("capabilities = %+v, want drop [ALL] and no add", sc.Capabilities)
		}
	})
	t.Run("runs as the rendered ServiceAccount", func(t *testing.T) {
		want := namePrefix + serviceAccountName
		if pod.ServiceAccountName != want {
			t.Errorf("serviceAccountName = %q, want %q", pod.ServiceAccountName, want)
		}
		sa := get[corev1.ServiceAccount](t, r, "ServiceAccount", pod.ServiceAccountName)
		if sa.Namespace != d.Namespace {
			t.Errorf("ServiceAccount is in %q, Deployment in %q", sa.Namespace, d.Namespace)
		}
	})
	t.Run("has 30 seconds to terminate", func(t *testing.T) {
		if pod.TerminationGracePeriodSeconds == nil || *pod.TerminationGracePeriodSeconds != 30 {
			t.Errorf("terminationGracePeriodSeconds = %v, want 30", deref(pod.TerminationGracePeriodSeconds))
		}
	})
	t.Run("never puts two pods on one node while another can take one, and spreads zones where labeled", func(t *testing.T) {
		want := map[string]corev1.UnsatisfiableConstraintAction{
			"kubernetes.io/hostname":      corev1.DoNotSchedule,
			"topology.kubernetes.io/zone": corev1.ScheduleAnyway,
		}
		got := map[string]corev1.UnsatisfiableConstraintAction{}
		for _, c := range pod.TopologySpreadConstraints {
			got[c.TopologyKey] = c.WhenUnsatisfiable
			if c.MaxSkew != 1 {
				t.Errorf("%s: maxSkew = %d, want 1", c.TopologyKey, c.MaxSkew)
			}
			if c.LabelSelector == nil || !selects(t, c.LabelSelector, d.Spec.Template.Labels) {
				t.Errorf("labelSelector %+v does not match the pods", c.LabelSelector)
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("topologySpreadConstraints %v, want %v", got, want)
		}
	})
	t.Run("runs at the shipped priority, above ordinary pods", func(t *testing.T) {
		pc := get[schedulingv1.PriorityClass](t, r, "PriorityClass", pod.PriorityClassName)
		if pc.Value < 1000000 || pc.GlobalDefault {
			t.Errorf("PriorityClass %s: value %d, globalDefault %v", pc.Name, pc.Value, pc.GlobalDefault)
		}
	})
	t.Run("sets GOMEMLIMIT from its own memory limit", func(t *testing.T) {
		for _, e := range c.Env {
			if e.Name == "GOMEMLIMIT" && e.ValueFrom != nil && e.ValueFrom.ResourceFieldRef != nil &&
				e.ValueFrom.ResourceFieldRef.Resource == "limits.memory" && e.ValueFrom.ResourceFieldRef.ContainerName == c.Name {
				return
			}
		}
		t.Errorf("no GOMEMLIMIT from limits.memory in %+v", c.Env)
	})
	t.Run("mounts the serving certificate Secret read-only at --cert-dir", func(t *testing.T) {
		certDir, ok := flagValue(c.Args, "cert-dir")
		if !ok {
			t.Fatal("no --cert-dir flag")
		}
		secret := servingCertificate(t, r).Spec.SecretName
		var mount *corev1.VolumeMount
		for i := range c.VolumeMounts {
			if c.VolumeMounts[i].MountPath == certDir {
				mount = &c.VolumeMounts[i]
			}
		}
		if mount == nil {
			t.Fatalf("nothing is mounted at %s: %+v", certDir, c.VolumeMounts)
		}
		if !mount.ReadOnly {
			t.Errorf("mount at %s is writable", certDir)
		}
		i := slices.IndexFunc(pod.Volumes, func(v corev1.Volume) bool { return v.Name == mount.Name })
		if i < 0 {
			t.Fatalf("no volume %q", mount.Name)
		}
		if v := pod.Volumes[i]; v.Secret == nil || v.Secret.SecretName != secret {
			t.Errorf("volume %q = %+v, want Secret %q", v.Name, v.VolumeSource, secret)
		}
	})
}

func TestWebhookServiceReachesTheWebhookServer(t *testing.T) {
	r := defaultRendering(t)
	d, c := managerDeployment(t, r)
	svc := webhookService(t, r)
	t.Run("selects the manager pods", func(t *testing.T) {
		if len(svc.Spec.Selector) == 0 {
			t.Fatal("Service has no selector")
		}
		if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
			t.Errorf("selector %v does not match pod labels %v", svc.Spec.Selector, d.Spec.Template.Labels)
		}
	})
	t.Run("forwards port 443 to the webhook-server container port", func(t *testing.T) {
		want := []corev1.ServicePort{{Name: "webhook-server", Port: 443, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(9443)}}
		if !reflect.DeepEqual(svc.Spec.Ports, want) {
			t.Errorf("ports = %+v, want %+v", svc.Spec.Ports, want)
		}
		if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool {
			return p.Name == "webhook-server" && p.ContainerPort == 9443
		}) {
			t.Errorf("container has no port webhook-server 9443: %+v", c.Ports)
		}
	})
}

// podSelectorLabels are the labels every selector of the manager pods uses.
// A Deployment's selector is immutable, so an overlay adding labels to it
// (for example `labels` with includeSelectors) would break upgrades.
var podSelectorLabels = map[string]string{
	"control-plane": "controller-manager",
	appNameLabel:    appName,
}

func TestEverySelectorOfTheManagerPodsIsExactlyThePodSelectorLabels(t *testing.T) {
	r := defaultRendering(t)
	d, _ := managerDeployment(t, r)
	pdb := get[policyv1.PodDisruptionBudget](t, r, "PodDisruptionBudget", namePrefix+deploymentName)
	np := get[networkingv1.NetworkPolicy](t, r, "NetworkPolicy", namePrefix+"allow-webhook-traffic")
	svc := webhookService(t, r)
	want := &metav1.LabelSelector{MatchLabels: podSelectorLabels}
	cases := []struct {
		name      string
		got, want any
	}{
		{"Deployment selector", d.Spec.Selector, want},
		{"PodDisruptionBudget selector", pdb.Spec.Selector, want},
		{"NetworkPolicy podSelector", &np.Spec.PodSelector, want},
		{"Service selector", svc.Spec.Selector, podSelectorLabels},
	}
	for i, c := range d.Spec.Template.Spec.TopologySpreadConstraints {
		cases = append(cases, struct {
			name      string
			got, want any
		}{fmt.Sprintf("topology spread constraint %d selector", i), c.LabelSelector, want})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !reflect.DeepEqual(c.got, c.want) {
				t.Errorf("got %+v, want %+v", c.got, c.want)
			}
		})
	}
	t.Run("pod template carries the selector labels", func(t *testing.T) {
		for k, v := range podSelectorLabels {
			if d.Spec.Template.Labels[k] != v {
				t.Errorf("pod label %s = %q, want %q", k, d.Spec.Template.Labels[k], v)
			}
		}
	})
}

func TestPodDisruptionBudget(t *testing.T) {
	r := defaultRendering(t)
	d, _ := managerDeployment(t, r)
	pdb := get[policyv1.PodDisruptionBudget](t, r, "PodDisruptionBudget", namePrefix+deploymentName)
	t.Run("keeps one pod available", func(t *testing.T) {
		if pdb.Spec.MinAvailable == nil || *pdb.Spec.MinAvailable != intstr.FromInt32(1) {
			t.Errorf("minAvailable = %v, want 1", deref(pdb.Spec.MinAvailable))
		}
		if pdb.Spec.MaxUnavailable != nil {
			t.Errorf("maxUnavailable = %v, want unset", *pdb.Spec.MaxUnavailable)
		}
	})
	t.Run("still lets a node drain", func(t *testing.T) {
		if d.Spec.Replicas == nil || pdb.Spec.MinAvailable == nil || int32(pdb.Spec.MinAvailable.IntValue()) >= *d.Spec.Replicas {
			t.Errorf("minAvailable %v leaves no disruption budget for %v replicas", deref(pdb.Spec.MinAvailable), deref(d.Spec.Replicas))
		}
	})
	t.Run("selects the manager pods", func(t *testing.T) {
		if pdb.Spec.Selector == nil || len(pdb.Spec.Selector.MatchLabels)+len(pdb.Spec.Selector.MatchExpressions) == 0 {
			t.Fatal("PDB has an empty selector")
		}
		if !selects(t, pdb.Spec.Selector, d.Spec.Template.Labels) {
			t.Errorf("selector %+v does not match pod labels %v", pdb.Spec.Selector, d.Spec.Template.Labels)
		}
	})
}

func TestNetworkPolicy(t *testing.T) {
	r := defaultRendering(t)
	d, c := managerDeployment(t, r)
	policies := all[networkingv1.NetworkPolicy](t, r, "NetworkPolicy")
	if len(policies) != 1 {
		t.Fatalf("rendered %d NetworkPolicies, want 1", len(policies))
	}
	np := policies[0]
	t.Run("applies to the manager pods", func(t *testing.T) {
		if len(np.Spec.PodSelector.MatchLabels)+len(np.Spec.PodSelector.MatchExpressions) == 0 {
			t.Fatal("podSelector is empty and would apply to every pod in the namespace")
		}
		if !selects(t, &np.Spec.PodSelector, d.Spec.Template.Labels) {
			t.Errorf("podSelector %+v does not match pod labels %v", np.Spec.PodSelector, d.Spec.Template.Labels)
		}
	})
	t.Run("restricts ingress and egress", func(t *testing.T) {
		if !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}) {
			t.Errorf("policyTypes = %v, want [Ingress Egress]", np.Spec.PolicyTypes)
		}
	})
	t.Run("admits metrics only from namespaces labeled metrics=enabled", func(t *testing.T) {
		for _, rule := range np.Spec.Ingress {
			if rule.Ports[0].Port.IntValue() != 8080 {
				continue
			}
			if len(rule.From) != 1 || rule.From[0].NamespaceSelector == nil || rule.From[0].NamespaceSelector.MatchLabels["metrics"] != "enabled" {
				t.Errorf("metrics admitted from %+v", rule.From)
			}
		}
	})
	t.Run("allows egress only to the API server's ports", func(t *testing.T) {
		got := []string{}
		for _, rule := range np.Spec.Egress {
			for _, p := range rule.Ports {
				got = append(got, p.Port.String())
			}
		}
		if !slices.Equal(got, []string{"443", "6443"}) {
			t.Errorf("egress ports %v, want [443 6443]", got)
		}
	})
	t.Run("admits only TCP 9443, 8080 and 8081", func(t *testing.T) {
		got := map[string]bool{}
		for _, rule := range np.Spec.Ingress {
			if len(rule.Ports) == 0 {
				t.Errorf("rule %+v admits every port", rule)
			}
			for _, p := range rule.Ports {
				proto := corev1.ProtocolTCP
				if p.Protocol != nil {
					proto = *p.Protocol
				}
				if p.Port == nil || p.EndPort != nil {
					t.Errorf("rule port %+v is not a single port", p)
					continue
				}
				got[fmt.Sprintf("%s/%s", proto, p.Port.String())] = true
			}
		}
		want := map[string]bool{"TCP/9443": true, "TCP/8080": true, "TCP/8081": true}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("admitted ports = %v, want %v", got, want)
		}
		for _, p := range c.Ports {
			if !got[fmt.Sprintf("TCP/%d", p.ContainerPort)] {
				t.Errorf("container port %s (%d) is not admitted", p.Name, p.ContainerPort)
			}
		}
	})
}

func TestRBAC(t *testing.T) {
	r := defaultRendering(t)
	d, _ := managerDeployment(t, r)

	roles := map[string][]rbacv1.PolicyRule{
		// Services by get only: the validating webhook reads the Service of a
		// failover rule's host to judge its ports, and never lists them.
		"manager-role": {
			{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{""}, Resources: []string{"services"}, Verbs: []string{"get"}},
		},
		"metrics-auth-role": {
			{APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"tokenreviews"}, Verbs: []string{"create"}},
			{APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"subjectaccessreviews"}, Verbs: []string{"create"}},
		},
		"metrics-reader": {{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}},
	}
	for name, want := range roles {
		t.Run("ClusterRole "+name+" grants exactly its rules", func(t *testing.T) {
			got := get[rbacv1.ClusterRole](t, r, "ClusterRole", namePrefix+name)
			if !reflect.DeepEqual(got.Rules, want) {
				t.Errorf("rules = %+v, want %+v", got.Rules, want)
			}
		})
	}
	t.Run("no role grants anything on secrets or wildcards", func(t *testing.T) {
		for _, cr := range all[rbacv1.ClusterRole](t, r, "ClusterRole") {
			for _, rule := range cr.Rules {
				for _, s := range slices.Concat(rule.Resources, rule.Verbs, rule.APIGroups) {
					if s == "*" || strings.HasPrefix(s, "secrets") {
						t.Errorf("ClusterRole %s rule %+v grants %q", cr.Name, rule, s)
					}
				}
			}
		}
		if n := len(r.ofKind("Role")); n != 0 {
			t.Errorf("rendered %d Roles; this test checks only ClusterRoles", n)
		}
	})
	for binding, role := range map[string]string{
		"manager-rolebinding":      "manager-role",
		"metrics-auth-rolebinding": "metrics-auth-role",
	} {
		t.Run("ClusterRoleBinding "+binding+" binds "+role+" to the manager's ServiceAccount", func(t *testing.T) {
			b := get[rbacv1.ClusterRoleBinding](t, r, "ClusterRoleBinding", namePrefix+binding)
			wantRef := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: namePrefix + role}
			if b.RoleRef != wantRef {
				t.Errorf("roleRef = %+v, want %+v", b.RoleRef, wantRef)
			}
			wantSubjects := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: d.Spec.Template.Spec.ServiceAccountName, Namespace: d.Namespace}}
			if !reflect.DeepEqual(b.Subjects, wantSubjects) {
				t.Errorf("subjects = %+v, want %+v", b.Subjects, wantSubjects)
			}
		})
	}
}

// TestChangingTheOverlayNamespaceMovesEveryReference renders a copy of the
// tree whose default overlay installs into another namespace, and checks
// that no reference to the original namespace survives: the webhooks'
// namespaceSelector, clientConfig, CA injection and the certificate's
// dnsNames all follow.
func TestChangingTheOverlayNamespaceMovesEveryReference(t *testing.T) {
	const otherNamespace = "mesh-admission"
	r := renderInNamespace(t, "default", otherNamespace)
	checkPlacement(t, r, otherNamespace, namePrefix)
	for _, spec := range webhookSpecs {
		t.Run(spec.kind, func(t *testing.T) {
			hooks := renderedWebhooks(t, r, spec, namePrefix)
			if len(hooks) != 1 {
				t.Fatalf("%d webhooks, want 1", len(hooks))
			}
			checkWebhookBehaviour(t, spec, hooks[0], otherNamespace)
			checkWebhookWiring(t, r, spec, hooks[0], otherNamespace)
		})
	}
	svc := webhookService(t, r)
	want := []string{svc.Name + "." + otherNamespace + ".svc", svc.Name + "." + otherNamespace + ".svc.cluster.local"}
	if got := servingCertificate(t, r).Spec.DNSNames; !slices.Equal(got, want) {
		t.Errorf("dnsNames = %v, want %v", got, want)
	}
}

// renderInNamespace renders a copy of the tree whose overlay installs into
// namespace, and checks that no object mentions the original one.
func renderInNamespace(t *testing.T, overlay, namespace string) rendering {
	t.Helper()
	dir := t.TempDir()
	copyTree(t, ".", dir)
	kust := filepath.Join(dir, overlay, "kustomization.yaml")
	b, err := os.ReadFile(kust)
	if err != nil {
		t.Fatal(err)
	}
	line := "\nnamespace: " + installNamespace + "\n"
	if n := bytes.Count(b, []byte(line)); n != 1 {
		t.Fatalf("%s/kustomization.yaml sets `namespace: %s` %d times, want 1", overlay, installNamespace, n)
	}
	b = bytes.Replace(b, []byte(line), []byte("\nnamespace: "+namespace+"\n"), 1)
	if err := os.WriteFile(kust, b, 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := render(filepath.Join(dir, overlay))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range r {
		if bytes.Contains(o.YAML, []byte(installNamespace)) {
			t.Errorf("%s still mentions %s:\n%s", o.id(), installNamespace, o.YAML)
		}
	}
	return r
}

// copyTree copies the kustomize folders (not this test) from src to dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		target := filepath.Join(dst, path)
		if e.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if ext := filepath.Ext(path); ext != ".yaml" && ext != ".yml" {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestWebhookFolderLoadsWithEnvtest reads manifests/webhook with
// controller-runtime's envtest, as integration tests do, and checks it
// yields the two configurations with the same behaviour as the rendering.
func TestWebhookFolderLoadsWithEnvtest(t *testing.T) {
	opts := envtest.WebhookInstallOptions{Paths: []string{"webhook"}}
	if err := opts.PrepWithoutInstalling(); err != nil {
		t.Fatalf("envtest cannot load manifests/webhook: %v", err)
	}
	t.Cleanup(func() {
		if err := opts.Cleanup(); err != nil {
			t.Error(err)
		}
	})

	if len(opts.MutatingWebhooks) != 1 || len(opts.ValidatingWebhooks) != 1 {
		t.Fatalf("envtest found %d mutating and %d validating configurations, want 1 and 1",
			len(opts.MutatingWebhooks), len(opts.ValidatingWebhooks))
	}
	loaded := map[string][]webhook{
		"MutatingWebhookConfiguration":   mutatingWebhooks(opts.MutatingWebhooks[0]),
		"ValidatingWebhookConfiguration": validatingWebhooks(opts.ValidatingWebhooks[0]),
	}
	for _, spec := range webhookSpecs {
		t.Run(spec.kind, func(t *testing.T) {
			hooks := loaded[spec.kind]
			if len(hooks) != 1 {
				t.Fatalf("%d webhooks, want 1", len(hooks))
			}
			w := hooks[0]
			if w.Config != spec.config {
				t.Errorf("configuration is named %q, want %q", w.Config, spec.config)
			}
			// envtest replaces the service reference by a URL ending in the path.
			if w.ClientConfig.URL == nil || !strings.HasSuffix(*w.ClientConfig.URL, spec.path) {
				t.Errorf("envtest url = %v, want one ending in %s", deref(w.ClientConfig.URL), spec.path)
			}
			checkWebhookBehaviour(t, spec, w, installNamespace)
		})
	}
}

// TestRawWebhookManifestsReferToTheUnprefixedService pins the names the
// default overlay's references rely on before it rewrites them.
func TestRawWebhookManifestsReferToTheUnprefixedService(t *testing.T) {
	r, err := render("webhook")
	if err != nil {
		t.Fatal(err)
	}
	svc := get[corev1.Service](t, r, "Service", webhookServiceName)
	m := get[admv1.MutatingWebhookConfiguration](t, r, "MutatingWebhookConfiguration", mutatingConfigName)
	v := get[admv1.ValidatingWebhookConfiguration](t, r, "ValidatingWebhookConfiguration", validatingConfigName)
	for _, w := range slices.Concat(mutatingWebhooks(m), validatingWebhooks(v)) {
		s := w.ClientConfig.Service
		if s == nil || s.Name != svc.Name || s.Namespace != svc.Namespace {
			t.Errorf("%s: clientConfig.service = %+v, want %s/%s", w.Name, s, svc.Namespace, svc.Name)
		}
	}
}
