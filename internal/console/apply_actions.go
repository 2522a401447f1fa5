package console

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/castai"
)

// What each kind of console action means for the Kubernetes objects: one handler per kind (in
// action_<kind>.go), each idempotent, so applying an action whose change is already there does nothing.

// actionHandler turns one console action of its kind into a Component change.
type actionHandler func(p *Poller, ctx context.Context, cl *castwarev1.Cluster, a *castai.Action) error

// actionHandlers gives the handler of each kind of console action.
var actionHandlers = map[castai.ActionKind]actionHandler{
	castai.ActionKindInstall:   (*Poller).install,
	castai.ActionKindUpgrade:   (*Poller).upgradeAction,
	castai.ActionKindRollback:  (*Poller).rollback,
	castai.ActionKindUninstall: (*Poller).uninstall,
}

// handle turns one action into a Component change, unless it is invalid or superseded.
func (p *Poller) handle(ctx context.Context, cl *castwarev1.Cluster, a *castai.Action) error {
	if err := a.Validate(); err != nil {
		return fmt.Errorf("invalid action: %w", err)
	}
	if err := p.superseded(ctx, cl, a); err != nil {
		return err
	}
	h, ok := actionHandlers[a.Kind()]
	if !ok {
		return fmt.Errorf("unsupported action kind %q", a.Kind())
	}
	return h(p, ctx, cl, a)
}

// annotationActionTime records the createTime of the console action whose change a Component's spec carries:
// an action for the Component created before it (delivered late, or out of order) is superseded.
const annotationActionTime = "castware.cast.ai/action-time"

// actionAnnotations records action a on a Component's annotations (a nil map is allocated).
func actionAnnotations(ann map[string]string, a *castai.Action) map[string]string {
	if ann == nil {
		ann = map[string]string{}
	}
	ann[castwarev1.AnnotationActionID] = a.ID
	if a.CreateTime.IsZero() {
		delete(ann, annotationActionTime)
	} else {
		ann[annotationActionTime] = a.CreateTime.UTC().Format(time.RFC3339Nano)
	}
	return ann
}

// superseded refuses an action created before the console action that last changed its Component: applied
// now, it would undo a newer wish.
func (p *Poller) superseded(ctx context.Context, cl *castwarev1.Cluster, a *castai.Action) error {
	if a.CreateTime.IsZero() || a.ComponentName() == "" {
		return nil
	}
	comp := &castwarev1.Component{}
	if err := p.APIReader.Get(ctx, types.NamespacedName{Namespace: cl.Namespace, Name: a.ComponentName()}, comp); err != nil {
		return nil // missing or unreadable: the action's own handling says so
	}
	last, err := time.Parse(time.RFC3339Nano, comp.Annotations[annotationActionTime])
	if err != nil || !a.CreateTime.Before(last) || comp.Annotations[castwarev1.AnnotationActionID] == a.ID {
		return nil
	}
	return fmt.Errorf("superseded: component %s was changed by console action %s, created at %s, after this action (created at %s); not applied",
		a.ComponentName(), comp.Annotations[castwarev1.AnnotationActionID], last.Format(time.RFC3339), a.CreateTime.UTC().Format(time.RFC3339))
}

// fresh is the reader of what the API server has now (the cache when no APIReader is set).
func (p *Poller) fresh() client.Reader {
	if p.APIReader != nil {
		return p.APIReader
	}
	return p.Client
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
