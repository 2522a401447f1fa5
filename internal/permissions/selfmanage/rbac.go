//go:build rbacmarkers

// The rbacmarkers build tag keeps these markers out of the Phase 1 generation (controller-gen over ./...).

// Package selfmanage holds, as kubebuilder markers, the RBAC rules the operator needs only when it is
// installed by its own Helm chart and manages that chart: upgrading its own release (whose hooks
// create the <release>-crd-upgrade ClusterRole and run hook Jobs) and removing itself (the cleanup
// hook deletes the two CRDs). It has no code.
//
// These rules are kept out of Phase 1 so that an OLM installation (where OLM owns CRDs and upgrades)
// never holds rights over CustomResourceDefinitions. `make generate` writes them to
// config/rbac/selfmanage/role.yaml and the operator chart renders them as <fullname>-self.
package selfmanage

// The operator's two CRDs, by name: the CRD-upgrade hook's ClusterRole grants these (so the operator
// must hold them to create it during a self-upgrade), and the cleanup hook deletes them.
// +kubebuilder:rbac:groups=apiextensions.k8s.io,resources=customresourcedefinitions,resourceNames=clusters.castware.cast.ai;components.castware.cast.ai,verbs=get;create;update;patch;delete

// Hook Jobs of the operator chart (CRD upgrade, preflight), created and awaited by Helm during a
// self-upgrade.
// +kubebuilder:rbac:groups=batch,namespace=castai-agent,resources=jobs,verbs=get;list;watch;create;update;patch;delete

// The chart's metrics objects: its <release>-metrics-reader ClusterRole grants GET /metrics (so the operator
// must hold it to create that role during a self-upgrade), and its ServiceMonitor (metrics.serviceMonitor)
// is created and updated with the release.
// +kubebuilder:rbac:urls=/metrics,verbs=get
// +kubebuilder:rbac:groups=monitoring.coreos.com,namespace=castai-agent,resources=servicemonitors,verbs=get;create;update;patch;delete
