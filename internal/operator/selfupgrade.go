package operator

import (
	"context"

	ctrl "sigs.k8s.io/controller-runtime"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/castai"
	"github.com/castware-operator/castware-operator/internal/selfupgrade"
	"github.com/castware-operator/castware-operator/internal/version"
)

// connectSelfUpgrade wires the operator's upgrades of its own release: the leader-only runner, the
// Cluster hook that shows their state, and the console poller's handler of castware-operator upgrades.
// Reports go through the Cast AI conversation's clients when it is enabled.
func (op *Operator) connectSelfUpgrade(opts Options) error {
	so := *opts.SelfUpgrade
	if so.Namespace == "" {
		so.Namespace = opts.Namespace
	}
	if so.ReadyTimeout == 0 {
		so.ReadyTimeout = op.Engine.ReadyTimeout()
	}
	if so.Log.GetSink() == nil {
		so.Log = ctrl.Log.WithName("self-upgrade")
	}
	api := selfupgrade.ClientFromSecret(op.Manager.GetAPIReader(), castai.WithVersion(version.Version), castai.WithUserAgent(version.UserAgent()), apiObserver())
	if op.Conns != nil {
		api = func(_ context.Context, cl *castwarev1.Cluster) (selfupgrade.API, error) { return op.Conns.For(cl) }
	}
	op.SelfUpgrade = selfupgrade.New(op.Manager.GetClient(), op.Manager.GetAPIReader(), op.Engine, op.Charts, api, so)
	if err := op.Manager.Add(op.SelfUpgrade.Runnable()); err != nil {
		return err
	}
	if op.Poller != nil {
		op.Poller.SelfUpgrade = op.SelfUpgrade
	}
	return nil
}
