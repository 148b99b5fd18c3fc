package main

import (
	_ "github.com/cert-manager/cert-manager/pkg/server/tls"
	_ "istio.io/client-go/pkg/apis/networking/v1"
	_ "k8s.io/api/core/v1"
	_ "sigs.k8s.io/controller-runtime/pkg/webhook"
	_ "sigs.k8s.io/kustomize/api/krusty"
	_ "github.com/spf13/cobra"
	_ "sigs.k8s.io/yaml"
)

func main() {}
