package v1alpha1

// Condition types used on Clusters and Components.
const (
	// ConditionAvailable is True when the resource is usable: for a Component, its release is deployed and its
	// workloads are ready; for a Cluster, its configuration is valid and it is registered.
	ConditionAvailable = "Available"
	// ConditionProgressing is True while a change is under way; when False its reason says how the last change ended.
	ConditionProgressing = "Progressing"
	// ConditionDegraded is True when something needs attention although the resource may still work.
	ConditionDegraded = "Degraded"
	// ConditionExtendedPermissions (Clusters) is True when the operator holds the Phase 2 permissions; when False
	// its message lists the missing rules and how to grant them.
	ConditionExtendedPermissions = "ExtendedPermissions"
	// ConditionInsecureTransport (Clusters) is True while the Cluster lets its API URL or chart repository use
	// plain http to a host that is not loopback (annotation castware.cast.ai/allow-plain-http).
	ConditionInsecureTransport = "InsecureTransport"
)

// Condition reasons. The documented operator's reasons are kept; the others are additions.
const (
	// ReasonInstalling means an install is under way (or, on Available=False, the component is not installed yet).
	ReasonInstalling = "Installing"
	// ReasonUpgrading means an upgrade is under way.
	ReasonUpgrading = "Upgrading"
	// ReasonMigrating means an existing installation is being adopted.
	ReasonMigrating = "Migrating"
	// ReasonRollingBack means a rollback is under way.
	ReasonRollingBack = "RollingBack"
	// ReasonUninstalling means an uninstall is under way.
	ReasonUninstalling = "Uninstalling"
	// ReasonCompleted means the last change finished and the component is healthy.
	ReasonCompleted = "Completed"
	// ReasonFailed means the last change failed; the message says why.
	ReasonFailed = "Failed"
	// ReasonInstalled means the release is deployed and all its workloads are ready.
	ReasonInstalled = "Installed"
	// ReasonInstallFailed means the component could not be installed; the message says why.
	ReasonInstallFailed = "InstallFailed"
	// ReasonMigrationFailed means adopting an existing installation failed.
	ReasonMigrationFailed = "MigrationFailed"
	// ReasonAdopted means an existing installation was taken over.
	ReasonAdopted = "Adopted"
	// ReasonWaitingForReady means the release is deployed but some workloads are not ready yet.
	ReasonWaitingForReady = "WaitingForReady"
	// ReasonNotReady means the deployed workloads stopped being ready.
	ReasonNotReady = "NotReady"
	// ReasonRolledBack means a failed upgrade was rolled back to the previous good revision.
	ReasonRolledBack = "RolledBack"
	// ReasonUpgradeFailed means an upgrade failed and was undone.
	ReasonUpgradeFailed = "UpgradeFailed"
	// ReasonChartUnavailable means the chart could not be fetched (missing version, repository down, bad archive).
	ReasonChartUnavailable = "ChartUnavailable"
	// ReasonInvalidValues means the values could not be composed or were rejected by the chart.
	ReasonInvalidValues = "InvalidValues"
	// ReasonUnknownComponent means the component is not in the catalog and has no chart label.
	ReasonUnknownComponent = "UnknownComponent"
	// ReasonWaitingForCluster means the Component's Cluster is missing or not Available.
	ReasonWaitingForCluster = "WaitingForCluster"
	// ReasonDisabled means enabled is false and the release is not installed.
	ReasonDisabled = "Disabled"
	// ReasonReadonly means the operator only mirrors the installed version.
	ReasonReadonly = "Readonly"
	// ReasonReleaseRecovered means a release left pending by an interrupted operation was recovered.
	ReasonReleaseRecovered = "ReleaseRecovered"
	// ReasonMissingPermissions means the operator lacks RBAC rules the component's chart needs.
	ReasonMissingPermissions = "MissingPermissions"
	// ReasonForbiddenSubjects means the chart binds roles to subjects the operator never grants to (a chart or values problem).
	ReasonForbiddenSubjects = "ForbiddenSubjects"
	// ReasonUpgradeBlocked means Cast AI refused the upgrade to spec.version (components:validateUpgrade).
	ReasonUpgradeBlocked = "UpgradeBlocked"
	// ReasonUpgradeNotValidated means Cast AI could not be asked whether the upgrade is allowed; it is retried.
	ReasonUpgradeNotValidated = "UpgradeNotValidated"
	// ReasonReleaseNotOwned means the release the Component names is not its own (another chart, the
	// operator's own release, or another Component's); the operator leaves it alone.
	ReasonReleaseNotOwned = "ReleaseNotOwned"
	// ReasonPreDeleteHookSkipped means the release was uninstalled without its delete hooks because its
	// pre-delete hook kept failing.
	ReasonPreDeleteHookSkipped = "PreDeleteHookSkipped"
	// ReasonPermissionsGranted means the operator holds the Phase 2 permissions (ExtendedPermissions=True).
	ReasonPermissionsGranted = "Granted"
	// ReasonPermissionsNotEnabled means extendedPermissions is not enabled: the operator chart's labelled
	// bindings do not exist (ExtendedPermissions=False).
	ReasonPermissionsNotEnabled = "NotEnabled"

	// ReasonClusterReady means the Cluster's configuration is valid.
	ReasonClusterReady = "ClusterIdAvailable"
	// ReasonInvalidSpec means the Cluster's spec is invalid; the message says which field.
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonSecretMissing means the API-key Secret or its API_KEY entry is missing.
	ReasonSecretMissing = "APIKeySecretMissing"
)
