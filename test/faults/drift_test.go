package faults

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Drift: someone edits or deletes a component's Deployment by hand. test/integration TestDriftRepaired covers
// a scale-up, a resources edit and a deletion with the operator in-process; this table adds other edits,
// and a deletion while the operator is down, against the operator process. The agent's container resources
// are the field castai-agent manages itself (catalog driftIgnore): they must be left alone.

func TestDrift(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.createCluster()
	op := f.start("op-1", fastLease)
	f.waitRegistered()
	f.createComponent("castai-agent", "0.1.0", nil)
	f.waitAvailable("castai-agent", "0.1.0", 2*time.Minute)
	orig := f.deployment("castai-agent")
	origImage := orig.Spec.Template.Spec.Containers[0].Image

	// edit changes the Deployment and returns its generation after the edit.
	edit := func(mutate func(d *appsv1.Deployment)) int64 {
		t.Helper()
		var gen int64
		eventually(t, 10*time.Second, "edit the Deployment", func() error {
			d := f.deployment("castai-agent")
			patch := client.MergeFrom(d.DeepCopy())
			mutate(d)
			if err := k8s.Patch(ctx, d, patch); err != nil {
				return err
			}
			gen = d.Generation
			return nil
		})
		return gen
	}
	// repaired waits until ok accepts a Deployment changed again after generation edited.
	repaired := func(what string, edited int64, ok func(d *appsv1.Deployment) error) time.Duration {
		t.Helper()
		start := time.Now()
		eventually(t, time.Minute, what, func() error {
			d := &appsv1.Deployment{}
			if err := k8s.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: "castai-agent"}, d); err != nil {
				return err
			}
			if d.DeletionTimestamp != nil {
				return fmt.Errorf("terminating")
			}
			if d.Generation <= edited {
				return fmt.Errorf("generation %d: not changed since the edit", d.Generation)
			}
			return ok(d)
		})
		f.waitAvailable("castai-agent", "0.1.0", time.Minute)
		return time.Since(start)
	}
	for _, tc := range []struct {
		fault, did string
		mutate     func(d *appsv1.Deployment)
		ok         func(d *appsv1.Deployment) error
	}{
		{"image changed by hand and the agent's resources resized (as its autoscaler does)",
			"image put back; the resources, which castai-agent manages itself (catalog driftIgnore), left as they were",
			func(d *appsv1.Deployment) {
				d.Spec.Template.Spec.Containers[0].Image = "registry.local/hacked:latest"
				d.Spec.Template.Spec.Containers[0].Resources.Requests[corev1.ResourceMemory] = resource.MustParse("3Gi")
			},
			func(d *appsv1.Deployment) error {
				c := d.Spec.Template.Spec.Containers[0]
				if c.Image != origImage {
					return fmt.Errorf("image %s", c.Image)
				}
				if m := c.Resources.Requests[corev1.ResourceMemory]; m.String() != "3Gi" {
					t.Fatalf("drift repair reset the resources castai-agent manages itself: %s", m.String())
				}
				return nil
			}},
		{"an environment variable the chart sets removed, another one added",
			"the chart's variable put back; the added one left (fields the chart does not set are not drift)",
			func(d *appsv1.Deployment) {
				c := &d.Spec.Template.Spec.Containers[0]
				var env []corev1.EnvVar
				for _, e := range c.Env {
					if e.Name != "API_URL" {
						env = append(env, e)
					}
				}
				c.Env = append(env, corev1.EnvVar{Name: "DEBUG", Value: "1"})
			},
			func(d *appsv1.Deployment) error {
				names := map[string]bool{}
				for _, e := range d.Spec.Template.Spec.Containers[0].Env {
					names[e.Name] = true
				}
				if !names["API_URL"] {
					return fmt.Errorf("env %v", names)
				}
				if !names["DEBUG"] {
					t.Fatalf("drift repair removed a variable the chart does not set: %v", names)
				}
				return nil
			}},
		{"scaled to 0 by hand", "scaled back to the chart's 2 replicas",
			func(d *appsv1.Deployment) { zero := int32(0); d.Spec.Replicas = &zero },
			func(d *appsv1.Deployment) error {
				if *d.Spec.Replicas != 2 {
					return fmt.Errorf("replicas %d", *d.Spec.Replicas)
				}
				return nil
			}},
	} {
		took := repaired("repaired: "+tc.fault, edit(tc.mutate), tc.ok)
		record(t, catDrift, "Deployment: "+tc.fault, tc.did+"; the component Available again", took)
	}

	// Deleted while the operator is down: repaired when it is back.
	op.kill()
	uid := f.deployment("castai-agent").UID
	if err := k8s.Delete(ctx, f.deployment("castai-agent")); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "deleted", func() error {
		d := &appsv1.Deployment{}
		err := k8s.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: "castai-agent"}, d)
		if apierrors.IsNotFound(err) || (err == nil && d.UID != uid) {
			return nil
		}
		return fmt.Errorf("still there (%v)", err)
	})
	f.start("op-2", fastLease)
	took := repaired("re-created after the restart", 0, func(d *appsv1.Deployment) error {
		if d.UID == uid {
			return fmt.Errorf("old Deployment")
		}
		return nil
	})
	// Events are written asynchronously by the recorder: on a starved machine they land after the repair.
	eventually(t, time.Minute, "drift repairs reported as events", func() error {
		notes := strings.Join(f.events("DriftRepaired"), " | ")
		if !strings.Contains(notes, "created Deployment castai-agent") || !strings.Contains(notes, "patched Deployment castai-agent") {
			return fmt.Errorf("events: %s", notes)
		}
		return nil
	})
	if h := f.assertReleaseSane("castai-agent"); len(h) != 1 {
		t.Fatalf("drift repair made new revisions: %s", revs(h))
	}
	f.assertNoCrash()
	record(t, catDrift, "Deployment deleted while the operator was down (SIGKILLed)",
		"the restarted operator re-created it from the release's manifest (no new Helm revision; a DriftRepaired event for every repair); measured from the restart, including the 15 s lease of the killed process", took)
}
