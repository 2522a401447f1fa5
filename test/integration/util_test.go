package integration

import (
	"fmt"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

func errf(format string, args ...any) error { return fmt.Errorf(format, args...) }

// reconciles returns how many Component reconciles have finished in this process.
func reconciles(t *testing.T) float64 { return controllerReconciles(t, "component") }

// controllerReconciles returns how many reconciles of the named controller have finished in this process.
func controllerReconciles(t *testing.T, controller string) float64 {
	t.Helper()
	return counterSum(t, "controller_runtime_reconcile_total", "controller", controller)
}

// counterSum adds up the series of counter name (on controller-runtime's registry, which the operators in
// this process share) whose label has the given value.
func counterSum(t *testing.T, name, label, value string) float64 {
	t.Helper()
	mfs, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					total += m.GetCounter().GetValue()
				}
			}
		}
	}
	return total
}

// afterReconcile runs fn and waits until at least one more Component reconcile has finished.
func afterReconcile(t *testing.T, fn func()) { afterControllerReconcile(t, "component", fn) }

// afterControllerReconcile runs fn and waits until at least one more reconcile of controller has finished.
func afterControllerReconcile(t *testing.T, controller string, fn func()) {
	t.Helper()
	before := controllerReconciles(t, controller)
	fn()
	eventually(t, 30*time.Second, "a reconcile after the change", func() error {
		if controllerReconciles(t, controller) > before {
			return nil
		}
		return errf("no reconcile yet")
	})
}
