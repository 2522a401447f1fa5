// Package console is the operator's side of the conversation with the Cast AI API (the "console"):
// registering a Cluster and keeping its identity, validating its API key, reporting the operator and
// every Component transition with recordActionResult, and turning console lifecycle actions (install,
// upgrade, rollback, uninstall) into Component changes, each applied once and acknowledged.
//
// The protocol itself (paths, JSON, retries) lives in internal/castai; this package decides when to
// say what, and what a console action means for the Kubernetes objects.
package console
