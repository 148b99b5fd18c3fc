package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, out string)
		args    []string
		wantErr string
	}{
		{
			name: "a fresh folder gets all four files",
		},
		{
			name: "existing files are kept and the error points to -force",
			prepare: func(t *testing.T, out string) {
				if err := run([]string{"-out", out}, new(bytes.Buffer), new(bytes.Buffer)); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: "pass -force",
		},
		{
			name: "-force replaces existing files",
			prepare: func(t *testing.T, out string) {
				if err := run([]string{"-out", out}, new(bytes.Buffer), new(bytes.Buffer)); err != nil {
					t.Fatal(err)
				}
			},
			args: []string{"-force"},
		},
		{
			name:    "a bad host is reported with the -hosts flag and the host",
			args:    []string{"-hosts", "localhost,bad host"},
			wantErr: `-hosts "localhost,bad host": invalid hosts: host "bad host"`,
		},
		{
			name:    "an empty host list is rejected",
			args:    []string{"-hosts", ""},
			wantErr: "-hosts",
		},
		{
			name:    "a zero validity is rejected",
			args:    []string{"-validity", "0s"},
			wantErr: "-validity must be positive",
		},
		{
			name:    "positional arguments are rejected",
			args:    []string{"certs/out"},
			wantErr: "unexpected arguments",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			if tt.prepare != nil {
				tt.prepare(t, out)
			}
			var stdout, stderr bytes.Buffer
			err := run(append([]string{"-out", out}, tt.args...), &stdout, &stderr)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("run: %v (stderr: %s)", err, stderr.String())
			}
			if !strings.Contains(stdout.String(), "base64 -w0 "+filepath.Join(out, "ca.crt")) {
				t.Errorf("output does not explain how to get the CA bundle:\n%s", stdout.String())
			}
			for _, name := range []string{"ca.crt", "ca.key", "tls.crt", "tls.key"} {
				if _, err := os.Stat(filepath.Join(out, name)); err != nil {
					t.Errorf("missing %s: %v", name, err)
				}
			}
		})
	}
}
