package manifests_test

import (
	"strings"
	"testing"
	"time"

	admv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// enforcementLabelGuard is the optional policy restricting who may set
// failover-webhook.io/enforcement.
const enforcementLabelGuard = "enforcement-label-guard"

// applyOverlay server-side applies every object of an overlay for real,
// namespaces first.
func applyOverlay(t *testing.T, c client.Client, overlay string) {
	t.Helper()
	r, err := render(overlay)
	if err != nil {
		t.Fatal(err)
	}
	for _, namespacesFirst := range []bool{true, false} {
		for _, o := range r {
			if (o.Kind == "Namespace") != namespacesFirst {
				continue
			}
			obj := &unstructured.Unstructured{}
			if err := yaml.Unmarshal(o.YAML, &obj.Object); err != nil {
				t.Fatal(err)
			}
			if err := c.Apply(t.Context(), client.ApplyConfigurationFromUnstructured(obj), client.FieldOwner("manifests-test"), client.ForceOwnership); err != nil {
				t.Fatalf("applying %s: %v", o.id(), err)
			}
		}
	}
}

// as returns a client acting as user in groups.
func as(t *testing.T, cfg *rest.Config, user string, groups ...string) client.Client {
	t.Helper()
	cfg = rest.CopyConfig(cfg)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: append(groups, "system:authenticated")}
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// untilPolicyActive retries change while it succeeds: a new
// ValidatingAdmissionPolicy takes a moment to be enforced. change must
// change something each time. It returns the first error.
func untilPolicyActive(t *testing.T, change func() error) error {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := change()
		if err != nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestPoliciesThroughTheAPIServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	admin, cfg := startAPIServer(t)
	applyOverlay(t, admin, selfManagedOverlay)
	applyOverlay(t, admin, enforcementLabelGuard)
	ctx := t.Context()

	t.Run("the self-managed service account changes nothing but caBundle", func(t *testing.T) {
		sa := as(t, cfg, "system:serviceaccount:"+installNamespace+":"+namePrefix+"controller-manager",
			"system:serviceaccounts", "system:serviceaccounts:"+installNamespace)
		configName := namePrefix + mutatingConfigName
		update := func(c client.Client, edit func(*admv1.MutatingWebhookConfiguration)) error {
			cfg := &admv1.MutatingWebhookConfiguration{}
			if err := admin.Get(ctx, client.ObjectKey{Name: configName}, cfg); err != nil {
				t.Fatal(err)
			}
			edit(cfg)
			return c.Update(ctx, cfg)
		}
		// Wait until the policy refuses a change, then check each case.
		err := untilPolicyActive(t, func() error {
			return update(sa, func(c *admv1.MutatingWebhookConfiguration) {
				// A change every time: Fail and Ignore in turn.
				next := admv1.Ignore
				if *c.Webhooks[0].FailurePolicy == admv1.Ignore {
					next = admv1.Fail
				}
				c.Webhooks[0].FailurePolicy = &next
			})
		})
		if !apierrors.IsForbidden(err) && !apierrors.IsInvalid(err) {
			t.Fatalf("switching failurePolicy as the service account: %v, want refused", err)
		}
		tests := map[string]struct {
			client  client.Client
			edit    func(*admv1.MutatingWebhookConfiguration)
			refused bool
		}{
			"setting caBundle is allowed": {
				client: sa, edit: func(c *admv1.MutatingWebhookConfiguration) {
					c.Webhooks[0].ClientConfig.CABundle = []byte("-----BEGIN CERTIFICATE-----")
				},
			},
			"pointing the webhook at another Service is refused": {
				client: sa, refused: true,
				edit: func(c *admv1.MutatingWebhookConfiguration) { c.Webhooks[0].ClientConfig.Service.Name = "elsewhere" },
			},
			"widening the rules to Secrets is refused": {
				client: sa, refused: true,
				edit: func(c *admv1.MutatingWebhookConfiguration) { c.Webhooks[0].Rules[0].Resources = []string{"secrets"} },
			},
			"dropping the objectSelector is refused": {
				client: sa, refused: true,
				edit: func(c *admv1.MutatingWebhookConfiguration) { c.Webhooks[0].ObjectSelector = nil },
			},
			"relabeling the configuration is refused": {
				client: sa, refused: true,
				edit: func(c *admv1.MutatingWebhookConfiguration) { c.Labels["extra"] = "x" },
			},
			"an administrator may still change the configuration": {
				client: admin, edit: func(c *admv1.MutatingWebhookConfiguration) { c.Webhooks[0].TimeoutSeconds = ptr(int32(7)) },
			},
		}
		for name, tc := range tests {
			t.Run(name, func(t *testing.T) {
				err := update(tc.client, tc.edit)
				if refused := err != nil; refused != tc.refused {
					t.Errorf("update error %v, want refused: %v", err, tc.refused)
				}
				if err != nil && !strings.Contains(err.Error(), "only caBundle") {
					t.Errorf("the refusal %q does not say what may change", err)
				}
			})
		}

		t.Run("creating a Secret is forbidden", func(t *testing.T) {
			s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: installNamespace, Name: "planted"}}
			if err := sa.Create(ctx, s); !apierrors.IsForbidden(err) {
				t.Errorf("creating a Secret: %v, want forbidden", err)
			}
		})
		t.Run("the shipped CA Secret can be filled by update", func(t *testing.T) {
			s := &corev1.Secret{}
			if err := sa.Get(ctx, client.ObjectKey{Namespace: installNamespace, Name: namePrefix + "ca"}, s); err != nil {
				t.Fatal(err)
			}
			s.Data = map[string][]byte{"tls.crt": []byte("x")}
			if err := sa.Update(ctx, s); err != nil {
				t.Errorf("updating the CA Secret: %v", err)
			}
		})
	})

	t.Run("only enforcement admins set the enforcement label", func(t *testing.T) {
		// alice may do anything RBAC allows, but is no enforcement admin.
		if err := admin.Create(ctx, &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "alice-cluster-admin"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: "alice"}, {APIGroup: rbacv1.GroupName, Kind: "User", Name: "bob"}},
		}); err != nil {
			t.Fatal(err)
		}
		alice := as(t, cfg, "alice")
		bob := as(t, cfg, "bob", "failover-webhook:enforcement-admins")
		label := func(c client.Client, ns, key, value string) error {
			n := &corev1.Namespace{}
			if err := admin.Get(ctx, client.ObjectKey{Name: ns}, n); apierrors.IsNotFound(err) {
				n = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{key: value}}}
				return c.Create(ctx, n)
			} else if err != nil {
				t.Fatal(err)
			}
			n.Labels[key] = value
			return c.Update(ctx, n)
		}
		if err := admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}); err != nil {
			t.Fatal(err)
		}
		err := untilPolicyActive(t, func() error {
			err := label(alice, "shop", "failover-webhook.io/enforcement", "off")
			if err == nil {
				// Undo, so the next try changes the label again.
				err = label(admin, "shop", "failover-webhook.io/enforcement", "enforce")
			}
			return err
		})
		if !apierrors.IsForbidden(err) && !apierrors.IsInvalid(err) {
			t.Fatalf("alice switching enforcement off: %v, want refused", err)
		}
		tests := map[string]struct {
			client       client.Client
			ns, key, val string
			refused      bool
		}{
			"someone else may not create a namespace with the label": {client: alice, ns: "new-off", key: "failover-webhook.io/enforcement", val: "off", refused: true},
			"someone else may change other labels":                   {client: alice, ns: "shop", key: "team", val: "payments"},
			"an enforcement admin may switch it off":                 {client: bob, ns: "shop", key: "failover-webhook.io/enforcement", val: "off"},
		}
		for name, tc := range tests {
			t.Run(name, func(t *testing.T) {
				err := label(tc.client, tc.ns, tc.key, tc.val)
				if refused := err != nil; refused != tc.refused {
					t.Errorf("error %v, want refused: %v", err, tc.refused)
				}
			})
		}
	})
}
