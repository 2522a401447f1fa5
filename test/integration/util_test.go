package integration

import (
	"fmt"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

func errf(format string, args ...any) error { return fmt.Errorf(format, args...) }

// reconciles returns how many Component reconciles have finished in this process.
func reconciles(t *testing.T) float64 {
	t.Helper()
	mfs, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != "controller_runtime_reconcile_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "controller" && l.GetValue() == "component" {
					total += m.GetCounter().GetValue()
				}
			}
		}
	}
	return total
}

// afterReconcile runs fn and waits until at least one more Component reconcile has finished.
func afterReconcile(t *testing.T, fn func()) {
	t.Helper()
	before := reconciles(t)
	fn()
	eventually(t, 30*time.Second, "a reconcile after the change", func() error {
		if reconciles(t) > before {
			return nil
		}
		return errf("no reconcile yet")
	})
}
