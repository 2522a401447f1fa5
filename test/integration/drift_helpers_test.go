package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// objRef names one object for assertNoWrites (namespace "" for cluster-scoped objects).
func objRef(apiVersion, kind, namespace, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetNamespace(namespace)
	u.SetName(name)
	return u
}

// writtenState is what a write to obj changes: everything but its status, its resourceVersion and the
// managed-fields entries of status writes (controllers report status; only other writes count).
func writtenState(t *testing.T, ref *unstructured.Unstructured) string {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(ref.GroupVersionKind())
	if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(ref), u); err != nil {
		t.Fatalf("read %s %s/%s: %v", ref.GetKind(), ref.GetNamespace(), ref.GetName(), err)
	}
	unstructured.RemoveNestedField(u.Object, "status")
	unstructured.RemoveNestedField(u.Object, "metadata", "resourceVersion")
	var kept []any
	mf, _, _ := unstructured.NestedSlice(u.Object, "metadata", "managedFields")
	for _, e := range mf {
		if m, ok := e.(map[string]any); ok && m["subresource"] == "status" {
			continue
		}
		kept = append(kept, e)
	}
	_ = unstructured.SetNestedSlice(u.Object, kept, "metadata", "managedFields")
	raw, err := json.Marshal(u.Object)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// assertNoWrites checks that none of objs is written (anything but status) and no DriftRepaired event is added
// in ns over at least five more drift checks of each of components; the entries under test re-check drift
// every second.
func assertNoWrites(t *testing.T, ns string, components []string, objs []*unstructured.Unstructured) {
	t.Helper()
	before := repairEvents(t, ns)
	states := make([]string, len(objs))
	for i, o := range objs {
		states[i] = writtenState(t, o)
	}
	checks := map[string]int{}
	for _, c := range components {
		checks[c] = driftChecks(t, c)
	}
	eventually(t, 90*time.Second, "five drift checks of each component", func() error {
		for _, c := range components {
			if n := driftChecks(t, c) - checks[c]; n < 5 {
				return errf("%d drift checks of %s so far", n, c)
			}
		}
		return nil
	})
	for i, o := range objs {
		if now := writtenState(t, o); now != states[i] {
			t.Errorf("%s %s/%s written without a change:\nbefore %s\nafter  %s", o.GetKind(), o.GetNamespace(), o.GetName(), states[i], now)
		}
	}
	if after := repairEvents(t, ns); len(after) != len(before) {
		t.Errorf("false drift repairs reported: %q, before %q", after, before)
	}
	if t.Failed() {
		t.FailNow()
	}
}

// repairEvents returns the messages of the DriftRepaired events in ns, each as often as it was reported (the
// event recorder folds a repeated event into one object with a count).
func repairEvents(t *testing.T, ns string) []string {
	t.Helper()
	var out []string
	for _, e := range events(t, ns, "DriftRepaired") {
		for i := int32(0); i < max(e.Count, 1); i++ {
			out = append(out, e.Message)
		}
	}
	sort.Strings(out)
	return out
}

// waitRepairEvents waits until ns has at least n DriftRepaired reports (events are recorded asynchronously)
// and returns them.
func waitRepairEvents(t *testing.T, ns string, n int) []string {
	t.Helper()
	var evs []string
	eventually(t, 30*time.Second, fmt.Sprintf("%d repair events", n), func() error {
		if evs = repairEvents(t, ns); len(evs) < n {
			return errf("%d repair events: %q", len(evs), evs)
		}
		return nil
	})
	return evs
}

// driftChecks returns how many drift checks of the named component the operators in this process ran.
func driftChecks(t *testing.T, component string) int {
	t.Helper()
	return int(counterSum(t, "castware_drift_checks_total", "component", component))
}
