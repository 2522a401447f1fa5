package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MigrationMode says how existing installations of components are adopted.
// +kubebuilder:validation:Enum=write;read;autoUpgrade
type MigrationMode string

const (
	// MigrationModeWrite adopts existing components and keeps their running version.
	MigrationModeWrite MigrationMode = "write"
	// MigrationModeRead records existing components read-only: their version is mirrored, nothing is changed.
	MigrationModeRead MigrationMode = "read"
	// MigrationModeAutoUpgrade adopts existing components and upgrades them to the latest version.
	MigrationModeAutoUpgrade MigrationMode = "autoUpgrade"
)

// AnnotationAllowPlainHTTP on a Cluster, set to "true", lets spec.api.apiUrl and spec.helmRepoURL use
// plain http to a host that is not loopback; without it such a Cluster is refused.
const AnnotationAllowPlainHTTP = "castware.cast.ai/allow-plain-http"

// DefaultHelmRepoURL is the chart repository Cast AI publishes its component charts to.
const DefaultHelmRepoURL = "https://castai.github.io/helm-charts"

// DefaultAPIKeySecret is the name of the Secret holding the Cast AI API key.
const DefaultAPIKeySecret = "castware-api-key"

// APIKeySecretKey is the key inside the API-key Secret that holds the key.
const APIKeySecretKey = "API_KEY"

// ClusterSpec is the configuration shared by every component of one Kubernetes cluster.
type ClusterSpec struct {
	// Provider is the Kubernetes provider of this cluster (eks, gke, aks, ...). Immutable once set.
	// +optional
	// +kubebuilder:validation:Enum=eks;gke;aks;kops;openshift;anywhere
	Provider string `json:"provider,omitempty"`

	// APIKeySecret is the name of the Secret in this namespace whose API_KEY entry holds the Cast AI API key.
	// +kubebuilder:default=castware-api-key
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	APIKeySecret string `json:"apiKeySecret"`

	// API holds the Cast AI API endpoints.
	API APISpec `json:"api"`

	// Cluster holds the identity of the cluster at Cast AI; the operator fills clusterID after registration.
	// +optional
	Cluster *ClusterMetadataSpec `json:"cluster,omitempty"`

	// HelmRepoURL is the chart repository components are installed from:
	// an http(s) Helm repository, an oci:// registry or a local path for air-gapped clusters.
	// +kubebuilder:default="https://castai.github.io/helm-charts"
	// +optional
	HelmRepoURL string `json:"helmRepoURL,omitempty"`

	// HelmVerify, when set, installs only component charts whose Helm provenance (.prov) verifies against
	// a keyring, as helm install --verify --keyring does.
	// +optional
	HelmVerify *HelmVerifySpec `json:"helmVerify,omitempty"`

	// MigrationMode says how components found already running are adopted: write, read or autoUpgrade.
	// +kubebuilder:default=write
	// +optional
	MigrationMode MigrationMode `json:"migrationMode,omitempty"`

	// Terraform marks an installation managed by Terraform: existing components are not scanned;
	// Components created with migration "terraform" are detected and handed over instead.
	// +kubebuilder:default=false
	// +optional
	Terraform bool `json:"terraform,omitempty"`
}

// DefaultKeyringSecretKey is the Secret entry read when keyringSecretRef.key is empty (Helm's file name).
const DefaultKeyringSecretKey = "keyring.gpg"

// HelmVerifySpec makes every component chart prove who published it with a signed provenance file.
type HelmVerifySpec struct {
	// KeyringSecretRef names the Secret, in the operator's namespace, that holds the OpenPGP public keyring.
	KeyringSecretRef KeyringSecretRef `json:"keyringSecretRef"`
}

// KeyringSecretRef names the entry of a Secret that holds an OpenPGP keyring (binary or ASCII-armoured).
type KeyringSecretRef struct {
	// Name is the Secret's name, in the operator's namespace.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	Name string `json:"name"`

	// Key is the Secret entry holding the keyring (default keyring.gpg).
	// +kubebuilder:default=keyring.gpg
	// +optional
	Key string `json:"key,omitempty"`
}

// APISpec holds the Cast AI API endpoints.
type APISpec struct {
	// APIURL is the Cast AI REST API, e.g. https://api.cast.ai (https://api.eu.cast.ai in the EU).
	// +kubebuilder:validation:Format=uri
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	APIURL string `json:"apiUrl"`

	// APIGrpcURL is the Cast AI API gRPC endpoint.
	// +optional
	APIGrpcURL string `json:"apiGrpcUrl,omitempty"`

	// GrpcURL is the Cast AI gRPC endpoint; derived from apiUrl when empty (api.cast.ai gives grpc.cast.ai).
	// +optional
	GrpcURL string `json:"grpcUrl,omitempty"`

	// KvisorGrpcURL is the kvisor gRPC endpoint; derived from apiUrl when empty (api.cast.ai gives kvisor.cast.ai).
	// +optional
	KvisorGrpcURL string `json:"kvisorGrpcUrl,omitempty"`
}

// ClusterMetadataSpec is the identity of the cluster at Cast AI.
type ClusterMetadataSpec struct {
	// ClusterID is the Cast AI cluster ID (a UUID); immutable once set.
	// +kubebuilder:validation:Pattern=`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-5][0-9a-fA-F]{3}-[89ABab][0-9a-fA-F]{3}-[0-9a-fA-F]{12}$`
	// +optional
	ClusterID string `json:"clusterID,omitempty"`

	// ClusterName is the cluster's name at its provider.
	// +optional
	ClusterName string `json:"clusterName,omitempty"`

	// Location is the cluster's region or zone.
	// +optional
	Location string `json:"location,omitempty"`

	// ProjectID is the cloud project or account the cluster belongs to.
	// +optional
	ProjectID string `json:"projectID,omitempty"`
}

// ClusterStatus is the observed state of a Cluster.
type ClusterStatus struct {
	// Conditions: Available (configuration valid and cluster registered), Progressing (operator self-upgrade), Degraded.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// ObservedGeneration is the generation of the spec the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Phase is a one-word summary for humans and the console: Pending, Connecting, Connected or Failed.
	// +optional
	Phase string `json:"phase,omitempty"`

	// LastSecretVersion is the resourceVersion of the API-key Secret last validated.
	// +optional
	LastSecretVersion string `json:"lastSecretVersion,omitempty"`

	// UpgradeJobName is the name of a running operator self-upgrade Job.
	// +optional
	UpgradeJobName string `json:"upgradeJobName,omitempty"`

	// LastRegistrationVersion is the operator version (without "v") that registered the cluster.
	// +optional
	LastRegistrationVersion string `json:"lastRegistrationVersion,omitempty"`

	// LastReportedHelmRevision is the operator's own Helm revision last reported to Cast AI.
	// +optional
	LastReportedHelmRevision int `json:"lastReportedHelmRevision,omitempty"`

	// ExtendedPermissions is true when the operator holds the Phase 2 permissions.
	// +optional
	ExtendedPermissions bool `json:"extendedPermissions,omitempty"`

	// OperatorUpgrade is the state of the operator's last self-upgrade (an upgrade of its own Helm release):
	// the leader that runs it and the new operator pod that finishes it both work from it.
	// +optional
	OperatorUpgrade *OperatorUpgradeStatus `json:"operatorUpgrade,omitempty"`

	// OperatorReportedVersion is the operator version last reported to Cast AI as installed or updated.
	// +optional
	OperatorReportedVersion string `json:"operatorReportedVersion,omitempty"`

	// HandledActions are the most recent Cast AI console actions applied, newest last, so an action
	// delivered twice (or again after a restart) is applied once and acknowledged with the same result.
	// +optional
	// +kubebuilder:validation:MaxItems=50
	HandledActions []HandledAction `json:"handledActions,omitempty"`
}

// HandledAction records one console action the operator applied.
type HandledAction struct {
	// ID is the action's ID at Cast AI.
	ID string `json:"id"`
	// Kind is install, upgrade, rollback or uninstall.
	Kind string `json:"kind"`
	// Component is the component the action targeted.
	Component string `json:"component"`
	// Error is the error the action was acknowledged with ("" for success).
	// +optional
	Error string `json:"error,omitempty"`
	// Acked is true once Cast AI received the acknowledgement.
	// +optional
	Acked bool `json:"acked,omitempty"`
	// Time is when the action was applied.
	Time metav1.Time `json:"time"`
}

// OperatorUpgradePhase is the step a self-upgrade is at.
// +kubebuilder:validation:Enum=Pending;Upgrading;RollingOut;HandingOver;RollingBack;Succeeded;RolledBack;Failed
type OperatorUpgradePhase string

// Self-upgrade phases: Pending, Upgrading, RollingOut, HandingOver and RollingBack are in progress;
// Succeeded, RolledBack and Failed are final.
const (
	// OperatorUpgradePending: requested, not started.
	OperatorUpgradePending OperatorUpgradePhase = "Pending"
	// OperatorUpgradeUpgrading: the dry run passed and `helm upgrade` of the operator's release runs.
	OperatorUpgradeUpgrading OperatorUpgradePhase = "Upgrading"
	// OperatorUpgradeRollingOut: the release is upgraded; the new operator pods are not Ready yet.
	OperatorUpgradeRollingOut OperatorUpgradePhase = "RollingOut"
	// OperatorUpgradeHandingOver: the new operator pods are Ready; the new operator finishes the upgrade.
	OperatorUpgradeHandingOver OperatorUpgradePhase = "HandingOver"
	// OperatorUpgradeRollingBack: the upgrade failed and the release is rolled back.
	OperatorUpgradeRollingBack OperatorUpgradePhase = "RollingBack"
	// OperatorUpgradeSucceeded: the new version runs.
	OperatorUpgradeSucceeded OperatorUpgradePhase = "Succeeded"
	// OperatorUpgradeRolledBack: the upgrade failed and the previous revision runs again.
	OperatorUpgradeRolledBack OperatorUpgradePhase = "RolledBack"
	// OperatorUpgradeFailed: the upgrade failed (and, if something changed, could not be rolled back).
	OperatorUpgradeFailed OperatorUpgradePhase = "Failed"
)

// OperatorUpgradeStatus is the state of a self-upgrade of the operator's own Helm release.
type OperatorUpgradeStatus struct {
	// ActionID is the Cast AI console action that asked for the upgrade ("" when started otherwise).
	// +optional
	ActionID string `json:"actionID,omitempty"`
	// Phase is the step the upgrade is at.
	Phase OperatorUpgradePhase `json:"phase"`
	// Release is the operator's Helm release.
	Release string `json:"release"`
	// FromVersion and ToVersion are the chart versions before and after.
	// +optional
	FromVersion string `json:"fromVersion,omitempty"`
	// ToVersion is the chart version upgraded to.
	ToVersion string `json:"toVersion"`
	// FromRevision is the release revision to roll back to.
	// +optional
	FromRevision int `json:"fromRevision,omitempty"`
	// ToRevision is the revision the upgrade created.
	// +optional
	ToRevision int `json:"toRevision,omitempty"`
	// Message says what happens or what went wrong.
	// +optional
	Message string `json:"message,omitempty"`
	// Runner is the operator pod that runs the current step.
	// +optional
	Runner string `json:"runner,omitempty"`
	// StartedAt is when the upgrade was requested.
	StartedAt metav1.Time `json:"startedAt"`
	// PhaseSince is when the current phase began.
	// +optional
	PhaseSince *metav1.Time `json:"phaseSince,omitempty"`
	// FinishedAt is when the upgrade reached a final phase.
	// +optional
	FinishedAt *metav1.Time `json:"finishedAt,omitempty"`
	// Reported is true once the final result was recorded at Cast AI (exactly one final report).
	// +optional
	Reported bool `json:"reported,omitempty"`
	// Rollback is true when the upgrade was asked for as an explicit rollback: only then may ToVersion
	// be lower than FromVersion.
	// +optional
	Rollback bool `json:"rollback,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=castware,shortName=cwcluster
// +kubebuilder:printcolumn:name="Provider",type=string,JSONPath=`.spec.provider`
// +kubebuilder:printcolumn:name="Cluster ID",type=string,JSONPath=`.spec.cluster.clusterID`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Available",type=string,JSONPath=`.status.conditions[?(@.type=="Available")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// Cluster is the configuration shared by all Cast AI components of this Kubernetes cluster.
type Cluster struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec   ClusterSpec   `json:"spec"`
	Status ClusterStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ClusterList is a list of Clusters.
type ClusterList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Cluster `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Cluster{}, &ClusterList{})
}

// ClusterID returns spec.cluster.clusterID, or "" when not set.
func (c *Cluster) ClusterID() string {
	if c.Spec.Cluster == nil {
		return ""
	}
	return c.Spec.Cluster.ClusterID
}
