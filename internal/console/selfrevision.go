package console

import (
	"time"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/helm"
)

// selfUpgradeCoverage says whether the operator's own newest revision belongs to a self-upgrade, whose
// runner reports it (internal/selfupgrade): the registrar must not report it as "revision change detected"
// too. Without this a self-upgrade whose new pods never became Ready was reported UPDATE/OK (the new
// revision seen deployed) and then UPDATE/ERROR (its result).
type selfUpgradeCoverage int

const (
	// selfUpgradeNone: no self-upgrade made the revision; the registrar reports it.
	selfUpgradeNone selfUpgradeCoverage = iota
	// selfUpgradeRunning: a self-upgrade is in progress or its result is not reported yet; its runner
	// reports.
	selfUpgradeRunning
	// selfUpgradeReported: the revision was made by a self-upgrade whose final result was reported.
	selfUpgradeReported
)

// selfUpgradeCovers classifies the operator release's newest revision against the Cluster's self-upgrade.
func selfUpgradeCovers(st *castwarev1.OperatorUpgradeStatus, latest *helm.Revision) selfUpgradeCoverage {
	if st == nil {
		return selfUpgradeNone
	}
	switch st.Phase {
	case castwarev1.OperatorUpgradePending, castwarev1.OperatorUpgradeUpgrading, castwarev1.OperatorUpgradeRollingOut,
		castwarev1.OperatorUpgradeHandingOver, castwarev1.OperatorUpgradeRollingBack:
		return selfUpgradeRunning
	}
	if !st.Reported {
		return selfUpgradeRunning // final, its result not reported yet: the runner still owes it
	}
	if st.FinishedAt == nil || latest == nil || latest.Deployed.IsZero() || latest.Number <= st.FromRevision {
		return selfUpgradeNone
	}
	// Made before the upgrade finished (FinishedAt is stored to the second): the upgrade's own revision
	// or its rollback.
	if latest.Deployed.Before(st.FinishedAt.Add(time.Second)) {
		return selfUpgradeReported
	}
	return selfUpgradeNone
}
