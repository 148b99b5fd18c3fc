// Command helmify writes the templates of the Helm chart
// charts/failover-webhook from the kustomize tree under manifests/, so the
// two install paths cannot drift apart (`make chart`; a test fails when the
// committed templates differ from a fresh generation).
//
// It renders manifests/default (cert-manager) and
// manifests/self-managed-certs, keeps an object both render alike as it is,
// puts the two variants of an object they render differently behind
// certificates.mode, and the objects only one renders behind that mode.
// manifests/monitoring's objects go behind their monitoring.* switches.
// The install namespace becomes the release's namespace, and the values the
// chart exposes (values.yaml, values.schema.json) replace the fields they
// set. Everything else is copied: a change under manifests/ reaches the chart
// by running this command, not by editing templates.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	root := flag.String("root", ".", "the repository's root")
	flag.Parse()
	if err := run(*root); err != nil {
		fmt.Fprintln(os.Stderr, "helmify:", err)
		os.Exit(1)
	}
}

func run(root string) error {
	files, err := Generate(root)
	if err != nil {
		return err
	}
	dir := filepath.Join(root, TemplatesDir)
	stale, err := generatedFiles(dir)
	if err != nil {
		return err
	}
	for _, name := range stale {
		if err := os.Remove(filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), body, 0o644); err != nil {
			return err
		}
	}
	fmt.Printf("wrote %d templates into %s\n", len(files), dir)
	return nil
}

// generatedFiles lists the files of dir this command wrote: those starting
// with Header. The chart's own files (_helpers.tpl, NOTES.txt) stay.
func generatedFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		if strings.HasPrefix(string(b), Header) {
			names = append(names, e.Name())
		}
	}
	return names, nil
}
