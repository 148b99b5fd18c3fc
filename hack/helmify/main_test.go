package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestChartIsCurrent fails when the committed templates differ from what
// manifests/ generates now: run `make chart` and commit the result.
func TestChartIsCurrent(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	want, err := Generate(root)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, TemplatesDir)
	committed, err := generatedFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range committed {
		if _, ok := want[name]; !ok {
			t.Errorf("%s/%s is no longer generated from manifests/; run make chart", TemplatesDir, name)
		}
	}
	for name, body := range want {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s/%s is missing; run make chart", TemplatesDir, name)
			continue
		}
		if !bytes.Equal(got, body) {
			t.Errorf("%s/%s differs from what manifests/ generates; run make chart", TemplatesDir, name)
		}
	}
}

// TestTemplateRefusesWhatItCannotTemplate: a manifest that loses a field
// the values set must stop the generation, not yield a chart whose value
// silently does nothing.
func TestTemplateRefusesWhatItCannotTemplate(t *testing.T) {
	labels := map[string]any{"app.kubernetes.io/managed-by": "kustomize"}
	deployment := func(args ...any) map[string]any {
		return map[string]any{
			"metadata": map[string]any{"labels": labels},
			"spec": map[string]any{
				"replicas": int64(2),
				"template": map[string]any{"spec": map[string]any{
					"priorityClassName": "critical",
					"containers": []any{map[string]any{
						"name": "manager", "image": "failover-webhook:latest", "args": args,
						"resources": map[string]any{},
					}},
				}},
			},
		}
	}
	tests := map[string]struct {
		obj  object
		want string // in the error; empty for none
	}{
		"a Deployment with every templated field is templated": {
			obj: object{kind: "Deployment", name: "m", body: deployment("serve", "--metrics-secure")},
		},
		"a Deployment without --metrics-secure is refused": {
			obj:  object{kind: "Deployment", name: "m", body: deployment("serve")},
			want: "--metrics-secure",
		},
		"an object without kustomize's managed-by label is refused": {
			obj:  object{kind: "Service", name: "s", body: map[string]any{"metadata": map[string]any{"name": "s"}}},
			want: "app.kubernetes.io/managed-by",
		},
		"a webhook without the namespace-name expression is refused": {
			obj: object{kind: "ValidatingWebhookConfiguration", name: "v", body: map[string]any{
				"metadata": map[string]any{"labels": labels},
				"webhooks": []any{map[string]any{"name": "v.example.com"}},
			}},
			want: "webhook.excludedNamespaces",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			out, err := template(tc.obj)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %v, want one naming %q; templated:\n%s", err, tc.want, out)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, action := range []string{"{{ .Values.replicaCount }}", "- --metrics-secure", "{{- toYaml .Values.resources", "{{- include \"failover-webhook.labels\""} {
				if !strings.Contains(out, action) {
					t.Errorf("no %s in:\n%s", action, out)
				}
			}
			if tokenPattern.MatchString(out) {
				t.Errorf("a placeholder is left in:\n%s", out)
			}
		})
	}
}

// TestEscapeBraces: braces the objects carry reach the rendered object as
// they were.
func TestEscapeBraces(t *testing.T) {
	got := escapeBraces(`summary: {{ $labels.pod }} and {{x}}`)
	want := `summary: {{ "{{" }} $labels.pod {{ "}}" }} and {{ "{{" }}x{{ "}}" }}`
	if got != want {
		t.Errorf("escapeBraces = %s, want %s", got, want)
	}
}
