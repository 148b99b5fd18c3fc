package app_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/failover-webhook/failover-webhook/cmd/webhook/app"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files in test/testdata/check from the output of webhook check")

// checkTestdata is the corpus of the golden tests: good, bad,
// warning-only and malformed manifests, and the expected outputs.
var checkTestdata = filepath.Join("..", "..", "..", "test", "testdata", "check")

// webhookMain runs the command line with stdin as standard input.
func webhookMain(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	if stdin != "" {
		f, err := os.Open(stdin)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		saved := os.Stdin
		os.Stdin = f
		defer func() { os.Stdin = saved }()
	}
	var out, errOut bytes.Buffer
	code = app.Main(args, &out, &errOut, nil)
	return code, out.String(), errOut.String()
}

// TestCheckGolden runs `webhook check` on the corpus and compares all it
// writes, and its exit status, with test/testdata/check/*.golden. Run with
// -update to rewrite them after a deliberate change of the output.
func TestCheckGolden(t *testing.T) {
	tests := []struct {
		golden   string
		args     []string
		stdin    string // a file of the corpus piped in
		wantCode int
	}{
		{golden: "good", args: []string{"-f", "good"}, wantCode: app.ExitOK},
		{golden: "good-json", args: []string{"-f", "good", "-o", "json"}, wantCode: app.ExitOK},
		{golden: "good-show-mutations", args: []string{"-f", "good", "--show-mutations"}, wantCode: app.ExitOK},
		{golden: "good-yaml", args: []string{"-f", "good", "-o", "yaml"}, wantCode: app.ExitOK},
		{golden: "bad-yaml-color", args: []string{"-f", "bad", "-o", "yaml", "--color", "always"}, wantCode: app.ExitFailure},
		{golden: "bad-color", args: []string{"-f", "bad", "--color", "always"}, wantCode: app.ExitFailure},
		{golden: "good-show-mutations-json", args: []string{"-f", "good/new-service.yaml", "--show-mutations", "-o", "json"}, wantCode: app.ExitOK},
		{golden: "bad", args: []string{"-f", "bad"}, wantCode: app.ExitFailure},
		{golden: "bad-json", args: []string{"-f", "bad", "-o", "json"}, wantCode: app.ExitFailure},
		{golden: "bad-github", args: []string{"-f", "bad", "-o", "github"}, wantCode: app.ExitFailure},
		{golden: "bad-sarif", args: []string{"-f", "bad", "-o", "sarif"}, wantCode: app.ExitFailure},
		{golden: "bad-junit", args: []string{"-f", "bad", "-o", "junit"}, wantCode: app.ExitFailure},
		{golden: "bad-namespace-mode", args: []string{"-f", "bad", "--namespace-mode", "prod=warn", "--namespace-mode", "sandbox=enforce"}, wantCode: app.ExitFailure},
		{golden: "bad-all-warn", args: []string{"-f", "bad/destinationrules.yaml", "-f", "bad/nested", "--default-mode", "warn", "--namespace-mode", "prod=warn"}, wantCode: app.ExitOK},
		{golden: "warning-only", args: []string{"-f", "warning-only"}, wantCode: app.ExitOK},
		{golden: "warning-only-quiet-threshold-warning", args: []string{"-f", "warning-only", "--quiet", "--severity-threshold", "warning"}, wantCode: app.ExitFailure},
		{golden: "bad-threshold-none", args: []string{"-f", "bad", "-q", "--severity-threshold", "none"}, wantCode: app.ExitOK},
		{golden: "warning-only-waypoint", args: []string{"-f", "warning-only/services.yaml", "-n", "apps", "--waypoint-name", "east-waypoint"}, wantCode: app.ExitOK},
		{golden: "malformed", args: []string{"-f", "malformed"}, wantCode: app.ExitUsage},
		{golden: "malformed-verbose", args: []string{"-f", "malformed", "-v"}, wantCode: app.ExitUsage},
		{golden: "stdin", args: []string{"-f", "-"}, stdin: "bad/destinationrules.yaml", wantCode: app.ExitFailure},
		{golden: "stdin-default-warn", args: []string{"-f", "-", "--default-mode", "warn"}, stdin: "bad/destinationrules.yaml", wantCode: app.ExitOK},
		{golden: "stdin-json", args: []string{"-f", "-"}, stdin: "good/waypoint.json", wantCode: app.ExitOK},
		{golden: "excluded-namespace", args: []string{"-f", "bad", "-v", "--exclude-namespaces", "prod,kube-system"}, wantCode: app.ExitOK},
	}
	t.Chdir(checkTestdata)
	for _, tc := range tests {
		t.Run(tc.golden, func(t *testing.T) {
			args := append([]string{"check"}, tc.args...)
			code, stdout, stderr := webhookMain(t, tc.stdin, args...)
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tc.wantCode, stderr)
			}
			command := "webhook " + strings.Join(args, " ")
			if tc.stdin != "" {
				command += " < " + tc.stdin
			}
			got := fmt.Sprintf("$ %s\nexit status %d\n--- stdout\n%s--- stderr\n%s", command, code, stdout, stderr)
			path := tc.golden + ".golden"
			if *updateGolden {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to write it)", err)
			}
			if got != string(want) {
				t.Errorf("output differs from %s (run with -update after a deliberate change):\n--- got\n%s\n--- want\n%s", path, got, want)
			}
		})
	}
}

// TestCheckInputErrors: input that cannot be read exits 2 like a usage
// error, without a hint to read --help that would not help.
func TestCheckInputErrors(t *testing.T) {
	tests := map[string]struct {
		args []string
		want string
	}{
		"a path that does not exist": {[]string{"-f", "/nonexistent/manifests"}, "reading /nonexistent/manifests: no such file or directory"},
		"standard input twice":       {[]string{"-f", "-", "-f", "-"}, "standard input (-) is named more than once"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := webhookMain(t, "", append([]string{"check"}, tc.args...)...)
			if code != app.ExitUsage {
				t.Errorf("exit %d, want %d; stderr: %s", code, app.ExitUsage, stderr)
			}
			if !strings.Contains(stderr, "error: "+tc.want) {
				t.Errorf("stderr %q, want %q", stderr, "error: "+tc.want)
			}
			if strings.Contains(stderr, "--help") {
				t.Errorf("stderr %q points at --help for input that cannot be read", stderr)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
		})
	}
}

func TestCheckUsageErrors(t *testing.T) {
	tests := map[string]struct {
		args []string
		want string
	}{
		"no input":                                 {nil, "no input: name files or folders with -f, or -f - for standard input"},
		"a positional argument":                    {[]string{"manifests/"}, `check takes no arguments, got "manifests/"; name inputs with -f`},
		"an unknown default mode":                  {[]string{"-f", "-", "--default-mode", "strict"}, `invalid --default-mode: unknown mode "strict"`},
		"a namespace mode without =":               {[]string{"-f", "-", "--namespace-mode", "prod"}, `invalid --namespace-mode "prod": want NAMESPACE=MODE`},
		"a namespace mode naming no mode":          {[]string{"-f", "-", "--namespace-mode", "prod=strict"}, `invalid --namespace-mode "prod=strict": unknown mode "strict"`},
		"a namespace that is not a name":           {[]string{"-f", "-", "--namespace-mode", "Prod=warn"}, `invalid --namespace-mode: namespace "Prod"`},
		"a default namespace that is not a name":   {[]string{"-f", "-", "-n", "my_ns"}, `invalid --namespace: namespace "my_ns"`},
		"an excluded namespace that is not a name": {[]string{"-f", "-", "--exclude-namespaces", "kube-system,"}, `invalid --exclude-namespaces: namespace ""`},
		"an unknown output format":                 {[]string{"-f", "-", "-o", "yml"}, `invalid --output: unknown output format "yml": want text, json, github, sarif, junit or yaml`},
		"an unknown colour choice":                 {[]string{"-f", "-", "--color", "yes"}, `invalid --color "yes": want auto, always or never`},
		"an unknown severity threshold":            {[]string{"-f", "-", "--severity-threshold", "info"}, `invalid --severity-threshold "info": want error, warning or none`},
		"waypoint none":                            {[]string{"-f", "-", "--waypoint-name", "none"}, `invalid --waypoint-name "none"`},
		"an unknown flag":                          {[]string{"-f", "-", "--bogus"}, "unknown flag: --bogus"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := webhookMain(t, "", append([]string{"check"}, tc.args...)...)
			if code != app.ExitUsage {
				t.Errorf("exit %d, want %d; stderr: %s", code, app.ExitUsage, stderr)
			}
			if !strings.Contains(stderr, "error: "+tc.want) || !strings.Contains(stderr, "Run 'webhook check --help' for usage.") {
				t.Errorf("stderr %q, want %q and the usage hint", stderr, "error: "+tc.want)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
		})
	}
}

func TestPolicyCommandsHelp(t *testing.T) {
	shared := []string{"--namespace-mode", "--exclude-namespaces", "--waypoint-name", "--output", "-o,"}
	tests := map[string]struct {
		args []string
		want []string
	}{
		"webhook --help lists check and audit": {
			args: []string{"--help"},
			want: []string{"check", "audit"},
		},
		"webhook check --help names every flag and the exit statuses": {
			args: []string{"check", "--help"},
			want: append([]string{"--filename", "-f,", "--namespace", "--default-mode", "--show-mutations", "--verbose",
				"FILE:LINE:COL KIND NAMESPACE/NAME: RULE-ID field.path: SEVERITY: message", "Exit status: 0", "helm template"}, shared...),
		},
		"webhook audit --help names every flag and the exit statuses": {
			args: []string{"audit", "--help"},
			want: append([]string{"--kubeconfig", "--context", "--namespace", "--fix", "--dry-run", "--chunk-size",
				"KIND NAMESPACE/NAME: field.path: message", "Exit status: 0", "(default 500)"}, shared...),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := webhookMain(t, "", tc.args...)
			if code != app.ExitOK || stderr != "" {
				t.Errorf("exit %d, stderr %q; want 0 and nothing", code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stdout, w) {
					t.Errorf("help does not mention %q:\n%s", w, stdout)
				}
			}
		})
	}
}

func TestCheckRefusesAnUnreadableFileNamedDirectly(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads any file")
	}
	path := filepath.Join(t.TempDir(), "secret.yaml")
	if err := os.WriteFile(path, []byte("apiVersion: v1\nkind: Service\n"), 0); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := webhookMain(t, "", "check", "-f", path)
	if want := "error: reading " + path + ": permission denied"; code != app.ExitUsage || !strings.Contains(stderr, want) {
		t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, app.ExitUsage, want)
	}
}

// TestCheckNothingRead: input from which no document was read exits 2
// ("nothing to check"), so a CI step that renders nothing cannot pass by
// saying nothing, unless --allow-empty says empty input is expected.
func TestCheckNothingRead(t *testing.T) {
	service := "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n"
	tests := map[string]struct {
		files      map[string]string // relative to a temporary folder; "" content is an empty file
		folders    []string          // empty folders
		args       []string          // -f paths, relative to the folder, or -
		stdin      string            // piped in when args name -
		allowEmpty bool
		wantCode   int
		wantErr    string
	}{
		"an empty folder": {
			folders: []string{"in"}, args: []string{"in"},
			wantCode: app.ExitUsage, wantErr: "nothing to check: in holds no .yaml, .yml or .json file",
		},
		"a folder of files that are not manifests": {
			files: map[string]string{"in/README.md": "# hi\n", "in/notes.txt": "x\n"}, args: []string{"in"},
			wantCode: app.ExitUsage, wantErr: "nothing to check: in holds no .yaml, .yml or .json file",
		},
		"an empty file": {
			files: map[string]string{"a.yaml": ""}, args: []string{"a.yaml"},
			wantCode: app.ExitUsage, wantErr: "nothing to check: a.yaml holds no document",
		},
		"a file of comments only": {
			files: map[string]string{"a.yaml": "# rendered nothing\n\n# still nothing\n"}, args: []string{"a.yaml"},
			wantCode: app.ExitUsage, wantErr: "nothing to check: a.yaml holds no document",
		},
		"a file of empty documents only": {
			files: map[string]string{"a.yaml": "---\n---\n# nothing\n---\n"}, args: []string{"a.yaml"},
			wantCode: app.ExitUsage, wantErr: "nothing to check: a.yaml holds no document",
		},
		"an empty JSON file": {
			files: map[string]string{"a.json": "\n"}, args: []string{"a.json"},
			wantCode: app.ExitUsage, wantErr: "nothing to check: a.json holds no document",
		},
		"empty standard input": {
			args: []string{"-"}, stdin: "",
			wantCode: app.ExitUsage, wantErr: "nothing to check: <stdin> holds no document",
		},
		"every input empty, each named": {
			files: map[string]string{"a.yaml": "---\n"}, folders: []string{"in"}, args: []string{"a.yaml", "in"},
			wantCode: app.ExitUsage, wantErr: "nothing to check: a.yaml holds no document; in holds no .yaml, .yml or .json file",
		},
		"an empty folder next to a manifest is fine": {
			files: map[string]string{"a.yaml": service}, folders: []string{"in"}, args: []string{"a.yaml", "in"},
			wantCode: app.ExitOK,
		},
		"a document that is not a Kubernetes object was read": {
			files: map[string]string{"a.yaml": "key: value\n"}, args: []string{"a.yaml"},
			wantCode: app.ExitOK,
		},
		"an empty folder with --allow-empty": {
			folders: []string{"in"}, args: []string{"in"}, allowEmpty: true,
			wantCode: app.ExitOK,
		},
		"empty standard input with --allow-empty": {
			args: []string{"-"}, stdin: "", allowEmpty: true,
			wantCode: app.ExitOK,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			for rel, content := range tc.files {
				path := filepath.Join(dir, rel)
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			for _, rel := range tc.folders {
				if err := os.MkdirAll(filepath.Join(dir, rel), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			stdin := filepath.Join(dir, "stdin")
			if err := os.WriteFile(stdin, []byte(tc.stdin), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Chdir(dir)
			args := []string{"check"}
			for _, p := range tc.args {
				args = append(args, "-f", p)
			}
			if tc.allowEmpty {
				args = append(args, "--allow-empty")
			}
			code, _, stderr := webhookMain(t, stdin, args...)
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d; stderr: %s", code, tc.wantCode, stderr)
			}
			if tc.wantErr != "" && !strings.Contains(stderr, "error: "+tc.wantErr+"\n") {
				t.Errorf("stderr %q, want %q", stderr, "error: "+tc.wantErr)
			}
		})
	}
}
