package webhook

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"sigs.k8s.io/yaml"
)

// TestGeneratedConfigurationsCannotWedgeDeletion checks the generated webhook configurations for what keeps
// deletes, finalizer removals and metadata or status updates independent of the operator.
func TestGeneratedConfigurationsCannotWedgeDeletion(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	raw, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "config", "webhook", "manifests.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var mutating []admissionregistrationv1.MutatingWebhook
	var validating []admissionregistrationv1.ValidatingWebhook
	for _, doc := range bytes.Split(raw, []byte("\n---\n")) {
		var meta struct{ Kind string }
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			t.Fatal(err)
		}
		switch meta.Kind {
		case "MutatingWebhookConfiguration":
			var c admissionregistrationv1.MutatingWebhookConfiguration
			if err := yaml.UnmarshalStrict(doc, &c); err != nil {
				t.Fatal(err)
			}
			mutating = append(mutating, c.Webhooks...)
		case "ValidatingWebhookConfiguration":
			var c admissionregistrationv1.ValidatingWebhookConfiguration
			if err := yaml.UnmarshalStrict(doc, &c); err != nil {
				t.Fatal(err)
			}
			validating = append(validating, c.Webhooks...)
		}
	}
	if len(mutating) != 2 || len(validating) != 2 {
		t.Fatalf("%d mutating and %d validating webhooks, want 2 and 2", len(mutating), len(validating))
	}
	type common struct {
		name       string
		rules      []admissionregistrationv1.RuleWithOperations
		conditions []admissionregistrationv1.MatchCondition
		timeout    *int32
		policy     *admissionregistrationv1.FailurePolicyType
		sideEffect *admissionregistrationv1.SideEffectClass
	}
	var all []common
	for _, w := range mutating {
		all = append(all, common{w.Name, w.Rules, w.MatchConditions, w.TimeoutSeconds, w.FailurePolicy, w.SideEffects})
		if w.FailurePolicy == nil || *w.FailurePolicy != admissionregistrationv1.Ignore {
			t.Errorf("%s: defaulting must use failurePolicy Ignore (the controller applies the same defaults)", w.Name)
		}
	}
	for _, w := range validating {
		all = append(all, common{w.Name, w.Rules, w.MatchConditions, w.TimeoutSeconds, w.FailurePolicy, w.SideEffects})
		if w.FailurePolicy == nil || *w.FailurePolicy != admissionregistrationv1.Fail {
			t.Errorf("%s: validation must use failurePolicy Fail", w.Name)
		}
	}
	for _, w := range all {
		for _, r := range w.rules {
			for _, op := range r.Operations {
				if op != admissionregistrationv1.Create && op != admissionregistrationv1.Update {
					t.Errorf("%s: operation %s is intercepted; only CREATE and UPDATE may be", w.name, op)
				}
			}
			for _, res := range r.Resources {
				if res != "clusters" && res != "components" {
					t.Errorf("%s: resource %q is intercepted (status and other subresources must never be)", w.name, res)
				}
			}
		}
		names := map[string]string{}
		for _, c := range w.conditions {
			names[c.Name] = c.Expression
		}
		if names["not-being-deleted"] != "!has(object.metadata.deletionTimestamp)" {
			t.Errorf("%s: no matchCondition skipping objects being deleted", w.name)
		}
		if !strings.Contains(names["spec-changed"], "object.spec != oldObject.spec") {
			t.Errorf("%s: no matchCondition skipping updates that leave the spec alone", w.name)
		}
		if w.timeout == nil || *w.timeout > 5 {
			t.Errorf("%s: timeoutSeconds must be set and at most 5", w.name)
		}
		if w.sideEffect == nil || *w.sideEffect != admissionregistrationv1.SideEffectClassNone {
			t.Errorf("%s: sideEffects must be None (dry runs call it)", w.name)
		}
	}
}
