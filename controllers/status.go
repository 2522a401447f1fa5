package controllers

import (
	"context"
	"fmt"
	"time"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/castware-operator/castware-operator/internal/redact"
)

// statusWriter queues status changes on a working copy and writes them once, as a merge patch against
// the object as it was read, so fields other writers change meanwhile (e.g. status.handledActions
// recorded by the console poller) are not overwritten.
type statusWriter struct {
	c        client.Client
	original client.Object
}

func newStatusWriter(c client.Client, obj client.Object) *statusWriter {
	return &statusWriter{c: c, original: obj.DeepCopyObject().(client.Object)}
}

// flush writes the status of obj when it differs from the original.
func (w *statusWriter) flush(ctx context.Context, obj client.Object, status func(client.Object) any) error {
	if apiequality.Semantic.DeepEqual(status(w.original), status(obj)) {
		return nil
	}
	before := obj.GetResourceVersion()
	if err := w.c.Status().Patch(ctx, obj, client.MergeFrom(w.original)); err != nil {
		return fmt.Errorf("write status: %w", err)
	}
	w.original = obj.DeepCopyObject().(client.Object)
	waitForCache(ctx, w.c, obj, before)
	return nil
}

// waitForCache waits (briefly) until the cache has seen a write to obj, so the next reconcile of the same
// object does not act on the state from before it: status carries decisions such as a failed attempt
// that must not be repeated. It gives up silently after a few seconds; correctness then falls back to
// the Helm release history, which is always read from the API server.
func waitForCache(ctx context.Context, c client.Client, obj client.Object, before string) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cur := obj.DeepCopyObject().(client.Object)
	key := client.ObjectKeyFromObject(obj)
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		if err := c.Get(ctx, key, cur); err != nil || cur.GetResourceVersion() != before {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// setCondition sets a condition, keeping lastTransitionTime when the status did not change. The message is
// scrubbed of registered secrets (it often quotes a Helm or API error) before it is cut to size.
func setCondition(conds *[]metav1.Condition, gen int64, typ string, status metav1.ConditionStatus, reason, msg string) bool {
	msg = redact.String(msg)
	if len(msg) > 32000 {
		msg = msg[:32000] + "…"
	}
	return meta.SetStatusCondition(conds, metav1.Condition{Type: typ, Status: status, Reason: reason, Message: msg, ObservedGeneration: gen})
}

func conditionTrue(conds []metav1.Condition, typ string) bool {
	return meta.IsStatusConditionTrue(conds, typ)
}
