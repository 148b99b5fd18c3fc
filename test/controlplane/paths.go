package controlplane

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// modulePath identifies this repository's go.mod among the go.mod files
// above the working directory.
const modulePath = "github.com/failover-webhook/failover-webhook"

// assetsEnv names the folder holding kube-apiserver, etcd and kubectl, as
// controller-runtime's envtest and setup-envtest spell it.
const assetsEnv = "KUBEBUILDER_ASSETS"

// istioAPIModule ships the Istio CRDs the API server needs to serve
// DestinationRules, in istioCRDFile inside the module.
const (
	istioAPIModule = "istio.io/api"
	istioCRDFile   = "kubernetes/customresourcedefinitions.gen.yaml"
)

// RepoRoot returns the folder holding this module's go.mod, the nearest one
// at or above the working directory.
func RepoRoot() (string, error) {
	start, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("finding the repository root: %w", err)
	}
	for dir := start; ; dir = filepath.Dir(dir) {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && goModModule(data) == modulePath {
			return dir, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("no go.mod of module %s in %s or any folder above it: run from inside the repository", modulePath, start)
		}
	}
}

// goModModule returns the module path a go.mod declares.
func goModModule(goMod []byte) string {
	s := bufio.NewScanner(bytes.NewReader(goMod))
	for s.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(s.Text()), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}

// AssetsDir returns the folder holding the control-plane binaries:
// KUBEBUILDER_ASSETS when set, else bin/k8s in the repository, where
// `make envtest-assets` builds them.
func AssetsDir(root string) (string, error) {
	dir, fromEnv := os.Getenv(assetsEnv), true
	if dir == "" {
		dir, fromEnv = filepath.Join(root, "bin", "k8s"), false
	}
	for _, bin := range []string{"kube-apiserver", "etcd", "kubectl"} {
		if info, err := os.Stat(filepath.Join(dir, bin)); err == nil && !info.IsDir() {
			continue
		}
		if fromEnv {
			return "", fmt.Errorf("%s not found in %s, the folder %s names: point %s at a folder holding kube-apiserver, etcd and kubectl, or unset it and run `make envtest-assets` in %s to build them into bin/k8s",
				bin, dir, assetsEnv, assetsEnv, root)
		}
		return "", fmt.Errorf("%s not found in %s: run `make envtest-assets` in %s to build kube-apiserver, etcd and kubectl there, or set %s to a folder holding them",
			bin, dir, root, assetsEnv)
	}
	return dir, nil
}

// IstioCRDPath returns the Istio CRD file of the istio.io/api version go.mod
// requires, read in place from the module cache.
func IstioCRDPath(root string) (string, error) {
	dir, err := istioAPIDir(root)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, filepath.FromSlash(istioCRDFile))
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("the Istio CRDs are not where %s keeps them: %w", istioAPIModule, err)
	}
	return path, nil
}

// istioAPIDir asks the go command where istio.io/api is, and falls back to
// GOMODCACHE and the version in go.mod when there is no go command.
func istioAPIDir(root string) (string, error) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", istioAPIModule)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, listErr := cmd.Output()
	if dir := strings.TrimSpace(string(out)); listErr == nil && dir != "" {
		return dir, nil
	}
	if listErr == nil {
		listErr = errors.New("the module is not in the module cache")
	}

	goMod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		return "", err
	}
	version := requiredVersion(goMod, istioAPIModule)
	dir := filepath.Join(modCache(), istioAPIModule+"@"+version)
	if version != "" {
		if _, err := os.Stat(dir); err == nil {
			return dir, nil
		}
	}
	return "", fmt.Errorf("locating %s (go list -m: %v %s; not in %s either): run `go mod download %s` in %s",
		istioAPIModule, listErr, strings.TrimSpace(stderr.String()), dir, istioAPIModule, root)
}

// requiredVersion returns the version go.mod requires of module, or "".
func requiredVersion(goMod []byte, module string) string {
	s := bufio.NewScanner(bytes.NewReader(goMod))
	for s.Scan() {
		fields := strings.Fields(strings.TrimPrefix(strings.TrimSpace(s.Text()), "require "))
		if len(fields) >= 2 && fields[0] == module {
			return fields[1]
		}
	}
	return ""
}

// modCache returns the module cache folder the go command would use.
func modCache() string {
	if dir := os.Getenv("GOMODCACHE"); dir != "" {
		return dir
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		home, _ := os.UserHomeDir()
		gopath = filepath.Join(home, "go")
	}
	return filepath.Join(filepath.SplitList(gopath)[0], "pkg", "mod")
}
