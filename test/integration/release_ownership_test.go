package integration

import (
	"context"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/castai"
)

// TestReleasesBelongToTheirComponent: written without the webhook (the API path), a Component naming the
// operator's own release or another Component's installed release is refused before Helm runs, and a
// chart-label swap on a running Component neither upgrades nor, once disabled, uninstalls its release.
func TestReleasesBelongToTheirComponent(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	startOperator(t, ns)
	createCluster(t, ns)
	if err := k8s.Create(ctx, newComponent(ns, "castai-agent", "castai-agent", "0.1.0", nil)); err != nil {
		t.Fatal(err)
	}
	agent := waitAvailable(t, ns, "castai-agent", "0.1.0", 90*time.Second)

	hijacks := map[string]string{"operator": "castware-operator", "other-component": "castai-agent"}
	for name, release := range hijacks {
		c := newComponent(ns, "hijack-"+name, "greeter", "1.0.0", nil) // a chart that exists: only the refusal stops the install
		c.Spec.ReleaseName = release
		if err := k8s.Create(ctx, c); err != nil {
			t.Fatal(err)
		}
		eventually(t, 60*time.Second, "release name "+release+" refused", func() error {
			got := getComponent(t, ns, c.Name)
			if p := condition(got, castwarev1.ConditionProgressing); p.Reason != castwarev1.ReasonReleaseNotOwned {
				return errf("%s", describe(got))
			}
			return nil
		})
	}
	if hist, err := env.History(ctx, ns, "castware-operator"); err == nil && len(hist) > 0 {
		t.Fatalf("a release named after the operator's was made: %s", revs(hist))
	}

	// A chart-label swap on the running agent: refused, its release untouched, even when disabled.
	patchComponent(t, ns, "castai-agent", func(c *castwarev1.Component) {
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		c.Labels[castwarev1.LabelHelmChart] = "test-statefulset"
	})
	eventually(t, 60*time.Second, "chart swap refused", func() error {
		got := getComponent(t, ns, "castai-agent")
		if p := condition(got, castwarev1.ConditionProgressing); p.Reason != castwarev1.ReasonReleaseNotOwned {
			return errf("%s", describe(got))
		}
		return nil
	})
	patchComponent(t, ns, "castai-agent", func(c *castwarev1.Component) { c.Spec.Enabled = false })
	eventually(t, 60*time.Second, "disable refused for the swapped chart", func() error {
		got := getComponent(t, ns, "castai-agent")
		if got.Status.ObservedGeneration != got.Generation || condition(got, castwarev1.ConditionProgressing).Reason != castwarev1.ReasonReleaseNotOwned {
			return errf("%s", describe(got))
		}
		return nil
	})
	hist, err := env.History(ctx, ns, "castai-agent")
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 1 || hist[0].Version != agent.Status.Revision || hist[0].Chart.Metadata.Name != "test-deployment" {
		t.Fatalf("the agent's release was touched: %s", revs(hist))
	}
	if d := deployment(t, ns, "castai-agent"); d.DeletionTimestamp != nil {
		t.Fatalf("the agent's Deployment is being deleted")
	}
}

// TestConsoleCannotTakeTheOperatorsRelease: a console install action naming the operator's own release
// creates the Component it asks for, but nothing is installed under that name: the controller refuses it
// before Helm runs, as for a Component written by hand.
func TestConsoleCannotTakeTheOperatorsRelease(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	startOperator(t, ns)
	createCluster(t, ns)
	fakeAPI(t, ns).EnqueueAction(testClusterID, castai.Action{Install: &castai.ChartAction{Component: "spot-handler", Version: "0.1.0",
		ReleaseName: "castware-operator"}})
	eventually(t, 60*time.Second, "the console's release name refused", func() error {
		got := &castwarev1.Component{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "spot-handler"}, got); err != nil {
			return err
		}
		if got.Spec.ReleaseName != "castware-operator" || condition(got, castwarev1.ConditionProgressing).Reason != castwarev1.ReasonReleaseNotOwned {
			return errf("%s", describe(got))
		}
		return nil
	})
	if hist, err := env.History(ctx, ns, "castware-operator"); err == nil && len(hist) > 0 {
		t.Fatalf("a release named after the operator's was made from a console action: %s", revs(hist))
	}
}
