// Package controllers holds the operator's reconcilers: one per resource. ClusterReconciler validates a
// Cluster and summarises its components; ComponentReconciler drives one Helm release per Component
// through the engine in internal/helm.
package controllers
