package controlplane

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// WebhookBinaryEnv names an already built `webhook` command. `make test`
// builds bin/webhook once and sets it, so that the test packages running
// the binary do not each build their own.
const WebhookBinaryEnv = "FAILOVER_WEBHOOK_BINARY"

// BuildWebhook returns the `webhook` command for tests that run the binary
// as a Deployment would: the one WebhookBinaryEnv names, else one built
// into dir, as when a test package runs alone.
func BuildWebhook(dir string) (string, error) {
	if bin := os.Getenv(WebhookBinaryEnv); bin != "" {
		if info, err := os.Stat(bin); err != nil || info.IsDir() {
			return "", fmt.Errorf("%s=%s does not name a built webhook binary: run `make build` or unset it", WebhookBinaryEnv, bin)
		}
		return bin, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "webhook")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/webhook")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the webhook: %w\n%s", err, out)
	}
	return bin, nil
}
