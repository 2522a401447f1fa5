package console

import (
	"context"
	"errors"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/castai"
	"github.com/castware-operator/castware-operator/internal/metrics"
	"github.com/castware-operator/castware-operator/internal/redact"
)

// The exactly-once ledger of console actions is the Cluster's status.handledActions: an action is recorded
// with its result before it is acknowledged, so one delivered again (the acknowledgement was lost, or the
// operator restarted) is acknowledged with its recorded result and not applied twice.

// maxHandledActions bounds Cluster.status.handledActions.
const maxHandledActions = 50

// applyOnce applies an action the Cluster's ledger does not have yet and records it there. It returns the
// action's result (recorded or new), and err when the ledger could not be read or written: the action is
// then not acknowledged, so it is delivered again.
func (p *Poller) applyOnce(ctx context.Context, logger logr.Logger, key types.NamespacedName, a *castai.Action) (actionErr, err error) {
	cl := &castwarev1.Cluster{}
	if err := p.APIReader.Get(ctx, key, cl); err != nil {
		logger.Info("cannot read the cluster; the action is retried on the next poll", "error", err.Error())
		return nil, err
	}
	if h := findHandled(cl, a.ID); h != nil {
		logger.Info("action delivered again; acknowledging its recorded result without applying it twice")
		if h.Error != "" {
			return errors.New(h.Error), nil
		}
		return nil, nil
	}
	actionErr = p.handle(ctx, cl, a)
	metrics.ConsoleActionApplied(string(a.Kind()), a.CreateTime, actionErr)
	if actionErr != nil {
		logger.Info("console action failed", "error", actionErr.Error())
	} else {
		logger.Info("console action applied")
	}
	if err := p.recordHandled(ctx, key, a, actionErr, false); err != nil {
		logger.Error(err, "cannot record the handled action; not acknowledging it so it is delivered again")
		return nil, err
	}
	return actionErr, nil
}

func findHandled(cl *castwarev1.Cluster, id string) *castwarev1.HandledAction {
	for i := range cl.Status.HandledActions {
		if cl.Status.HandledActions[i].ID == id {
			return &cl.Status.HandledActions[i]
		}
	}
	return nil
}

// recordHandled stores (or marks acknowledged) an action in the Cluster's status.
func (p *Poller) recordHandled(ctx context.Context, key types.NamespacedName, a *castai.Action, actionErr error, acked bool) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cl := &castwarev1.Cluster{}
		if err := p.APIReader.Get(ctx, key, cl); err != nil {
			return err
		}
		patch := client.MergeFromWithOptions(cl.DeepCopy(), client.MergeFromWithOptimisticLock{})
		if h := findHandled(cl, a.ID); h != nil {
			if !acked || h.Acked {
				return nil
			}
			h.Acked = true
		} else {
			h := castwarev1.HandledAction{ID: a.ID, Kind: string(a.Kind()), Component: a.ComponentName(), Acked: acked, Time: metav1.Now()}
			if actionErr != nil {
				h.Error = truncate(redact.String(actionErr.Error()), 1000) // redacted whole, then cut
			}
			cl.Status.HandledActions = append(cl.Status.HandledActions, h)
			if n := len(cl.Status.HandledActions); n > maxHandledActions {
				cl.Status.HandledActions = cl.Status.HandledActions[n-maxHandledActions:]
			}
		}
		return p.Client.Status().Patch(ctx, cl, patch)
	})
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
