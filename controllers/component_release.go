package controllers

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/catalog"
)

// releaseProblem says why w's Component may not touch its release name: it changed after the install,
// it is the operator's own release, or another Component holds it ("" when it may). The webhook refuses
// the same; this covers writes made while it was off.
func (r *ComponentReconciler) releaseProblem(ctx context.Context, w *work) (string, error) {
	comp := w.comp
	if was := comp.Status.ReleaseName; was != "" && was != w.release && comp.Status.Revision > 0 {
		return fmt.Sprintf("spec.releaseName cannot change once installed: the release is %q (set it back; to move it, disable the Component first)", was), nil
	}
	var list castwarev1.ComponentList
	if err := r.Client.List(ctx, &list, client.InNamespace(comp.Namespace)); err != nil {
		return "", fmt.Errorf("list Components: %w", err)
	}
	var others []catalog.Claim
	for i := range list.Items {
		if c := r.claimOf(&list.Items[i], ""); c.Release != "" {
			others = append(others, c)
		}
	}
	return catalog.ReleaseConflict(r.claimOf(comp, w.release), r.OwnRelease, others), nil
}

// claimOf is a Component's claim on its release name (release, when given, is the name it wants now).
func (r *ComponentReconciler) claimOf(c *castwarev1.Component, release string) catalog.Claim {
	if release == "" {
		release = c.Status.ReleaseName
	}
	if release == "" && r.Catalog != nil {
		if entry, err := r.entryFor(c); err == nil {
			release = releaseName(c, entry)
		}
	}
	return catalog.Claim{Component: c.Namespace + "/" + c.Name, Release: release, Installed: c.Status.Revision > 0 && c.Status.ReleaseName == release,
		Created: c.CreationTimestamp.Time}
}
