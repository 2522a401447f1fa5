// Package clusterspec holds the rules about a Cluster's spec that the Cluster controller, the Component
// controller and the admission webhook share: what a valid spec is, the endpoints it implies, the catalog
// facts it provides, and the one reader of its API key.
package clusterspec
