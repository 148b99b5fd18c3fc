package server_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/failover-webhook/failover-webhook/pkg/server"
)

// TestAdmissionLogsCarryTheRequest checks that what is logged through the
// logger the webhook gives a request names the request, as
// controller-runtime's default request logger does, at every verbosity,
// with the caller the code that logged.
func TestAdmissionLogsCarryTheRequest(t *testing.T) {
	req := &admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID:       "3f1c9a0e-7f55-4f1e-9d8c-2a3b4c5d6e7f",
		Name:      "helloworld",
		Namespace: "sample",
		Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "services"},
		UserInfo:  authenticationv1.UserInfo{Username: "alice"},
	}}
	request := []string{`"namespace"="sample"`, `"name"="helloworld"`, `"user"="alice"`, `"requestID"="3f1c9a0e-7f55-4f1e-9d8c-2a3b4c5d6e7f"`}
	tests := map[string]struct {
		verbosity int
		log       func(logr.Logger)
		want      []string
	}{
		"an info message": {
			log:  func(l logr.Logger) { l.Info("deciding", "step", 1) },
			want: append([]string{`"msg"="deciding"`, `"step"=1`}, request...),
		},
		"a verbose message when verbose": {
			verbosity: 1,
			log:       func(l logr.Logger) { l.V(1).Info("mutating Service") },
			want:      append([]string{`"msg"="mutating Service"`}, request...),
		},
		"an error, with a name and values added on the way": {
			log:  func(l logr.Logger) { l.WithName("handler").WithValues("attempt", 2).Error(io.EOF, "reading") },
			want: append([]string{`"msg"="reading"`, `"error"="EOF"`, `"attempt"=2`, "admission/handler "}, request...),
		},
		"a verbose message when not verbose is dropped": {
			log: func(l logr.Logger) { l.V(1).Info("mutating Service") },
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			base := funcr.New(func(prefix, args string) { out.WriteString(prefix + " " + args + "\n") },
				funcr.Options{Verbosity: tc.verbosity, LogCaller: funcr.All}).WithName("admission")
			webhook := server.NewAdmission(admission.HandlerFunc(func(context.Context, admission.Request) admission.Response {
				return admission.Allowed("")
			}))

			tc.log(webhook.LogConstructor(base, req))

			got := out.String()
			if len(tc.want) == 0 {
				if got != "" {
					t.Errorf("logged %q, want nothing", got)
				}
				return
			}
			for _, want := range tc.want {
				if !strings.Contains(got, want) {
					t.Errorf("log %q lacks %s", got, want)
				}
			}
			if !strings.Contains(got, `"file"="logging_test.go"`) {
				t.Errorf("log %q does not name the caller logging_test.go", got)
			}
		})
	}
}
