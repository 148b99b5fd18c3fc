// Package oracle checks the webhook's DestinationRule verdict against
// Istio's own configuration generator: for every case of a corpus, Istio's
// fake discovery server (istio.io/istio/pilot/test/xds) builds the clusters
// and endpoints of a waypoint for a Service bound to it, and the case
// violates when one of the host's waypoint clusters lacks outlier detection
// while Istio gives (or, with outlier detection added everywhere, would
// give) its endpoints failover priorities. The corpus is the agreement
// corpus's rules, generated rules and generated pairs of rules for the
// host; a pair is judged by the webhook on pkg/consolidate's merge, in two
// views when a rule selects the waypoint's pods (clusters from the rules
// without a selector, endpoints from the selector rule:
// validate.EvaluateWaypoint).
// TestFixtureShowsFailover holds the fixture itself to a known outcome, so
// that a world in which Istio builds nothing cannot pass as "no violation".
//
// It is its own Go module so that neither the webhook binary nor the main
// go.mod depends on istio.io/istio; `make test-oracle` runs it, and
// `make test` runs that.
package oracle
