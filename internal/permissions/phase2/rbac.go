//go:build rbacmarkers

// The rbacmarkers build tag keeps these markers out of the Phase 1 generation (controller-gen over ./...).

// Package phase2 holds the Phase 2 ("extended permissions") RBAC rules as kubebuilder markers; it has
// no code.
//
// Phase 2 is granted on top of Phase 1 when the operator chart is installed with
// extendedPermissions=true. It lets the operator install components that change the cluster:
// cluster-controller (node operations, CSR approval, Container Live Migration), evictor, pod-mutator,
// pod-pinner and workload-autoscaler. Escalation prevention again means the operator must hold what
// those charts grant: the rules mirror cluster-controller's ClusterRole (including its rights over the
// other castai-* RBAC objects and namespaces) and its `*` Role in the operator's namespace, plus the
// CustomResourceDefinitions and webhook configurations the later components render.
//
// The namespace-scoped `*` rule is the only place where escalate, bind or impersonate are implied, and
// only inside the operator's own namespace, where cluster-controller's own Role already grants `*`;
// no cluster-scoped rule grants them.
//
// `make generate` writes these rules to config/rbac/phase2/role.yaml; the chart renders them when
// extendedPermissions=true, with the label castware.cast.ai/extended-permissions=true on the bindings.
package phase2

// Nodes and pods: drain, cordon, delete and evict (cluster-controller, evictor, spot-handler's
// phase2Permissions).
// +kubebuilder:rbac:groups="",resources=nodes;pods,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=nodes,verbs=patch;update;delete
// +kubebuilder:rbac:groups="",resources=nodes/status,verbs=patch
// +kubebuilder:rbac:groups="",resources=pods,verbs=delete
// +kubebuilder:rbac:groups="",resources=pods/eviction,verbs=create
// +kubebuilder:rbac:groups="";events.k8s.io,resources=events,verbs=create;patch

// Node bootstrap: cluster-controller approves kubelet CSRs.
// +kubebuilder:rbac:groups=certificates.k8s.io,resources=certificatesigningrequests,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups=certificates.k8s.io,resources=certificatesigningrequests/approval,verbs=patch;update
// +kubebuilder:rbac:groups=certificates.k8s.io,resources=signers,resourceNames=kubernetes.io/kubelet-serving;kubernetes.io/kube-apiserver-client-kubelet,verbs=approve

// Cast AI APIs the Phase 2 components own.
// +kubebuilder:rbac:groups=autoscaling.cast.ai;live.cast.ai;pod-mutations.cast.ai,resources=*,verbs=*
// +kubebuilder:rbac:groups=storage.k8s.io,resources=volumeattachments,verbs=get;list;watch;delete

// cluster-controller manages (and removes) the other Cast AI components' RBAC and namespaces. Its
// ClusterRole grants these rights on Roles in every namespace, by name, so the operator must hold them
// the same way to create it (RBAC escalation prevention); they stay limited to those names.
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=roles,resourceNames=castai-cluster-controller;castai-evictor;castai-agent;castai-spot-handler;castai-kvisor;castai-kvisor-controller;castai-egressd;castai-pod-pinner;castai-ai-optimizer-proxy,verbs=get;patch;update;delete
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=clusterroles;clusterrolebindings,resourceNames=castai-cluster-controller;castai-cluster-controller-ext;castai-evictor;castai-agent;castai-spot-handler;castai-kvisor;castai-kvisor-controller;castai-egressd;castai-pod-pinner;castai-ai-optimizer-proxy,verbs=get;delete
// +kubebuilder:rbac:groups="",resources=namespaces,resourceNames=castai-agent;castai-llms,verbs=get;delete
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=mutatingwebhookconfigurations,resourceNames=castai-pod-pinner,verbs=get;patch

// Later Phase 2 components render CustomResourceDefinitions (pod-mutator, workload-autoscaler) and
// admission webhooks (pod-mutator, pod-pinner, workload-autoscaler): created here, changed and deleted
// only by name (the catalog's foreignObjects, zz_generated.catalog.go). The chart's admission policy
// limits which CRDs may be created; webhook configurations are exempt from admission policies.
// +kubebuilder:rbac:groups=apiextensions.k8s.io,resources=customresourcedefinitions,verbs=get;list;watch;create
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=mutatingwebhookconfigurations;validatingwebhookconfigurations,verbs=create

// Everything in the operator's namespace (cluster-controller's own Role there is `*`).
// +kubebuilder:rbac:groups=*,namespace=castai-agent,resources=*,verbs=*
