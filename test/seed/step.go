package seed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os/exec"
	"slices"
	"strings"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/failover-webhook/failover-webhook/test/controlplane"
)

// Step is one step of the guide: a kubectl command, and what it must leave
// in the cluster.
type Step struct {
	// Title says what the step does.
	Title string
	// Note explains the step, when its command alone does not.
	Note string
	// Replaces lists the guide's manual commands the webhook does instead.
	Replaces []string
	// File names Manifest in the transcript; kubectl reads Manifest from
	// stdin (-f -).
	File     string
	Manifest string
	// Args are kubectl's arguments; Run adds the cluster's kubeconfig.
	Args []string

	// setLabels are the labels a `kubectl label` command sets.
	setLabels map[string]string
	// observe is the object the step creates or changes, read before and
	// after the command.
	observe object
	want    outcome
}

// outcome is what a step must leave behind. Every step expects no warnings.
type outcome struct {
	// stored: the object exists afterwards.
	stored bool
	// denial, when set, is how the API server must deny the request; the
	// command must fail and store nothing.
	denial *denial
	// labels and managed are exactly the Service's labels and its
	// managed-labels annotation ("" for none) afterwards.
	labels  map[string]string
	managed string
}

// denial is a validating webhook's denial of a request.
type denial struct {
	// webhook names the webhook that denies.
	webhook string
	// field is the field path the denial names, as a cause and in the
	// message.
	field string
	// fix are phrases of the fix the message gives.
	fix []string
}

// Command is the command as a user types it, without the kubeconfig.
func (s Step) Command() string {
	cmd := "kubectl " + strings.Join(s.Args, " ")
	if s.File != "" {
		cmd += " < " + s.File
	}
	return cmd
}

// Result is what a step did in one cluster.
type Result struct {
	Cluster string
	// Output is what kubectl printed, stdout then stderr, and its exit
	// status when it failed.
	Output []string
	// Report describes what the webhook did: the labels stored, marking
	// those it set, its annotation, and the warnings the API server sent.
	Report []string
	// Problems are the expectations the step did not meet; none means the
	// step passed.
	Problems []string
}

// Kubectl runs the guide's commands in one cluster, as its admin, with the
// kubectl that matches the cluster's API server.
type Kubectl struct {
	Cluster *controlplane.Cluster
	// Native says the cluster runs the native policies of
	// manifests/native instead of the webhook: their denials name the
	// ValidatingAdmissionPolicy, and carry the field in the message only.
	Native bool
	// CacheDir holds kubectl's discovery cache, which would otherwise go
	// under $HOME.
	CacheDir string
}

// Run runs the step's command in k's cluster and checks what it left.
func (s Step) Run(ctx context.Context, k Kubectl) Result {
	r := Result{Cluster: k.Cluster.Name}
	problem := func(format string, args ...any) { r.Problems = append(r.Problems, fmt.Sprintf(format, args...)) }

	before, err := s.observe.read(ctx, k.Cluster.Client)
	if err != nil {
		problem("%v", err)
		return r
	}
	out, err := k.run(ctx, s.Manifest, s.Args)
	if err != nil {
		problem("running %s: %v", s.Command(), err)
		return r
	}
	r.Output = out.lines()
	after, err := s.observe.read(ctx, k.Cluster.Client)
	if err != nil {
		problem("%v", err)
		return r
	}

	if s.want.denial == nil {
		if out.exitCode != 0 {
			problem("kubectl exited with status %d, want 0", out.exitCode)
		}
	} else {
		report, problems := s.checkDenial(ctx, k, out)
		r.Report = append(r.Report, report...)
		r.Problems = append(r.Problems, problems...)
	}
	switch {
	case s.want.stored && after == nil:
		problem("%s is not stored", s.observe)
	case !s.want.stored && after != nil:
		problem("%s is stored, want nothing stored", s.observe)
	}
	warnings := out.warnings()
	if len(warnings) > 0 {
		problem("the API server sent warnings %q, want none", warnings)
	}

	if s.observe.kind == serviceKind && after != nil {
		report, problems := s.checkService(before, after)
		r.Report = append(r.Report, report...)
		r.Problems = append(r.Problems, problems...)
	}
	if after == nil && s.observe.kind != namespaceKind {
		r.Report = append(r.Report, "stored: nothing, "+s.observe.String()+" does not exist")
	}
	if s.observe.kind != namespaceKind {
		if len(warnings) == 0 {
			r.Report = append(r.Report, "warnings: none")
		} else {
			r.Report = append(r.Report, "warnings: "+strings.Join(warnings, "; "))
		}
	}
	return r
}

// checkDenial checks the denial kubectl printed, then sends the step's
// request again, as a server-side dry run through the Go client, to check
// the API server's own status: for an Invalid status with causes kubectl
// prints only the causes, not the message naming the webhook.
func (s Step) checkDenial(ctx context.Context, k Kubectl, out kubectlOutput) (report, problems []string) {
	d := s.want.denial
	problem := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if out.exitCode == 0 {
		problem("kubectl exited with status 0, want the request denied by %s", d.webhook)
	}
	for _, phrase := range append([]string{d.field}, d.fix...) {
		if !strings.Contains(out.stderr, phrase) {
			problem("kubectl's error does not contain %q", phrase)
		}
	}

	obj := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(s.Manifest), &obj.Object); err != nil {
		problem("reading %s: %v", s.File, err)
		return report, problems
	}
	obj.SetNamespace(Namespace)
	err := k.Cluster.Client.Create(ctx, obj, client.DryRunAll)
	var apiStatus apierrors.APIStatus
	if !errors.As(err, &apiStatus) {
		problem("the same request as a server-side dry run: error = %v, want the denial of %s", err, d.webhook)
		return report, problems
	}
	status := apiStatus.Status()
	report = append(report, "the API server's message (the same request, as a server-side dry run):", "  "+status.Message)
	denier := `admission webhook "` + d.webhook + `" denied the request`
	if k.Native {
		denier = `ValidatingAdmissionPolicy '` + nativeValidatingPolicy + `'`
	}
	for _, phrase := range append([]string{denier, d.field}, d.fix...) {
		if !strings.Contains(status.Message, phrase) {
			problem("the API server's message does not contain %q: %s", phrase, status.Message)
		}
	}
	if k.Native {
		// A ValidatingAdmissionPolicy's denial has no causes.
		return report, problems
	}
	if status.Details == nil || !slices.ContainsFunc(status.Details.Causes, func(c metav1.StatusCause) bool { return c.Field == d.field }) {
		problem("the API server's status has no cause with field %s: %+v", d.field, status.Details)
	}
	return report, problems
}

// checkService checks the labels and managed-labels annotation of the
// Service the step stored, and reports them against the labels it sent.
func (s Step) checkService(before, after client.Object) (report, problems []string) {
	labels, managed := after.GetLabels(), after.GetAnnotations()[managedLabels]
	if !maps.Equal(labels, s.want.labels) {
		problems = append(problems, fmt.Sprintf("%s labels = %s, want %s", s.observe, formatLabels(labels), formatLabels(s.want.labels)))
	}
	if managed != s.want.managed {
		problems = append(problems, fmt.Sprintf("%s annotation %s = %q, want %q", s.observe, managedLabels, managed, s.want.managed))
	}
	sent, err := s.sentLabels(before)
	if err != nil {
		problems = append(problems, err.Error())
	}
	report = labelReport(sent, labels)
	if managed == "" {
		managed = "none"
	}
	return append(report, "annotation "+managedLabels+": "+managed), problems
}

// sentLabels returns the labels the step's request asks for: the
// manifest's, or the labels before a `kubectl label` with its labels set.
func (s Step) sentLabels(before client.Object) (map[string]string, error) {
	if s.Manifest != "" {
		var m metav1.PartialObjectMetadata
		if err := yaml.Unmarshal([]byte(s.Manifest), &m); err != nil {
			return nil, fmt.Errorf("reading the labels of %s: %w", s.File, err)
		}
		return m.Labels, nil
	}
	sent := map[string]string{}
	if before != nil {
		maps.Copy(sent, before.GetLabels())
	}
	maps.Copy(sent, s.setLabels)
	return sent, nil
}

// labelReport lists the stored labels one a line, marking with + those the
// webhook added or changed and with - those it removed from what was sent.
func labelReport(sent, stored map[string]string) []string {
	keys := slices.Sorted(maps.Keys(stored))
	for k := range sent {
		if _, ok := stored[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var lines []string
	changed := false
	for _, k := range keys {
		v, kept := stored[k]
		was, requested := sent[k]
		switch {
		case !kept:
			lines = append(lines, "  - "+k+"="+was)
			changed = true
		case !requested || was != v:
			lines = append(lines, "  + "+k+"="+v)
			changed = true
		default:
			lines = append(lines, "    "+k+"="+v)
		}
	}
	header := "labels stored (the webhook changed none):"
	if changed {
		header = "labels stored (+ set by the webhook, - removed by it):"
	}
	return append([]string{header}, lines...)
}

// formatLabels prints labels sorted, as k=v pairs.
func formatLabels(labels map[string]string) string {
	var pairs []string
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		pairs = append(pairs, k+"="+labels[k])
	}
	return "{" + strings.Join(pairs, ", ") + "}"
}

type kind string

const (
	namespaceKind       kind = "namespace"
	serviceKind         kind = "service"
	destinationRuleKind kind = "destinationrule"
)

// object names what a step creates or changes in the namespace sample.
type object struct {
	kind kind
	name string
}

func (o object) String() string {
	if o.kind == namespaceKind {
		return string(o.kind) + "/" + o.name
	}
	return string(o.kind) + " " + Namespace + "/" + o.name
}

// read returns the object as stored, or nil when it does not exist.
func (o object) read(ctx context.Context, c client.Client) (client.Object, error) {
	var obj client.Object
	key := client.ObjectKey{Namespace: Namespace, Name: o.name}
	switch o.kind {
	case namespaceKind:
		obj, key = &corev1.Namespace{}, client.ObjectKey{Name: o.name}
	case serviceKind:
		obj = &corev1.Service{}
	case destinationRuleKind:
		obj = &networkingv1.DestinationRule{}
	default:
		return nil, fmt.Errorf("no way to read a %s", o.kind)
	}
	if err := c.Get(ctx, key, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading %s: %w", o, err)
	}
	return obj, nil
}

// Exec runs kubectl with args against k's cluster, stdin on its standard
// input, and returns what it printed, line by line, ending with its exit
// status when that is not 0. An error means kubectl did not run to an exit
// status.
func (k Kubectl) Exec(ctx context.Context, stdin string, args ...string) (lines []string, exitCode int, err error) {
	out, err := k.run(ctx, stdin, args)
	return out.lines(), out.exitCode, err
}

// kubectlOutput is what one kubectl command printed, and how it exited.
type kubectlOutput struct {
	stdout, stderr string
	exitCode       int
}

// run runs kubectl with args against k's cluster, stdin on its standard
// input. An error means kubectl did not run to an exit status.
func (k Kubectl) run(ctx context.Context, stdin string, args []string) (kubectlOutput, error) {
	global := []string{"--kubeconfig", k.Cluster.KubeconfigPath}
	if k.CacheDir != "" {
		global = append(global, "--cache-dir", k.CacheDir)
	}
	cmd := exec.CommandContext(ctx, k.Cluster.KubectlPath, append(global, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	out := kubectlOutput{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit) && exit.Exited() && ctx.Err() == nil:
		out.exitCode = exit.ExitCode()
	default:
		return out, fmt.Errorf("%w (stderr: %s)", err, strings.TrimSpace(out.stderr))
	}
	return out, nil
}

// lines returns stdout and stderr line by line, and the exit status when
// it is not 0.
func (o kubectlOutput) lines() []string {
	var lines []string
	for _, s := range []string{o.stdout, o.stderr} {
		if s = strings.TrimRight(s, "\n"); s != "" {
			lines = append(lines, strings.Split(s, "\n")...)
		}
	}
	if o.exitCode != 0 {
		lines = append(lines, fmt.Sprintf("(exit status %d)", o.exitCode))
	}
	return lines
}

// warnings returns the API server's warnings, which kubectl prints to
// stderr as "Warning: <text>".
func (o kubectlOutput) warnings() []string {
	var warnings []string
	for line := range strings.SplitSeq(o.stderr, "\n") {
		if text, ok := strings.CutPrefix(line, "Warning: "); ok {
			warnings = append(warnings, text)
		}
	}
	return warnings
}
