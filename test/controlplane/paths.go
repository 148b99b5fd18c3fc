package controlplane

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
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

// certManagerModule ships cert-manager's CRDs in certManagerCRDDir.
const (
	certManagerModule = "github.com/cert-manager/cert-manager"
	certManagerCRDDir = "deploy/crds"
)

// gatewayAPIModule ships the Gateway API's CRDs in gatewayAPICRDDir.
const (
	gatewayAPIModule = "sigs.k8s.io/gateway-api"
	gatewayAPICRDDir = "config/crd/standard"
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
	dir, err := moduleDir(root, istioAPIModule)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, filepath.FromSlash(istioCRDFile))
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("the Istio CRDs are not where %s keeps them: %w", istioAPIModule, err)
	}
	return path, nil
}

// CertManagerCRDPaths returns the cert-manager.io CRD files of the
// cert-manager version go.mod requires, read in place from the module cache.
func CertManagerCRDPaths(root string) ([]string, error) {
	dir, err := moduleDir(root, certManagerModule)
	if err != nil {
		return nil, err
	}
	crds := filepath.Join(dir, filepath.FromSlash(certManagerCRDDir))
	paths, err := filepath.Glob(filepath.Join(crds, "cert-manager.io_*.yaml"))
	if err != nil {
		return nil, err
	}
	certificates := filepath.Join(crds, "cert-manager.io_certificates.yaml")
	if !slices.Contains(paths, certificates) {
		return nil, fmt.Errorf("%s is not among the CRDs found in %s: %v", filepath.Base(certificates), crds, paths)
	}
	return paths, nil
}

// GatewayAPICRDPaths returns the Gateway and GatewayClass CRD files of
// the Gateway API version go.mod requires, read in place from the module
// cache.
func GatewayAPICRDPaths(root string) ([]string, error) {
	dir, err := moduleDir(root, gatewayAPIModule)
	if err != nil {
		return nil, err
	}
	var paths []string
	for _, kind := range []string{"gateways", "gatewayclasses"} {
		path := filepath.Join(dir, filepath.FromSlash(gatewayAPICRDDir), "gateway.networking.k8s.io_"+kind+".yaml")
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("the Gateway API CRDs are not where %s keeps them: %w", gatewayAPIModule, err)
		}
		paths = append(paths, path)
	}
	return paths, nil
}

// moduleDir asks the go command where module is, and falls back to
// GOMODCACHE and the version in go.mod when there is no go command.
func moduleDir(root, module string) (string, error) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", module)
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
	version := requiredVersion(goMod, module)
	dir := filepath.Join(modCache(), module+"@"+version)
	if version != "" {
		if _, err := os.Stat(dir); err == nil {
			return dir, nil
		}
	}
	return "", fmt.Errorf("locating %s (go list -m: %v %s; not in %s either): run `go mod download %s` in %s",
		module, listErr, strings.TrimSpace(stderr.String()), dir, module, root)
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

// NewEnvironment returns an envtest environment, not started, running the
// control-plane binaries of AssetsDir with the Istio CRDs and the CRD files
// or folders in crds (CertManagerCRDPaths, for one). scheme may be nil.
func NewEnvironment(root string, scheme *runtime.Scheme, crds ...string) (*envtest.Environment, error) {
	assets, err := AssetsDir(root)
	if err != nil {
		return nil, err
	}
	istio, err := IstioCRDPath(root)
	if err != nil {
		return nil, err
	}
	return &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     append([]string{istio}, crds...),
		ErrorIfCRDPathMissing: true,
		Scheme:                scheme,
	}, nil
}
