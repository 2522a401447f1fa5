// Package phase1 holds the Phase 1 RBAC rules as kubebuilder markers; it has no code.
//
// Phase 1 is what the operator needs to install and manage the Phase 1 components (castai-agent and
// spot-handler) and to run its own controllers: cluster-wide read-only access to what the components
// read, writes only inside the operator's namespace, and the cluster-scoped RBAC objects the Phase 1
// charts render.
//
// Why the reads are this broad: Kubernetes RBAC escalation prevention lets the operator create a
// (Cluster)Role or binding only when it already holds every rule in it, and Helm creates the charts'
// RBAC objects with the operator's identity. So every rule a Phase 1 chart grants is listed here
// (castai-agent's read-only ClusterRole, its namespace and kube-system Roles, spot-handler's node
// read). The operator never holds escalate, bind or impersonate.
//
// `make generate` runs controller-gen over the whole module (so every marker the operator's code
// declares, e.g. in ./controllers, lands in Phase 1 too) into config/rbac/role.yaml, then hack/shipgen
// renders the same rules into the operator chart and internal/permissions, and `make bundle` into the
// OLM CSV. The phase2 and selfmanage marker packages carry the rbacmarkers build tag to stay out of it. The namespace
// castai-agent in the markers stands for the operator's namespace (the chart uses .Release.Namespace);
// kube-system is literal: castai-agent writes a Role there.
package phase1

// Cluster-wide, read-only: what castai-agent's ClusterRole grants (it reads the whole cluster to build
// cost and optimisation recommendations) and what the controllers read.
// +kubebuilder:rbac:groups="",resources=events;limitranges;namespaces;nodes;persistentvolumeclaims;persistentvolumes;pods;replicationcontrollers;resourcequotas;services;endpoints;podtemplates,verbs=get;list;watch
// +kubebuilder:rbac:groups=apps;batch;autoscaling;autoscaling.k8s.io;policy;networking.k8s.io;storage.k8s.io;resource.k8s.io;metrics.k8s.io;discovery.k8s.io,resources=*,verbs=get;list;watch
// +kubebuilder:rbac:groups=argoproj.io;karpenter.sh;karpenter.k8s.aws;keda.sh;datadoghq.com;machine.openshift.io,resources=*,verbs=get;list;watch
// +kubebuilder:rbac:groups=autoscaling.cast.ai;runbooks.cast.ai;storageoptimization.cast.ai;pod-mutations.cast.ai;castware.cast.ai,resources=*,verbs=get;list;watch
// +kubebuilder:rbac:urls=/version,verbs=get

// The operator's own resources: read and updated wherever they are (the controllers' markers), created
// and deleted only in the operator's namespace (console actions create Components, the cleanup deletes).
// +kubebuilder:rbac:groups=castware.cast.ai,resources=clusters;components,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=castware.cast.ai,resources=clusters/status;components/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=castware.cast.ai,resources=clusters/finalizers;components/finalizers,verbs=update
// +kubebuilder:rbac:groups=castware.cast.ai,namespace=castai-agent,resources=clusters;components,verbs=create;delete

// Cluster-scoped RBAC objects the Phase 1 charts render (castai-agent, castai-spot-handler
// ClusterRoles and ClusterRoleBindings). Update, patch and delete are held only by name: the catalog's
// foreignObjects, generated into zz_generated.catalog.go (`make generate`). Create cannot be limited by
// name in RBAC; the chart's ValidatingAdmissionPolicy limits it (Kubernetes >= 1.30). Roles and
// RoleBindings are written only in the operator's namespace and kube-system (below), never cluster-wide.
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=clusterroles;clusterrolebindings,verbs=get;list;watch;create
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=roles;rolebindings,verbs=get;list;watch

// Webhook configurations are read; the chart grants its own release's two (CA injection) by name.
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=mutatingwebhookconfigurations;validatingwebhookconfigurations,verbs=get;list;watch

// OpenShift: castai-agent renders SecurityContextConstraints (changed by name only, see above) and a
// ClusterRole that may use them.
// +kubebuilder:rbac:groups=security.openshift.io,resources=securitycontextconstraints,verbs=get;list;watch;create
// +kubebuilder:rbac:groups=security.openshift.io,resources=securitycontextconstraints,resourceNames=castai-agent-scc,verbs=use

// The secure metrics endpoint (internal/operator/metrics.go): a scraper's token is checked with a
// TokenReview and its access to /metrics with a SubjectAccessReview, as kubebuilder scaffolds it.
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// Events the controllers record.
// +kubebuilder:rbac:groups="";events.k8s.io,resources=events,verbs=create;patch

// The operator's namespace: Helm release records (Secrets), everything the Phase 1 charts render
// there, leader election, the API-key Secret, and the namespace object itself (the Helm engine marks a
// namespace a chart renders as helm.sh/resource-policy=keep so an upgrade never deletes it).
// +kubebuilder:rbac:groups="",namespace=castai-agent,resources=configmaps;secrets;serviceaccounts;services;resourcequotas;persistentvolumeclaims,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",namespace=castai-agent,resources=pods/log,verbs=get
// +kubebuilder:rbac:groups="",namespace=castai-agent,resources=namespaces,verbs=get;update;patch
// +kubebuilder:rbac:groups=apps,namespace=castai-agent,resources=deployments;daemonsets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=policy,namespace=castai-agent,resources=poddisruptionbudgets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=coordination.k8s.io,namespace=castai-agent,resources=leases,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,namespace=castai-agent,resources=roles;rolebindings,verbs=get;list;watch;create;update;patch;delete

// kube-system: castai-agent's Role there reads configmaps; its Role and RoleBinding are created here
// and changed or deleted by name (zz_generated.catalog.go).
// +kubebuilder:rbac:groups="",namespace=kube-system,resources=configmaps,verbs=get;list;watch
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,namespace=kube-system,resources=roles;rolebindings,verbs=create
