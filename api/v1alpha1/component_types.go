package v1alpha1

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Migration says how a Component came to exist for an installation the operator did not create.
// +kubebuilder:validation:Enum=yaml;helm;terraform;""
type Migration string

const (
	// MigrationNone is a Component the operator installs itself.
	MigrationNone Migration = ""
	// MigrationYAML adopts a component installed from plain manifests.
	MigrationYAML Migration = "yaml"
	// MigrationHelm adopts a component installed as a Helm release.
	MigrationHelm Migration = "helm"
	// MigrationTerraform marks a Component created by Terraform, detected and handed over by the operator.
	MigrationTerraform Migration = "terraform"
)

// Labels and annotations the operator reads or sets on Components.
const (
	// LabelHelmChart overrides the chart name the catalog gives for a component.
	LabelHelmChart = "castware.cast.ai/helm-chart"
	// LabelDeleteCandidate is set by the operator's cleanup on Components being removed together with
	// the operator: their releases and workloads are left running.
	LabelDeleteCandidate = "castware.cast.ai/delete-candidate"
	// FinalizerCleanupHelm is the finalizer that uninstalls a Component's release before the CR goes away.
	FinalizerCleanupHelm = "castware.cast.ai/cleanup-helm"
	// AnnotationActionID records the Cast AI console action whose change a Component's spec carries, so a
	// redelivered action is applied once.
	AnnotationActionID = "castware.cast.ai/action-id"
	// AnnotationRollbackRequest asks for a rollback to the previous good revision; its value (a console action
	// ID) is taken up once, then recorded in status.rollbackRequestID.
	AnnotationRollbackRequest = "castware.cast.ai/rollback-request"
	// AnnotationRetryRequest, "<version>/<request ID>", asks to apply a failed attempt at version again; it
	// is taken up once, then recorded in status.retryRequestID.
	AnnotationRetryRequest = "castware.cast.ai/retry-request"
)

// ComponentSpec is the wanted state of one Cast AI component.
type ComponentSpec struct {
	// Component is the component's name in the catalog, e.g. castai-agent. Immutable.
	// +kubebuilder:default=castai-agent
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Component string `json:"component"`

	// Cluster is the name of the Cluster resource in this namespace the component belongs to. Immutable.
	// +kubebuilder:default=castai
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Cluster string `json:"cluster"`

	// Enabled installs the component when true and uninstalls it when false.
	Enabled bool `json:"enabled"`

	// Version is the exact chart version to run; empty means the latest version.
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^(v?(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?)?$`
	// +optional
	Version string `json:"version,omitempty"`

	// Values are Helm values for the component's chart; they are the whole truth: a key removed here
	// is removed from the release on the next upgrade.
	// +kubebuilder:validation:Type=object
	// +kubebuilder:pruning:PreserveUnknownFields
	// +optional
	Values *apiextensionsv1.JSON `json:"values,omitempty"`

	// Migration says how an existing installation is adopted: yaml, helm, terraform or empty.
	// +optional
	Migration Migration `json:"migration,omitempty"`

	// Readonly makes the operator only mirror the installed version; it changes nothing.
	// +kubebuilder:default=false
	// +optional
	Readonly bool `json:"readonly,omitempty"`

	// ChartDigest pins spec.version to an OCI manifest digest (sha256:<64 hex digits>): a registry that
	// serves other content under that version is refused. OCI repositories only; needs spec.version.
	// +kubebuilder:validation:Pattern=`^(sha256:[0-9a-f]{64})?$`
	// +optional
	ChartDigest string `json:"chartDigest,omitempty"`

	// ReleaseName is the Helm release name; defaults to the catalog's release name for the component.
	// +kubebuilder:validation:MaxLength=53
	// +kubebuilder:validation:Pattern=`^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$`
	// +optional
	ReleaseName string `json:"releaseName,omitempty"`
}

// ComponentStatus is the observed state of a Component.
type ComponentStatus struct {
	// Conditions: Available (the release is deployed and its workloads are ready) and Progressing
	// (an install, upgrade, rollback or uninstall is under way, or why it stopped).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// CurrentVersion is the chart version of the deployed release.
	// +optional
	CurrentVersion string `json:"currentVersion,omitempty"`

	// Rollback, when set to true, asks the operator to roll the release back to its previous good revision.
	// The operator clears it when the rollback starts. Deprecated: still honoured once, but set the
	// castware.cast.ai/rollback-request annotation instead.
	// +optional
	Rollback bool `json:"rollback,omitempty"`

	// ObservedGeneration is the generation of the spec the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// RollbackRequestID is the last castware.cast.ai/rollback-request the operator took up, so a redelivered
	// console action or a stale annotation is applied once.
	// +optional
	RollbackRequestID string `json:"rollbackRequestID,omitempty"`

	// RetryRequestID is the last castware.cast.ai/retry-request the operator took up, so a redelivered console
	// action or a stale annotation is applied once.
	// +optional
	RetryRequestID string `json:"retryRequestID,omitempty"`

	// LastReportedHelmRevision is the release revision last reported to Cast AI.
	// +optional
	LastReportedHelmRevision int `json:"lastReportedHelmRevision,omitempty"`

	// ReleaseName is the Helm release the component is installed as.
	// +optional
	ReleaseName string `json:"releaseName,omitempty"`

	// Chart is the chart name the release was installed from.
	// +optional
	Chart string `json:"chart,omitempty"`

	// Revision is the Helm revision of the deployed release.
	// +optional
	Revision int `json:"revision,omitempty"`

	// AppliedValuesHash identifies the values of the deployed release (sha256, first 16 hex digits).
	// +optional
	AppliedValuesHash string `json:"appliedValuesHash,omitempty"`

	// FailedAttempt records the last upgrade that failed and was rolled back, or that a requested rollback
	// undid, so it is not applied again until spec.version or spec.values change.
	// +optional
	FailedAttempt *FailedAttempt `json:"failedAttempt,omitempty"`

	// Adoption records how an installation the operator did not make (spec.migration) was taken over.
	// +optional
	Adoption *Adoption `json:"adoption,omitempty"`
}

// Adoption records the takeover of an existing installation (a Helm release or plain YAML manifests).
type Adoption struct {
	// Source is how the installation was made: helm or yaml.
	Source Migration `json:"source"`
	// Workload is the adopted workload, "<Kind>/<name>".
	// +optional
	Workload string `json:"workload,omitempty"`
	// WorkloadUID is the adopted workload's UID; a takeover never deletes and re-creates it.
	// +optional
	WorkloadUID string `json:"workloadUID,omitempty"`
	// Revision is the release revision that stands for the Component's spec as it was adopted: the existing
	// revision of a Helm install, or the takeover install of a YAML one. 0 until the takeover happened.
	// +optional
	Revision int `json:"revision,omitempty"`
	// ValuesHash is the hash of the composed values Revision stands for. While the Component's composed values
	// still hash to it, Revision counts as up to date although its stored values differ (no upgrade, no new
	// revision); any change to spec.values, spec.version or the Cluster moves on from it.
	// +optional
	ValuesHash string `json:"valuesHash,omitempty"`
	// PreviousAPIKeySecret is the Secret the workload read its API key from before the takeover; it is never
	// deleted by the operator.
	// +optional
	PreviousAPIKeySecret string `json:"previousAPIKeySecret,omitempty"`
	// PreviousAPIKeySecretUnused is true once the component's ready workloads read their key from the
	// Cluster's Secret and no longer from PreviousAPIKeySecret, which can then be deleted by its owner.
	// +optional
	PreviousAPIKeySecretUnused bool `json:"previousAPIKeySecretUnused,omitempty"`
	// Leftovers are objects of the old installation outside the release that the chart does not replace;
	// they are left in place ("<Kind> <namespace>/<name>").
	// +optional
	Leftovers []string `json:"leftovers,omitempty"`
	// Removed are objects of the old installation the chart replaces, deleted after the takeover became ready.
	// +optional
	Removed []string `json:"removed,omitempty"`
	// Completed is true once the follow-ups (API-key Secret check, leftovers) are done.
	// +optional
	Completed bool `json:"completed,omitempty"`
	// Message says what was adopted and what is left to the user.
	// +optional
	Message string `json:"message,omitempty"`
	// Time is when the installation was adopted.
	Time metav1.Time `json:"time"`
}

// FailedAttempt records an install or upgrade that failed.
type FailedAttempt struct {
	// Reason is UpgradeFailed (the attempt failed and was rolled back) or RolledBack (a rollback was requested).
	Reason string `json:"reason"`
	// Version is the chart version that was attempted.
	Version string `json:"version"`
	// ValuesHash identifies the values that were attempted.
	ValuesHash string `json:"valuesHash"`
	// Generation is the Component generation of the attempt.
	Generation int64 `json:"generation"`
	// Message says why it failed.
	Message string `json:"message"`
	// Time is when it failed.
	Time metav1.Time `json:"time"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=castware,shortName=cwcomp
// +kubebuilder:printcolumn:name="Component",type=string,JSONPath=`.spec.component`
// +kubebuilder:printcolumn:name="Wanted",type=string,JSONPath=`.spec.version`
// +kubebuilder:printcolumn:name="Running",type=string,JSONPath=`.status.currentVersion`
// +kubebuilder:printcolumn:name="Available",type=string,JSONPath=`.status.conditions[?(@.type=="Available")].status`
// +kubebuilder:printcolumn:name="Progressing",type=string,JSONPath=`.status.conditions[?(@.type=="Progressing")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,priority=1,JSONPath=`.status.conditions[?(@.type=="Progressing")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// Component is one Cast AI component (castai-agent, spot-handler, ...) managed as a Helm release.
type Component struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec   ComponentSpec   `json:"spec"`
	Status ComponentStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ComponentList is a list of Components.
type ComponentList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Component `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Component{}, &ComponentList{})
}
