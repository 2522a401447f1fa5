package faults

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/controllers"
	"github.com/castware-operator/castware-operator/internal/castai"
)

// TestPreDeleteHookAlwaysFails: a Component whose chart's pre-delete hook Job always fails (it can never be
// scheduled and gives up after 1 s) is disabled, or deleted. The uninstall is tried MaxPreDeleteHookTries
// times with the controller's backoff, then the release is uninstalled without its delete hooks, with a
// PreDeleteHookSkipped condition (disabled) and a Warning event saying why; the release and its objects
// are gone, another Component keeps running untouched, and the operator never restarted.
func TestPreDeleteHookAlwaysFails(t *testing.T) {
	for _, mode := range []string{"disabled", "deleted"} {
		t.Run(mode, func(t *testing.T) {
			f := newFixture(t)
			f.createCluster()
			f.start("op-1", nil)
			f.waitRegistered()
			f.createComponent("castai-agent", "0.1.0", nil)
			f.createComponent("hooked", "0.1.0", map[string]any{"preDeleteFails": true})
			f.waitAvailable("hooked", "0.1.0", 2*time.Minute)
			f.waitAvailable("castai-agent", "0.1.0", 2*time.Minute)
			bystander := f.deployment("castai-agent").UID

			start := time.Now()
			f.removeHooked(mode)
			converged := time.Since(start)

			f.assertHookedGone()
			tries := f.hookTries(mode)
			var skipped []string
			eventually(t, 30*time.Second, "a PreDeleteHookSkipped event", func() error {
				if skipped = f.events(castwarev1.ReasonPreDeleteHookSkipped); len(skipped) == 0 {
					return fmt.Errorf("none yet")
				}
				return nil
			})
			if len(skipped) != 1 || !strings.Contains(skipped[0], fmt.Sprintf("failed %d times", controllers.MaxPreDeleteHookTries)) {
				t.Fatalf("PreDeleteHookSkipped events %q, want one naming %d failed tries", skipped, controllers.MaxPreDeleteHookTries)
			}
			f.waitResult("hooked", castai.ActionDisable, castai.StatusOK, 30*time.Second)
			f.assertReportedOnce("hooked", castai.ActionDisable, castai.StatusOK)
			if c := f.waitAvailable("castai-agent", "0.1.0", time.Minute); f.deployment("castai-agent").UID != bystander || len(f.history("castai-agent")) != 1 {
				t.Fatalf("the other Component was touched: %s, history %s", describe(c), revs(f.history("castai-agent")))
			}
			f.assertNoCrash()
			cond := ""
			if mode == "disabled" {
				p := condition(f.component("hooked").Status.Conditions, castwarev1.ConditionProgressing)
				cond = fmt.Sprintf("Progressing=%s/%s; ", p.Status, p.Reason)
			}
			record(t, catHostile, fmt.Sprintf("a Component %s whose chart's pre-delete hook Job always fails (unschedulable, activeDeadlineSeconds 1)", mode),
				fmt.Sprintf("%s; then uninstalled without hooks: %sWarning event %q; release history and its Deployment gone, DISABLE/OK reported once; the failed hook Job is left for inspection; another Component untouched (same Deployment UID, one revision)",
					tries, cond, skipped[0]), converged)
		})
	}
}

// removeHooked disables or deletes hooked and waits until its release was uninstalled without hooks.
func (f *fixture) removeHooked(mode string) {
	f.t.Helper()
	if mode == "disabled" {
		f.patchComponent("hooked", func(c *castwarev1.Component) { c.Spec.Enabled = false })
		f.waitComponent("hooked", "uninstalled without hooks", 3*time.Minute, func(c *castwarev1.Component) error {
			if p := condition(c.Status.Conditions, castwarev1.ConditionProgressing); p.Reason != castwarev1.ReasonPreDeleteHookSkipped || p.Status != metav1.ConditionFalse {
				return fmt.Errorf("Progressing %s/%s", p.Status, p.Reason)
			}
			return nil
		})
		return
	}
	if err := k8s.Delete(context.Background(), &castwarev1.Component{ObjectMeta: metav1.ObjectMeta{Name: "hooked", Namespace: f.ns}}); err != nil {
		f.t.Fatal(err)
	}
	eventually(f.t, 3*time.Minute, "hooked deleted (finalizer released)", func() error {
		err := k8s.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: "hooked"}, &castwarev1.Component{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("still there (%v)", err)
	})
}

// assertHookedGone checks that hooked's release records and Deployment are gone, and that the hook Job ran
// and failed (so the uninstall really had to skip it).
func (f *fixture) assertHookedGone() {
	f.t.Helper()
	if h := f.history("hooked"); len(h) != 0 {
		f.t.Fatalf("release hooked still recorded: %s", revs(h))
	}
	eventually(f.t, time.Minute, "hooked's Deployment deleted", func() error {
		err := k8s.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: "hooked"}, &appsv1.Deployment{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("still there (%v)", err)
	})
	job := &batchv1.Job{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: "hooked-pre-delete"}, job); err != nil {
		f.t.Fatalf("the pre-delete hook Job: %v", err)
	}
	if job.Status.Failed == 0 && !jobFailed(job) {
		f.t.Fatalf("the pre-delete hook Job did not fail: %+v", job.Status)
	}
}

func jobFailed(j *batchv1.Job) bool {
	for _, c := range j.Status.Conditions {
		if c.Type == batchv1.JobFailed && c.Status == "True" {
			return true
		}
	}
	return false
}

// hookTries checks that the uninstall failed MaxPreDeleteHookTries-1 times before the try that skipped the
// hooks, each failure saying which try it was, and describes them.
func (f *fixture) hookTries(mode string) string {
	f.t.Helper()
	want := controllers.MaxPreDeleteHookTries - 1
	var failures []string
	// Events and reports are sent asynchronously: wait until they arrived, then check there are no more.
	eventually(f.t, 30*time.Second, "the failed tries recorded", func() error {
		failures = f.failedTries(mode)
		if len(failures) < want {
			return fmt.Errorf("%d failed uninstall tries recorded: %q", len(failures), failures)
		}
		return nil
	})
	if len(failures) != want {
		f.t.Fatalf("%d failed uninstall tries recorded, want %d: %q", len(failures), want, failures)
	}
	for i, m := range failures {
		if !strings.Contains(m, fmt.Sprintf("try %d of %d", i+1, controllers.MaxPreDeleteHookTries)) || !strings.Contains(m, "pre-delete hook failed") {
			f.t.Fatalf("failure %d does not say which try and why: %q", i+1, m)
		}
	}
	how := "the operator's log; DISABLE/ERROR reported once, the same failure is not sent again"
	if mode == "disabled" {
		f.waitResult("hooked", castai.ActionDisable, castai.StatusError, 30*time.Second)
		f.assertReportedOnce("hooked", castai.ActionDisable, castai.StatusError)
	}
	if mode == "deleted" {
		eventually(f.t, 30*time.Second, "an UninstallFailed event", func() error {
			if len(f.events("UninstallFailed")) == 0 {
				return fmt.Errorf("none yet")
			}
			return nil
		})
		how = "an UninstallFailed Warning event and the operator's log"
	}
	first := oneLine(failures[0])
	if len(first) > 160 {
		first = first[:160] + "…"
	}
	return fmt.Sprintf("the uninstall failed %d times on the hook (%s, each naming its try: %q)", want, how, first)
}

// failedTries returns hooked's failed uninstall tries from the operator's log lines, once per try. (A
// deleted Component reports no error and its UninstallFailed events of one try and the next are one event
// series; a disabled one reports DISABLE/ERROR once: the reporter does not send the same failure again.)
func (f *fixture) failedTries(string) []string {
	var out []string
	for i := 1; i < controllers.MaxPreDeleteHookTries+1; i++ {
		try := fmt.Sprintf("try %d of %d", i, controllers.MaxPreDeleteHookTries)
		if f.logHas(try) {
			out = append(out, try+": pre-delete hook failed (operator log)")
		}
	}
	return out
}
