package manifests_test

import (
	"bytes"
	"context"
	"io"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	admv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/failover-webhook/failover-webhook/cmd/webhook/app"
	"github.com/failover-webhook/failover-webhook/pkg/server"
)

// What manifests/self-managed-certs adds to the common folders.
const (
	selfManagedOverlay = "self-managed-certs"
	caSecretName       = "failover-webhook-ca"
	caSecretRole       = "ca-secret-role"
	configurationRole  = "webhook-configuration-role"
)

var renderSelfManaged = sync.OnceValues(func() (rendering, error) { return render(selfManagedOverlay) })

func selfManagedRendering(t *testing.T) rendering {
	t.Helper()
	r, err := renderSelfManaged()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestSelfManagedOverlayRendersExactlyTheseObjects(t *testing.T) {
	p := namePrefix
	ns := installNamespace
	checkRendersExactly(t, selfManagedRendering(t), append(commonObjects(),
		"Role/"+ns+"/"+p+caSecretRole,
		"RoleBinding/"+ns+"/"+p+"ca-secret-rolebinding",
		"ClusterRole/"+p+configurationRole,
		"ClusterRoleBinding/"+p+"webhook-configuration-rolebinding",
		"Secret/"+ns+"/"+p+"ca",
		"ValidatingAdmissionPolicy/"+p+"cabundle-only",
		"ValidatingAdmissionPolicyBinding/"+p+"cabundle-only",
	))
}

func TestSelfManagedEveryObjectDecodesAndIsPlaced(t *testing.T) {
	r := selfManagedRendering(t)
	checkDecodes(t, r)
	checkPlacement(t, r, installNamespace, namePrefix)
}

func TestSelfManagedWebhookConfigurations(t *testing.T) {
	r := selfManagedRendering(t)
	for _, spec := range webhookSpecs {
		t.Run(spec.kind, func(t *testing.T) {
			hooks := renderedWebhooks(t, r, spec, namePrefix)
			if len(hooks) != 1 {
				t.Fatalf("%d webhooks, want 1", len(hooks))
			}
			checkWebhookBehaviour(t, spec, hooks[0], installNamespace)
			checkWebhookCallsTheService(t, r, spec, hooks[0], installNamespace)
			t.Run("leaves the caBundle to the webhook and asks nothing of cert-manager", func(t *testing.T) {
				if len(hooks[0].ClientConfig.CABundle) != 0 {
					t.Error("clientConfig.caBundle is set in the manifests")
				}
				for key := range hooks[0].Annotations {
					if strings.HasPrefix(key, "cert-manager.io/") {
						t.Errorf("annotation %s: cert-manager is not installed in this mode", key)
					}
				}
			})
		})
	}
}

// serveOptions parses the manager container's arguments with `webhook
// serve` itself, as the image's entrypoint would.
func serveOptions(t *testing.T, args []string) server.Options {
	t.Helper()
	var got *app.ServeConfig
	var stderr bytes.Buffer
	code := app.Main(args, io.Discard, &stderr, func(_ context.Context, cfg app.ServeConfig) error { got = &cfg; return nil })
	if code != app.ExitOK || got == nil {
		t.Fatalf("webhook %s: exit %d: %s", strings.Join(args, " "), code, stderr.String())
	}
	return got.Server
}

func TestSelfManagedManagerFlagsNameTheRenderedObjects(t *testing.T) {
	r := selfManagedRendering(t)
	d, c := managerDeployment(t, r)
	o := serveOptions(t, c.Args)
	svc := webhookService(t, r)
	m := get[admv1.MutatingWebhookConfiguration](t, r, "MutatingWebhookConfiguration", namePrefix+mutatingConfigName)
	v := get[admv1.ValidatingWebhookConfiguration](t, r, "ValidatingWebhookConfiguration", namePrefix+validatingConfigName)

	if o.CertMode != server.CertModeSelfManaged {
		t.Errorf("certificate mode %q, want %q", o.CertMode, server.CertModeSelfManaged)
	}
	sm := o.SelfManaged
	for _, check := range []struct{ what, got, want string }{
		{"CA Secret namespace", sm.SecretNamespace, d.Namespace},
		{"CA Secret name", sm.SecretName, caSecretName},
		{"MutatingWebhookConfiguration", sm.MutatingWebhookConfiguration, m.Name},
		{"ValidatingWebhookConfiguration", sm.ValidatingWebhookConfiguration, v.Name},
	} {
		if check.got != check.want {
			t.Errorf("%s = %q, want %q", check.what, check.got, check.want)
		}
	}
	if want := svc.Name + "." + svc.Namespace + ".svc"; !slices.Contains(sm.DNSNames, want) {
		t.Errorf("the serving certificate names %v, not %s, which the API server verifies", sm.DNSNames, want)
	}
	t.Run("mounts nothing: the CA is in a Secret, the certificate in memory", func(t *testing.T) {
		if len(c.VolumeMounts)+len(d.Spec.Template.Spec.Volumes) != 0 {
			t.Errorf("mounts %+v, volumes %+v", c.VolumeMounts, d.Spec.Template.Spec.Volumes)
		}
	})
}

func TestSelfManagedRBAC(t *testing.T) {
	r := selfManagedRendering(t)
	d, _ := managerDeployment(t, r)
	o := serveOptions(t, mustContainer(t, r).Args).SelfManaged

	t.Run("the Role reaches only the CA Secret by name, and creates no Secret", func(t *testing.T) {
		role := get[rbacv1.Role](t, r, "Role", namePrefix+caSecretRole)
		want := []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{o.SecretName}, Verbs: []string{"get", "list", "watch", "update"}},
		}
		if !reflect.DeepEqual(role.Rules, want) {
			t.Errorf("rules = %+v, want %+v", role.Rules, want)
		}
		if role.Namespace != o.SecretNamespace {
			t.Errorf("the Role is in %q, the Secret in %q", role.Namespace, o.SecretNamespace)
		}
	})
	t.Run("the ClusterRole reaches only the two configurations, by name", func(t *testing.T) {
		cr := get[rbacv1.ClusterRole](t, r, "ClusterRole", namePrefix+configurationRole)
		verbs := []string{"get", "list", "watch", "update"}
		want := []rbacv1.PolicyRule{
			{APIGroups: []string{"admissionregistration.k8s.io"}, Resources: []string{"mutatingwebhookconfigurations"}, ResourceNames: []string{o.MutatingWebhookConfiguration}, Verbs: verbs},
			{APIGroups: []string{"admissionregistration.k8s.io"}, Resources: []string{"validatingwebhookconfigurations"}, ResourceNames: []string{o.ValidatingWebhookConfiguration}, Verbs: verbs},
		}
		if !reflect.DeepEqual(cr.Rules, want) {
			t.Errorf("rules = %+v, want %+v", cr.Rules, want)
		}
	})
	t.Run("no other role grants Secrets, configurations or wildcards", func(t *testing.T) {
		for _, cr := range all[rbacv1.ClusterRole](t, r, "ClusterRole") {
			for _, rule := range cr.Rules {
				for _, s := range slices.Concat(rule.Resources, rule.Verbs, rule.APIGroups) {
					if s == "*" || (cr.Name != namePrefix+configurationRole && strings.HasSuffix(s, "webhookconfigurations")) || strings.HasPrefix(s, "secrets") {
						t.Errorf("ClusterRole %s rule %+v grants %q", cr.Name, rule, s)
					}
				}
			}
		}
	})
	want := rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: d.Spec.Template.Spec.ServiceAccountName, Namespace: d.Namespace}
	t.Run("the RoleBinding binds the Role to the manager's ServiceAccount", func(t *testing.T) {
		b := get[rbacv1.RoleBinding](t, r, "RoleBinding", namePrefix+"ca-secret-rolebinding")
		if b.RoleRef != (rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: namePrefix + caSecretRole}) || !reflect.DeepEqual(b.Subjects, []rbacv1.Subject{want}) {
			t.Errorf("roleRef %+v subjects %+v", b.RoleRef, b.Subjects)
		}
	})
	t.Run("the ClusterRoleBinding binds the ClusterRole to the manager's ServiceAccount", func(t *testing.T) {
		b := get[rbacv1.ClusterRoleBinding](t, r, "ClusterRoleBinding", namePrefix+"webhook-configuration-rolebinding")
		if b.RoleRef != (rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: namePrefix + configurationRole}) || !reflect.DeepEqual(b.Subjects, []rbacv1.Subject{want}) {
			t.Errorf("roleRef %+v subjects %+v", b.RoleRef, b.Subjects)
		}
	})
}

func mustContainer(t *testing.T, r rendering) *corev1.Container {
	t.Helper()
	_, c := managerDeployment(t, r)
	return c
}

// TestBothOverlaysShareTheHardenedDeployment checks, for each overlay, what
// makes the Deployment safe to run with failurePolicy Fail.
func TestBothOverlaysShareTheHardenedDeployment(t *testing.T) {
	for _, overlay := range []string{"default", selfManagedOverlay} {
		t.Run(overlay, func(t *testing.T) {
			r, err := render(overlay)
			if err != nil {
				t.Fatal(err)
			}
			d, c := managerDeployment(t, r)
			o := serveOptions(t, c.Args)
			pod := d.Spec.Template.Spec
			if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
				t.Errorf("replicas = %v, want at least 2", deref(d.Spec.Replicas))
			}
			t.Run("waits 5s after SIGTERM, and that plus the longest admission fits the grace period", func(t *testing.T) {
				if o.ShutdownDelay != 5*time.Second {
					t.Errorf("--shutdown-delay = %s, want 5s", o.ShutdownDelay)
				}
				const longestAdmission = 5 * time.Second // the configurations' timeoutSeconds
				grace := time.Duration(deref64(pod.TerminationGracePeriodSeconds)) * time.Second
				if o.ShutdownDelay+longestAdmission >= grace {
					t.Errorf("delay %s + admission %s does not fit terminationGracePeriodSeconds %s", o.ShutdownDelay, longestAdmission, grace)
				}
			})
			t.Run("locks down the manager container", func(t *testing.T) {
				sc, psc := c.SecurityContext, pod.SecurityContext
				if sc == nil || psc == nil || sc.Capabilities == nil {
					t.Fatalf("pod securityContext %+v, container securityContext %+v", psc, sc)
				}
				restricted := deref(psc.RunAsNonRoot) == true && psc.SeccompProfile != nil && psc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault &&
					deref(sc.ReadOnlyRootFilesystem) == true && deref(sc.AllowPrivilegeEscalation) == false &&
					slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) && len(sc.Capabilities.Add) == 0
				if !restricted {
					t.Errorf("pod securityContext %+v, container securityContext %+v", psc, sc)
				}
			})
			t.Run("has a PodDisruptionBudget and spreads across nodes", func(t *testing.T) {
				get[policyv1.PodDisruptionBudget](t, r, "PodDisruptionBudget", namePrefix+deploymentName)
				if len(pod.TopologySpreadConstraints) == 0 {
					t.Error("no topology spread constraint")
				}
			})
		})
	}
}

func deref64(p *int64) int64 {
	if p == nil {
		return 30 // the Kubernetes default
	}
	return *p
}

// TestChangingTheSelfManagedNamespaceMovesEveryReference renders a copy of
// the tree whose self-managed overlay installs into another namespace.
func TestChangingTheSelfManagedNamespaceMovesEveryReference(t *testing.T) {
	const otherNamespace = "mesh-admission"
	r := renderInNamespace(t, selfManagedOverlay, otherNamespace)
	checkPlacement(t, r, otherNamespace, namePrefix)
	for _, spec := range webhookSpecs {
		hooks := renderedWebhooks(t, r, spec, namePrefix)
		checkWebhookBehaviour(t, spec, hooks[0], otherNamespace)
	}
	o := serveOptions(t, mustContainer(t, r).Args).SelfManaged
	if o.SecretNamespace != otherNamespace || !slices.Contains(o.DNSNames, namePrefix+webhookServiceName+"."+otherNamespace+".svc") {
		t.Errorf("the manager manages Secret %s/%s for %v, want it in %s", o.SecretNamespace, o.SecretName, o.DNSNames, otherNamespace)
	}
}
