package testharness

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
)

// Condition returns the condition of type typ, or an empty one.
func Condition(conds []metav1.Condition, typ string) metav1.Condition {
	if c := meta.FindStatusCondition(conds, typ); c != nil {
		return *c
	}
	return metav1.Condition{}
}

// Describe summarises a Component's versions, revision and conditions for a test failure.
func Describe(c *castwarev1.Component) string {
	var parts []string
	for _, cond := range c.Status.Conditions {
		parts = append(parts, fmt.Sprintf("%s=%s/%s: %s", cond.Type, cond.Status, cond.Reason, cond.Message))
	}
	return fmt.Sprintf("current=%q wanted=%q rev=%d [%s]", c.Status.CurrentVersion, c.Spec.Version, c.Status.Revision, strings.Join(parts, "; "))
}

// AvailableAt returns nil when the Component runs version, is Available, has nothing in progress and its
// status describes its current generation; otherwise an error that describes it.
func AvailableAt(c *castwarev1.Component, version string) error {
	if c.Status.CurrentVersion == version && Condition(c.Status.Conditions, castwarev1.ConditionAvailable).Status == metav1.ConditionTrue &&
		Condition(c.Status.Conditions, castwarev1.ConditionProgressing).Status == metav1.ConditionFalse && c.Status.ObservedGeneration == c.Generation {
		return nil
	}
	return fmt.Errorf("%s", Describe(c))
}
