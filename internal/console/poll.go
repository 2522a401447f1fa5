package console

import (
	"context"
	"errors"
	"sort"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/log"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/castai"
	"github.com/castware-operator/castware-operator/internal/metrics"
)

// pollRun is the state of one Cluster's poll loop between two polls.
type pollRun struct {
	key       types.NamespacedName
	clusterID string
	loop      *pollLoop
	pacing    pollPacing
	// failures counts the polls in a row that failed or left actions unacknowledged.
	failures int
}

// run polls the Cluster's actions until ctx ends, the Cluster is deleted or its cluster ID changes.
func (p *Poller) run(ctx context.Context, key types.NamespacedName, clusterID string, l *pollLoop) {
	r := &pollRun{key: key, clusterID: clusterID, loop: l, pacing: p.pacing()}
	for ctx.Err() == nil && p.pollOnce(ctx, r) {
	}
}

// pollOnce polls once, applies and acknowledges what came, and waits as the pacing says; false ends the loop.
func (p *Poller) pollOnce(ctx context.Context, r *pollRun) bool {
	api, goOn := p.pollTarget(ctx, r)
	if api == nil {
		return goOn
	}
	start := p.clock()
	actions, err := api.PollActions(ctx, r.clusterID, castai.PollOptions{MaxActions: 10, Wait: p.longPoll()})
	out := pollOutcome{took: p.clock().Sub(start)}
	if err != nil {
		return p.pollFailed(ctx, r, out, err)
	}
	if len(actions) > 0 {
		p.Nudge(r.key) // an action arrived: the user is at work in the console
	}
	unacked, retryAfter := p.applyAll(ctx, r.key, r.clusterID, api, actions)
	out.actions = len(actions)
	if unacked > 0 {
		// The API delivers an action until it is acknowledged: without a pause every poll would bring it
		// back at once and the failing acknowledgement would be retried in a tight loop.
		r.failures++
		out.failures, out.retryAfter = r.failures, retryAfter
		return p.backOff(ctx, r, out, "console actions not acknowledged; polling again later", "unacknowledged", unacked)
	}
	r.failures = 0
	return p.paceEmpty(ctx, r.key, r.pacing, out, r.loop.nudge)
}

// pollTarget reads the Cluster and hands out its API client. Without a client, goOn says whether the loop
// goes on (after a pause: the Cluster is unreadable, or the operator is upgrading itself) or ends.
func (p *Poller) pollTarget(ctx context.Context, r *pollRun) (api *castai.Client, goOn bool) {
	cl := &castwarev1.Cluster{}
	if err := p.Client.Get(ctx, r.key, cl); err != nil {
		if apierrors.IsNotFound(err) {
			log.FromContext(ctx).Info("cluster deleted; stopping console action polling")
			return nil, false
		}
		return nil, p.pause(ctx, r.pacing.idle, nil)
	}
	if cl.ClusterID() != r.clusterID || !cl.DeletionTimestamp.IsZero() {
		return nil, false
	}
	if cl.Status.UpgradeJobName != "" {
		// The operator is upgrading itself: actions wait for the new version.
		return nil, p.pause(ctx, r.pacing.idle, nil)
	}
	api, err := p.Conns.For(cl)
	if err != nil {
		return nil, false
	}
	return api, true
}

// pollFailed waits after a failed poll: for the key after the API rejected it, else a growing delay.
func (p *Poller) pollFailed(ctx context.Context, r *pollRun, out pollOutcome, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	if errors.Is(err, ErrKeyNotLoaded) || castai.IsUnauthorized(err) {
		return p.waitForKey(ctx, r.key, r.loop.keyOK, err)
	}
	r.failures++
	out.failures, out.retryAfter = r.failures, castai.RetryAfter(err)
	return p.backOff(ctx, r, out, "polling console actions failed", "error", err.Error())
}

// backOff logs msg with keysAndValues and the delay the pacing gives out, then waits for it.
func (p *Poller) backOff(ctx context.Context, r *pollRun, out pollOutcome, msg string, keysAndValues ...any) bool {
	delay := r.pacing.next(out, p.jitter())
	log.FromContext(ctx).Info(msg, append(keysAndValues, "retryIn", delay.String())...)
	return p.pause(ctx, delay, nil)
}

// paceEmpty waits after a successful poll as the pacing says; activity meanwhile (a nudge) can only shorten
// the wait, to what the active interval allows counted from the same poll. False when ctx ended.
func (p *Poller) paceEmpty(ctx context.Context, key types.NamespacedName, pacing pollPacing, out pollOutcome, nudge <-chan struct{}) bool {
	u := p.jitter()
	end := p.clock()
	out.sinceActivity = p.sinceActivity(key)
	metrics.SetConsolePollInterval(pacing.interval(out.sinceActivity))
	deadline := end.Add(pacing.next(out, u))
	for {
		select { // a nudge from before now is stale: the activity it signalled is read below
		case <-nudge:
		default:
		}
		out.sinceActivity = p.sinceActivity(key)
		if d := end.Add(pacing.next(out, u)); d.Before(deadline) {
			deadline = d
		}
		delay := deadline.Sub(p.clock())
		if delay <= 0 {
			return true
		}
		if !p.pause(ctx, delay, nudge) {
			return false
		}
	}
}

// waitForKey waits, after the API rejected the Cluster's key (or none is loaded), until the key is accepted
// again (the Secret changed) or a minute at most; false when ctx ended.
func (p *Poller) waitForKey(ctx context.Context, key types.NamespacedName, keyOK chan struct{}, err error) bool {
	select {
	case <-keyOK: // a signal from before this failure is stale
	default:
	}
	if castai.IsUnauthorized(err) && p.Wakeup != nil {
		p.Wakeup(key)
	}
	log.FromContext(ctx).Info("polling console actions failed", "error", err.Error(), "retryIn", time.Minute.String())
	return p.pause(ctx, time.Minute, keyOK)
}

// applyAll applies and acknowledges actions, oldest first; it returns how many were not acknowledged and the
// longest Retry-After of their failed acknowledgements.
func (p *Poller) applyAll(ctx context.Context, key types.NamespacedName, clusterID string, api *castai.Client, actions []castai.Action) (unacked int, retryAfter time.Duration) {
	// Oldest first, whatever order they came in: the newest wish for a component is the one that stays.
	sort.SliceStable(actions, func(i, j int) bool { return actions[i].CreateTime.Before(actions[j].CreateTime) })
	for i := range actions {
		if err := p.apply(ctx, key, clusterID, api, &actions[i]); err != nil {
			unacked++
			retryAfter = max(retryAfter, castai.RetryAfter(err))
		}
	}
	return unacked, retryAfter
}

// apply applies one action once and acknowledges it; nil when the acknowledgement was delivered.
func (p *Poller) apply(ctx context.Context, key types.NamespacedName, clusterID string, api *castai.Client, a *castai.Action) error {
	logger := log.FromContext(ctx).WithValues("action", a.ID, "kind", string(a.Kind()), "target", a.ComponentName())
	actionErr, err := p.applyOnce(ctx, logger, key, a)
	if err != nil {
		return err
	}
	if err := api.AckAction(ctx, clusterID, a.ID, actionErr); err != nil {
		logger.Info("acknowledging the action failed; it will be delivered and acknowledged again", "error", err.Error())
		return err
	}
	metrics.ConsoleActionAcknowledged(string(a.Kind()), a.CreateTime)
	if err := p.recordHandled(ctx, key, a, actionErr, true); err != nil {
		logger.V(1).Info("cannot record the acknowledgement", "error", err.Error())
	}
	return nil
}
