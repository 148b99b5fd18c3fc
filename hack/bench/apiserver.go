package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/failover-webhook/failover-webhook/pkg/keys"
	"github.com/failover-webhook/failover-webhook/pkg/mutate"
	"github.com/failover-webhook/failover-webhook/pkg/validate"
)

// Admission configurations compared through the API server.
const (
	variantNone  = "none"
	variantNoop  = "do-nothing webhook"
	variantFloor = "controller-runtime, allowing all"
	// variantSwitching is what a probe reports while the API server still
	// applies part of the configuration being removed.
	variantSwitching = "a configuration being removed"
	variantWebhook   = "failover-webhook"
	variantNative    = "native policies"
)

var variants = []string{variantNone, variantNoop, variantFloor, variantWebhook, variantNative}

// Requests measured for each configuration.
const (
	kindService         = "Service"
	kindDestinationRule = "DestinationRule"
	opCreate            = "create"
	opUpdate            = "update"
)

// probeName names the objects this program dry-runs to tell which
// configuration the API server applies.
const probeName = "bench-probe"

// nativePolicyName is the ValidatingAdmissionPolicy of manifests/native
// judging DestinationRules, which its denials name.
const nativePolicyName = "failover-webhook-destinationrule"

// countingWebhook is a reference webhook server that allows everything
// and counts the requests it gets (at requestsPath), configured with the
// rules and selectors of failover-webhook's configurations.
type countingWebhook struct {
	addr    string
	configs []client.Object
}

// admissionSetup installs and removes the configurations of each variant
// and tells which one the API server applies.
type admissionSetup struct {
	client client.Client
	// webhook are failover-webhook's configurations as shipped.
	webhook []client.Object
	// counting are the reference webhooks, by variant.
	counting map[string]countingWebhook
	// native are the objects of manifests/native, as kustomize builds them.
	native []client.Object
	// tlsConfig reaches the reference webhooks' request counts.
	tlsConfig *tls.Config
	namespace string
	// webhookMetrics is failover-webhook's metrics address, whose request
	// counts tell its Service mutations from the native policy's.
	webhookMetrics string
}

// newAdmissionSetup prepares the configurations of every variant:
// failover-webhook's from mutating and validating, and copies of them
// pointing at each reference webhook, by variant, in refs.
func newAdmissionSetup(c client.Client, mutating []*admissionregistrationv1.MutatingWebhookConfiguration, validating []*admissionregistrationv1.ValidatingWebhookConfiguration, refs map[string]string, tlsConfig *tls.Config, namespace, webhookMetrics string) (*admissionSetup, error) {
	s := &admissionSetup{client: c, counting: map[string]countingWebhook{}, tlsConfig: tlsConfig, namespace: namespace, webhookMetrics: webhookMetrics}
	var nsSelector *metav1.LabelSelector
	for _, m := range mutating {
		real := m.DeepCopy()
		real.ResourceVersion = ""
		s.webhook = append(s.webhook, real)
	}
	for _, v := range validating {
		real := v.DeepCopy()
		real.ResourceVersion = ""
		s.webhook = append(s.webhook, real)
		for _, h := range real.Webhooks {
			nsSelector = h.NamespaceSelector
		}
	}
	if len(s.webhook) == 0 || nsSelector == nil {
		return nil, errors.New("no webhook configurations to compare")
	}
	for variant, addr := range refs {
		// Named apart, in objects and in the API server's metrics.
		prefix := strings.ReplaceAll(strings.ReplaceAll(variant, ",", ""), " ", "-") + "-"
		ref := countingWebhook{addr: addr}
		for _, obj := range s.webhook {
			obj = obj.DeepCopyObject().(client.Object)
			obj.SetName("bench-" + prefix + obj.GetName())
			switch cfg := obj.(type) {
			case *admissionregistrationv1.MutatingWebhookConfiguration:
				for i := range cfg.Webhooks {
					cfg.Webhooks[i].Name = prefix + cfg.Webhooks[i].Name
					if err := pointAt(&cfg.Webhooks[i].ClientConfig, addr); err != nil {
						return nil, err
					}
				}
			case *admissionregistrationv1.ValidatingWebhookConfiguration:
				for i := range cfg.Webhooks {
					cfg.Webhooks[i].Name = prefix + cfg.Webhooks[i].Name
					if err := pointAt(&cfg.Webhooks[i].ClientConfig, addr); err != nil {
						return nil, err
					}
				}
			}
			ref.configs = append(ref.configs, obj)
		}
		s.counting[variant] = ref
	}
	native, err := nativePolicies()
	if err != nil {
		return nil, err
	}
	s.native = native
	return s, nil
}

// nativePolicies builds manifests/native as `kubectl apply -k` does.
func nativePolicies() ([]client.Object, error) {
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), filepath.Join("manifests", "native"))
	if err != nil {
		return nil, fmt.Errorf("building manifests/native (run from the repository root): %w", err)
	}
	var out []client.Object
	for _, r := range res.Resources() {
		m, err := r.Map()
		if err != nil {
			return nil, err
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
	return out, nil
}

// pointAt sends a webhook's requests to addr, keeping the path and CA.
func pointAt(cc *admissionregistrationv1.WebhookClientConfig, addr string) error {
	if cc.URL == nil {
		return errors.New("webhook configuration without a URL")
	}
	path := *cc.URL
	if i := strings.Index(strings.TrimPrefix(path, "https://"), "/"); i >= 0 {
		path = strings.TrimPrefix(path, "https://")[i:]
	}
	url := "https://" + addr + path
	cc.URL = &url
	return nil
}

// use installs the configurations of variant, removes the others', and
// returns once the API server applies exactly those.
func (s *admissionSetup) use(ctx context.Context, variant string) error {
	want := map[string][]client.Object{variantWebhook: s.webhook, variantNative: s.native}
	for v, ref := range s.counting {
		want[v] = ref.configs
	}
	for v, objs := range want {
		if v == variant {
			continue
		}
		// In reverse: bindings go before the policies and parameters
		// they use.
		for _, obj := range slices.Backward(objs) {
			// A namespace stays: deleting it takes seconds, and
			// installing into it while it terminates fails.
			if obj.GetObjectKind().GroupVersionKind().Kind == "Namespace" {
				continue
			}
			if err := s.client.Delete(ctx, obj.DeepCopyObject().(client.Object)); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("removing %s %s: %w", v, obj.GetName(), err)
			}
		}
	}
	for _, obj := range want[variant] {
		if err := s.client.Create(ctx, obj.DeepCopyObject().(client.Object)); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("installing %s %s: %w", variant, obj.GetName(), err)
		}
	}
	return s.waitInForce(ctx, variant)
}

// expected returns what handles the Service probe and the DestinationRule
// probe under variant: the variant itself.
func expected(variant string) [2]string {
	return [2]string{variant, variant}
}

// waitInForce probes with dry-run creates until the API server handles a
// Service and a DestinationRule as variant says, twice in a row.
func (s *admissionSetup) waitInForce(ctx context.Context, variant string) error {
	want := expected(variant)
	var got [2]string
	agreed := 0
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		var err error
		if got[0], err = s.probe(ctx, mutate.Path, s.createProbeService); err != nil {
			return false, err
		}
		if got[1], err = s.probe(ctx, validate.Path, s.createProbeDestinationRule); err != nil {
			return false, err
		}
		if got != want {
			agreed = 0
			return false, nil
		}
		agreed++
		return agreed == 2, nil
	})
	if err != nil {
		return fmt.Errorf("switching to %s: the API server still sends a Service to %s and a DestinationRule to %s, want %s and %s: %w",
			variant, got[0], got[1], want[0], want[1], err)
	}
	return nil
}

// probe makes a dry-run request with create and returns the variant that
// handled it: the one create names, else the reference webhook whose count
// of requests on path grew, else variantNone.
func (s *admissionSetup) probe(ctx context.Context, path string, create func(context.Context) (string, error)) (string, error) {
	before := map[string]int64{}
	for v, ref := range s.counting {
		n, err := s.requests(ctx, ref.addr, path)
		if err != nil {
			return "", err
		}
		before[v] = n
	}
	if handler, err := create(ctx); err != nil || handler != "" {
		return handler, err
	}
	for v, ref := range s.counting {
		n, err := s.requests(ctx, ref.addr, path)
		if err != nil {
			return "", err
		}
		if n > before[v] {
			return v, nil
		}
	}
	return variantNone, nil
}

// createProbeService dry-runs a Service create. It comes back with its
// labels from failover-webhook, whose request count then grew, or from
// the native MutatingAdmissionPolicy.
func (s *admissionSetup) createProbeService(ctx context.Context) (string, error) {
	svc, err := helloworldService(s.namespace, probeName)
	if err != nil {
		return "", err
	}
	before, err := webhookRequests(ctx, s.webhookMetrics, mutate.Path)
	if err != nil {
		return "", err
	}
	if err := s.client.Create(ctx, svc, client.DryRunAll); err != nil {
		if strings.Contains(err.Error(), "failed to configure binding") {
			// A binding the API server still holds whose parameters
			// are gone: the switch is under way.
			return variantSwitching, nil
		}
		return "", fmt.Errorf("dry-run Service create: %w", err)
	}
	if svc.Labels[keys.Global] == "" {
		return "", nil
	}
	after, err := webhookRequests(ctx, s.webhookMetrics, mutate.Path)
	if err != nil {
		return "", err
	}
	if after > before {
		return variantWebhook, nil
	}
	return variantNative, nil
}

// webhookRequests is how many admission requests failover-webhook served
// on path, from controller-runtime's controller_runtime_webhook_requests_total.
func webhookRequests(ctx context.Context, metricsAddr, path string) (float64, error) {
	body, err := get(ctx, http.DefaultClient, "http://"+metricsAddr+"/metrics")
	if err != nil {
		return 0, err
	}
	total := 0.0
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, "controller_runtime_webhook_requests_total{") || !strings.Contains(line, `webhook="`+path+`"`) {
			continue
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("reading %q: %w", line, err)
		}
		total += v
	}
	return total, nil
}

// createProbeDestinationRule dry-runs the create of a DestinationRule that
// failover-webhook and the native policy deny, each naming itself.
func (s *admissionSetup) createProbeDestinationRule(ctx context.Context) (string, error) {
	dr, err := noOutlierDestinationRule(s.namespace, probeName)
	if err != nil {
		return "", err
	}
	err = s.client.Create(ctx, dr, client.DryRunAll)
	switch {
	case err == nil:
		return "", nil
	case strings.Contains(err.Error(), "vdestinationrule.failover-webhook.io"):
		return variantWebhook, nil
	case strings.Contains(err.Error(), nativePolicyName):
		return variantNative, nil
	}
	return "", fmt.Errorf("dry-run DestinationRule create: %w", err)
}

// requests returns how many admission requests the reference webhook at
// addr received on path.
func (s *admissionSetup) requests(ctx context.Context, addr, path string) (int64, error) {
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: s.tlsConfig}, Timeout: 5 * time.Second}
	defer hc.CloseIdleConnections()
	body, err := get(ctx, hc, "https://"+addr+requestsPath)
	if err != nil {
		return 0, err
	}
	counts := map[string]int64{}
	if err := json.Unmarshal(body, &counts); err != nil {
		return 0, fmt.Errorf("reading the request counts of %s: %w: %s", addr, err, body)
	}
	return counts[path], nil
}

// apiSamples are request durations by variant, kind and operation, pooled
// over rounds and per round.
type apiSamples struct {
	pooled  map[apiKey][]time.Duration
	byRound map[apiKey][][]time.Duration
}

type apiKey struct{ variant, kind, op string }

// measureRound creates n Services and n DestinationRules in namespace,
// alternating kinds, then updates each once, timing every request, then
// deletes them (untimed). Services get a new label on update;
// DestinationRules a changed spec, so an update is evaluated in full.
func measureRound(ctx context.Context, c client.Client, namespace string, n int, record func(kind, op string, d time.Duration)) error {
	services := make([]*corev1.Service, n)
	rules := make([]*networkingv1.DestinationRule, n)
	defer deleteAll(context.WithoutCancel(ctx), c, services, rules)
	timed := func(kind, op string, f func() error) error {
		t0 := time.Now()
		err := f()
		d := time.Since(t0)
		if err != nil {
			return fmt.Errorf("%s %s: %w", op, kind, err)
		}
		record(kind, op, d)
		return nil
	}
	for i := range n {
		name := fmt.Sprintf("helloworld-%04d", i)
		svc, err := helloworldService(namespace, name)
		if err != nil {
			return err
		}
		dr, err := guideDestinationRule(namespace, name)
		if err != nil {
			return err
		}
		if err := timed(kindService, opCreate, func() error { return c.Create(ctx, svc) }); err != nil {
			return err
		}
		services[i] = svc
		if err := timed(kindDestinationRule, opCreate, func() error { return c.Create(ctx, dr) }); err != nil {
			return err
		}
		rules[i] = dr
	}
	for i := range n {
		svc, dr := services[i], rules[i]
		svc.Labels["bench-revision"] = "2"
		if err := timed(kindService, opUpdate, func() error { return c.Update(ctx, svc) }); err != nil {
			return err
		}
		setConsecutive5xxErrors(dr, 2)
		if err := timed(kindDestinationRule, opUpdate, func() error { return c.Update(ctx, dr) }); err != nil {
			return err
		}
	}
	return nil
}

// deleteAll deletes the objects a round created, a few at a time.
func deleteAll(ctx context.Context, c client.Client, services []*corev1.Service, rules []*networkingv1.DestinationRule) {
	objs := make(chan client.Object)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for obj := range objs {
				_ = c.Delete(ctx, obj)
			}
		})
	}
	for _, s := range services {
		if s != nil {
			objs <- s
		}
	}
	for _, r := range rules {
		if r != nil {
			objs <- r
		}
	}
	close(objs)
	wg.Wait()
}

// webhookCallsMetric is the API server's histogram of webhook calls.
const webhookCallsMetric = "apiserver_admission_webhook_admission_duration_seconds"

// WebhookCalls is how long the API server waited on one webhook, by
// operation, as its metrics tell: the call alone, without the rest of
// admission.
type WebhookCalls struct {
	Webhook   string  `json:"webhook"`
	Operation string  `json:"operation"`
	Calls     float64 `json:"calls"`
	MeanUs    float64 `json:"mean_us"`
}

// webhookCallTotals reads the sums and counts of webhookCallsMetric from
// the API server, keyed by webhook and operation.
func webhookCallTotals(ctx context.Context, cfg *rest.Config) (map[[2]string][2]float64, error) {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	body, err := get(ctx, hc, strings.TrimSuffix(cfg.Host, "/")+"/metrics")
	if err != nil {
		return nil, err
	}
	out := map[[2]string][2]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		var field int
		var rest string
		switch {
		case strings.HasPrefix(line, webhookCallsMetric+"_sum{"):
			field, rest = 0, strings.TrimPrefix(line, webhookCallsMetric+"_sum{")
		case strings.HasPrefix(line, webhookCallsMetric+"_count{"):
			field, rest = 1, strings.TrimPrefix(line, webhookCallsMetric+"_count{")
		default:
			continue
		}
		labels, value, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			continue
		}
		key := [2]string{labelValue(labels, "name"), labelValue(labels, "operation")}
		totals := out[key]
		totals[field] += v
		out[key] = totals
	}
	return out, nil
}

// labelValue returns the value of label name in a Prometheus label list.
func labelValue(labels, name string) string {
	for _, pair := range strings.Split(labels, ",") {
		if k, v, ok := strings.Cut(pair, "="); ok && k == name {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

// webhookCalls returns the calls between two readings of
// webhookCallTotals.
func webhookCalls(before, after map[[2]string][2]float64) []WebhookCalls {
	var out []WebhookCalls
	for key, a := range after {
		b := before[key]
		calls := a[1] - b[1]
		if calls <= 0 {
			continue
		}
		out = append(out, WebhookCalls{Webhook: key[0], Operation: key[1], Calls: calls, MeanUs: (a[0] - b[0]) / calls * 1e6})
	}
	slices.SortFunc(out, func(x, y WebhookCalls) int {
		return strings.Compare(x.Webhook+" "+x.Operation, y.Webhook+" "+y.Operation)
	})
	return out
}
