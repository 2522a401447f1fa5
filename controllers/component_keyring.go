package controllers

import (
	"cmp"
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/catalog"
	"github.com/castware-operator/castware-operator/internal/charts"
)

// KeyringRecheck is how soon a Component waiting for its Cluster's chart keyring Secret looks again.
const KeyringRecheck = time.Minute

// chartSource is where w's chart is loaded from: verified against the Cluster's keyring when it names one.
func (r *ComponentReconciler) chartSource(w *work) charts.Source {
	return charts.Verifying(r.Charts, w.keyring)
}

// readKeyring sets w.keyring from the Secret the Cluster's spec.helmVerify names. The Secret is read from
// the Cluster's namespace, the operator's own (the manager's cache holds that namespace only). msg
// explains a keyring that is missing or empty; nothing is installed or changed until it is fixed.
func (r *ComponentReconciler) readKeyring(ctx context.Context, w *work) (msg string, err error) {
	v := w.cluster.Spec.HelmVerify
	if v == nil {
		return "", nil
	}
	ref := v.KeyringSecretRef
	key := cmp.Or(ref.Key, castwarev1.DefaultKeyringSecretKey)
	sec := &corev1.Secret{}
	err = r.APIReader.Get(ctx, client.ObjectKey{Namespace: w.cluster.Namespace, Name: ref.Name}, sec)
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Sprintf("Cluster %s requires signed charts (spec.helmVerify) but the keyring Secret %q is not in namespace %s; nothing is installed or changed until it exists",
			w.cluster.Name, ref.Name, w.cluster.Namespace), nil
	case err != nil:
		return "", fmt.Errorf("read the chart keyring Secret %s: %w", ref.Name, err)
	case len(sec.Data[key]) == 0:
		return fmt.Sprintf("Cluster %s requires signed charts (spec.helmVerify) but the keyring Secret %q has no %q entry (or it is empty); nothing is installed or changed until it has one",
			w.cluster.Name, ref.Name, key), nil
	}
	w.keyring = sec.Data[key]
	return "", nil
}

// waitForKeyring records that the Component waits for its Cluster's keyring (Available too while nothing runs).
func (r *ComponentReconciler) waitForKeyring(comp *castwarev1.Component, msg string, err error) (*catalog.ClusterFacts, ctrl.Result, error) {
	if err != nil {
		msg = err.Error()
	}
	r.setProgressing(comp, metav1.ConditionFalse, castwarev1.ReasonChartUnavailable, msg)
	if comp.Status.CurrentVersion == "" {
		r.setAvailable(comp, metav1.ConditionFalse, castwarev1.ReasonChartUnavailable, msg)
	}
	if err != nil {
		return nil, ctrl.Result{}, err
	}
	return nil, ctrl.Result{RequeueAfter: KeyringRecheck}, nil
}
