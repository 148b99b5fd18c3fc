// Command webhook is failover-webhook: an admission webhook that makes Istio
// ambient multicluster failover work by construction.
package main

import (
	"os"

	"github.com/failover-webhook/failover-webhook/cmd/webhook/app"
)

func main() {
	os.Exit(app.Main(os.Args[1:], os.Stdout, os.Stderr, app.RunServe))
}
