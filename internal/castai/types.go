package castai

import (
	"fmt"
	"slices"
	"time"
)

// ZeroUUID is the cluster ID sent when registering a cluster whose ID is not yet known.
const ZeroUUID = "00000000-0000-0000-0000-000000000000"

// CastwareInstallMethod tells the API how the Cast AI components of a cluster are installed.
type CastwareInstallMethod int

// CastwareInstallMethodOperator marks a cluster whose components are managed by the operator.
const CastwareInstallMethodOperator CastwareInstallMethod = 1

// Me is the identity behind an API key (GET /v1/me).
type Me struct {
	ID       string `json:"id"`
	Username string `json:"username"`
}

// ExternalCluster is a registered cluster (GET /v1/kubernetes/external-clusters/{id}).
type ExternalCluster struct {
	ID                      string     `json:"id,omitempty"`
	Name                    string     `json:"name,omitempty"`
	OrganizationID          string     `json:"organization_id,omitempty"`
	CreatedAt               *time.Time `json:"created_at,omitempty"`
	Status                  string     `json:"status,omitempty"`
	AgentSnapshotReceivedAt *time.Time `json:"agent_snapshot_received_at,omitempty"`
	AgentStatus             string     `json:"agent_status,omitempty"`
}

// EKSParams is the provider block of an EKS cluster registration.
type EKSParams struct {
	ClusterName string `json:"clusterName"`
	Region      string `json:"region"`
	AccountID   string `json:"accountId"`
}

// GKEParams is the provider block of a GKE cluster registration.
type GKEParams struct {
	Region      string `json:"region"`
	ProjectID   string `json:"projectId"`
	ClusterName string `json:"clusterName"`
	Location    string `json:"location"`
}

// AKSParams is the provider block of an AKS cluster registration.
type AKSParams struct {
	Region            string `json:"region"`
	NodeResourceGroup string `json:"nodeResourceGroup"`
	SubscriptionID    string `json:"subscriptionId"`
}

// RegisterClusterRequest is the body of POST /v1/kubernetes/external-clusters.
// Exactly one of EKS, GKE and AKS must be set. RegisterCluster fills ID (ZeroUUID when
// empty) and CastwareInstallMethod (always CastwareInstallMethodOperator).
type RegisterClusterRequest struct {
	ID                    string                `json:"id"`
	Name                  string                `json:"name,omitempty"`
	EKS                   *EKSParams            `json:"eks,omitempty"`
	GKE                   *GKEParams            `json:"gke,omitempty"`
	AKS                   *AKSParams            `json:"aks,omitempty"`
	CastwareInstallMethod CastwareInstallMethod `json:"castware_install_method"`
}

// Provider returns "eks", "gke" or "aks" for the single provider block that is set, or "".
func (r *RegisterClusterRequest) Provider() string {
	switch {
	case r.EKS != nil && r.GKE == nil && r.AKS == nil:
		return "eks"
	case r.GKE != nil && r.EKS == nil && r.AKS == nil:
		return "gke"
	case r.AKS != nil && r.EKS == nil && r.GKE == nil:
		return "aks"
	}
	return ""
}

// RegisterClusterResponse is the answer to a cluster registration.
type RegisterClusterResponse struct {
	ID             string `json:"id"`
	OrganizationID string `json:"organizationId"`
}

// ComponentInfo describes a component of the Cast AI catalog (components:getByName).
type ComponentInfo struct {
	ID            string   `json:"id"`
	Name          string   `json:"name"`
	HelmChart     string   `json:"helmChart"`
	Dependencies  []string `json:"dependencies"`
	LatestVersion string   `json:"latestVersion"`
	ReleaseName   string   `json:"releaseName"`
}

// clone returns a deep copy so cached values cannot be mutated by callers.
func (c *ComponentInfo) clone() *ComponentInfo {
	out := *c
	out.Dependencies = slices.Clone(c.Dependencies) // nil stays nil, empty stays empty
	return &out
}

// ActionType is the action reported in an ActionResult.
type ActionType string

// Action types accepted by components:recordActionResult.
const (
	ActionEnable   ActionType = "ENABLE"
	ActionUpdate   ActionType = "UPDATE"
	ActionDisable  ActionType = "DISABLE"
	ActionRollback ActionType = "ROLLBACK"
)

// Valid reports whether t is one of the action types the API accepts.
func (t ActionType) Valid() bool {
	switch t {
	case ActionEnable, ActionUpdate, ActionDisable, ActionRollback:
		return true
	}
	return false
}

// ComponentStatus is the component status reported in an ActionResult.
type ComponentStatus string

// Component statuses; the operator reports OK, ERROR and PROGRESSING.
const (
	StatusOK             ComponentStatus = "OK"
	StatusError          ComponentStatus = "ERROR"
	StatusProgressing    ComponentStatus = "PROGRESSING"
	StatusUnspecified    ComponentStatus = "STATUS_UNSPECIFIED"
	StatusDisconnected   ComponentStatus = "DISCONNECTED"
	StatusUpdateNeeded   ComponentStatus = "UPDATE_NEEDED"
	StatusActionRequired ComponentStatus = "ACTION_REQUIRED"
)

// Valid reports whether s is a status value of the API enum.
func (s ComponentStatus) Valid() bool {
	switch s {
	case StatusOK, StatusError, StatusProgressing, StatusUnspecified, StatusDisconnected,
		StatusUpdateNeeded, StatusActionRequired:
		return true
	}
	return false
}

// ActionResult is the body of components:recordActionResult.
type ActionResult struct {
	Name            string            `json:"name"`
	Action          ActionType        `json:"action"`
	CurrentVersion  string            `json:"current_version,omitempty"`
	Version         string            `json:"version,omitempty"`
	Status          ComponentStatus   `json:"status"`
	ImageVersions   map[string]string `json:"image_versions,omitempty"`
	ReleaseName     string            `json:"release_name,omitempty"`
	Message         string            `json:"message,omitempty"`
	ComponentParams map[string]string `json:"component_params,omitempty"`
}

// ActionKind names the kind of a lifecycle action.
type ActionKind string

// Lifecycle action kinds; ActionKindNone means no (known) payload was set.
const (
	ActionKindNone      ActionKind = ""
	ActionKindInstall   ActionKind = "install"
	ActionKindUpgrade   ActionKind = "upgrade"
	ActionKindRollback  ActionKind = "rollback"
	ActionKindUninstall ActionKind = "uninstall"
)

// Action is one lifecycle action returned by lifecycle-actions:poll; exactly one payload is set.
type Action struct {
	ID         string           `json:"id"`
	CreateTime time.Time        `json:"createTime,omitzero"`
	Install    *ChartAction     `json:"install,omitempty"`
	Upgrade    *ChartAction     `json:"upgrade,omitempty"`
	Rollback   *ComponentTarget `json:"rollback,omitempty"`
	Uninstall  *ComponentTarget `json:"uninstall,omitempty"`
}

// ChartAction is the payload of an install or upgrade action.
type ChartAction struct {
	Version              string            `json:"version"`
	Component            string            `json:"component"`
	Upsert               bool              `json:"upsert,omitempty"`
	ValuesOverrides      map[string]string `json:"valuesOverrides,omitempty"`
	ResetThenReuseValues bool              `json:"resetThenReuseValues"`
	ReleaseName          string            `json:"releaseName,omitempty"`
}

// ComponentTarget is the payload of a rollback or uninstall action.
type ComponentTarget struct {
	Component string `json:"component"`
}

// Kind returns the kind of the first payload that is set, or ActionKindNone.
func (a *Action) Kind() ActionKind {
	switch {
	case a.Install != nil:
		return ActionKindInstall
	case a.Upgrade != nil:
		return ActionKindUpgrade
	case a.Rollback != nil:
		return ActionKindRollback
	case a.Uninstall != nil:
		return ActionKindUninstall
	}
	return ActionKindNone
}

// ComponentName returns the component the action targets, or "" when no payload is set.
func (a *Action) ComponentName() string {
	switch a.Kind() {
	case ActionKindInstall:
		return a.Install.Component
	case ActionKindUpgrade:
		return a.Upgrade.Component
	case ActionKindRollback:
		return a.Rollback.Component
	case ActionKindUninstall:
		return a.Uninstall.Component
	}
	return ""
}

// Validate reports an error unless the action has an ID, exactly one payload and a component.
func (a *Action) Validate() error {
	n := 0
	for _, set := range []bool{a.Install != nil, a.Upgrade != nil, a.Rollback != nil, a.Uninstall != nil} {
		if set {
			n++
		}
	}
	switch {
	case a.ID == "":
		return fmt.Errorf("action has no id")
	case n == 0:
		return fmt.Errorf("action %s has no known payload (install, upgrade, rollback, uninstall)", a.ID)
	case n > 1:
		return fmt.Errorf("action %s has %d payloads, want exactly one", a.ID, n)
	case a.ComponentName() == "":
		return fmt.Errorf("%s action %s names no component", a.Kind(), a.ID)
	}
	return nil
}

// PollOptions tunes one PollActions call.
type PollOptions struct {
	// MaxActions caps the number of actions returned; <= 0 means 10.
	MaxActions int
	// Wait is how long the caller lets the server hold the request when no action is
	// pending. When > 0 it is sent as a hint (header X-Castware-Poll-Wait) and bounds the
	// call's timeout to Wait plus the normal per-call timeout; 0 uses the poll timeout.
	Wait time.Duration
}

// PollWaitHeader carries PollOptions.Wait as a Go duration string.
const PollWaitHeader = "X-Castware-Poll-Wait"

// PollResponse is the body of lifecycle-actions:poll.
type PollResponse struct {
	Actions []Action `json:"actions"`
}

// AckRequest is the body of lifecycle-actions/{id}:ack; a nil Error means success.
type AckRequest struct {
	Error *string `json:"error"`
}

// ValidateUpgradeRequest is the body of components:validateUpgrade.
type ValidateUpgradeRequest struct {
	ClusterID     string `json:"cluster_id"`
	ComponentName string `json:"component_name"`
	TargetVersion string `json:"target_version"`
}

// ValidateUpgradeResponse says whether an upgrade is allowed and, if not, why.
type ValidateUpgradeResponse struct {
	Allowed     bool   `json:"allowed"`
	BlockReason string `json:"blockReason,omitempty"`
}

// LogLevel is the level of a shipped log entry.
type LogLevel string

// Log levels accepted by the log ingestion endpoint.
const (
	LogLevelDebug   LogLevel = "LOG_LEVEL_DEBUG"
	LogLevelInfo    LogLevel = "LOG_LEVEL_INFO"
	LogLevelWarning LogLevel = "LOG_LEVEL_WARNING"
	LogLevelError   LogLevel = "LOG_LEVEL_ERROR"
	LogLevelFatal   LogLevel = "LOG_LEVEL_FATAL"
)

// rank orders levels for minimum-level filtering; unknown levels rank as info.
func (l LogLevel) rank() int {
	switch l {
	case LogLevelDebug:
		return 0
	case LogLevelWarning:
		return 2
	case LogLevelError:
		return 3
	case LogLevelFatal:
		return 4
	}
	return 1
}

// LogEntry is one shipped log line.
type LogEntry struct {
	Level   LogLevel          `json:"level"`
	Message string            `json:"message"`
	Time    time.Time         `json:"time"`
	Fields  map[string]string `json:"fields,omitempty"`
}

// LogBatch is the body of the log ingestion endpoint.
type LogBatch struct {
	// Version is "castware-operator/vX"; ShipLogs fills it from the client version when empty.
	Version string     `json:"version"`
	Entries []LogEntry `json:"entries"`
}
