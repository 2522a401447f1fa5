package console

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/helm"
)

func TestSelfUpgradeCovers(t *testing.T) {
	finished := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	rev := func(n int, deployed time.Time) *helm.Revision { return &helm.Revision{Number: n, Deployed: deployed} }
	final := func(phase castwarev1.OperatorUpgradePhase, reported bool) *castwarev1.OperatorUpgradeStatus {
		at := metav1.NewTime(finished)
		return &castwarev1.OperatorUpgradeStatus{Phase: phase, FromRevision: 1, ToRevision: 2, Reported: reported, FinishedAt: &at}
	}
	tests := []struct {
		name   string
		st     *castwarev1.OperatorUpgradeStatus
		latest *helm.Revision
		want   selfUpgradeCoverage
	}{
		{"no self-upgrade", nil, rev(2, finished), selfUpgradeNone},
		{"rolling out: the runner reports", &castwarev1.OperatorUpgradeStatus{Phase: castwarev1.OperatorUpgradeRollingOut}, rev(2, finished), selfUpgradeRunning},
		{"rolling back", &castwarev1.OperatorUpgradeStatus{Phase: castwarev1.OperatorUpgradeRollingBack}, rev(3, finished), selfUpgradeRunning},
		{"succeeded and reported: its revision is covered", final(castwarev1.OperatorUpgradeSucceeded, true), rev(2, finished.Add(-time.Minute)), selfUpgradeReported},
		{"rolled back within the second it finished", final(castwarev1.OperatorUpgradeRolledBack, true), rev(3, finished.Add(500*time.Millisecond)), selfUpgradeReported},
		{"final but not reported yet: the runner still owes the report", final(castwarev1.OperatorUpgradeSucceeded, false), rev(2, finished), selfUpgradeRunning},
		{"a later helm upgrade by hand is reported", final(castwarev1.OperatorUpgradeSucceeded, true), rev(3, finished.Add(time.Hour)), selfUpgradeNone},
		{"the revision it started from", final(castwarev1.OperatorUpgradeFailed, true), rev(1, finished.Add(-time.Hour)), selfUpgradeNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := selfUpgradeCovers(tt.st, tt.latest); got != tt.want {
				t.Fatalf("selfUpgradeCovers = %d, want %d", got, tt.want)
			}
		})
	}
}
