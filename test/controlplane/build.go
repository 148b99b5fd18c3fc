package controlplane

import (
	"fmt"
	"os/exec"
	"path/filepath"
)

// BuildWebhook builds the `webhook` command into dir and returns its path,
// for tests that run the binary as a Deployment would.
func BuildWebhook(dir string) (string, error) {
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
