package metrics

import "github.com/prometheus/client_golang/prometheus"

// Drift check results (the result label of castware_drift_checks_total).
const (
	// DriftClean is a check that found nothing to repair.
	DriftClean = "clean"
	// DriftRepaired is a check that changed at least one object.
	DriftRepaired = "repaired"
)

var driftChecks = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "castware_drift_checks_total",
	Help: "Drift checks of a Component's release objects, by component and result (clean, repaired, error).",
}, []string{"component", "result"})

// DriftChecked records one drift check of a component that repaired n objects (or failed with err).
func DriftChecked(component string, n int, err error) {
	result := DriftClean
	switch {
	case err != nil:
		result = Failure
	case n > 0:
		result = DriftRepaired
	}
	driftChecks.WithLabelValues(component, result).Inc()
}
