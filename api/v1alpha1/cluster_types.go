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
