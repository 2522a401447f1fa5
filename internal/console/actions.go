package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/castai"
	"github.com/castware-operator/castware-operator/internal/catalog"
	"github.com/castware-operator/castware-operator/internal/metrics"
	"github.com/castware-operator/castware-operator/internal/values"
)

// Defaults of the Poller (the pacing defaults are in pacing.go).
const (
	// DefaultLongPoll is how long the API is asked to hold a poll open when it has no actions.
	DefaultLongPoll = 5 * time.Minute
	// maxHandledActions bounds Cluster.status.handledActions.
	maxHandledActions = 50
)

// SelfUpgrader upgrades the operator's own release (a console "upgrade" of castware-operator).
type SelfUpgrader interface {
	// Start begins an upgrade of the operator to version ("" = latest) for the Cluster.
	Start(ctx context.Context, cluster *castwarev1.Cluster, version, actionID string) error
}

// Poller polls console lifecycle actions for every registered Cluster (one long-poll loop each) and
// applies them as Component changes. Every action is applied at most once — also when it is delivered
// again or after a restart — and acknowledged with its result.
type Poller struct {
	// Client reads and writes Components and Clusters.
	Client client.Client
	// APIReader reads Clusters uncached (their handled-action records must be current).
	APIReader client.Reader
	// Conns hands out API clients.
	Conns *Connections
	// Catalog lists the components the operator can manage.
	Catalog *catalog.Catalog
	// SelfUpgrade handles upgrades of the operator itself (nil: refused with a clear error).
	SelfUpgrade SelfUpgrader
	// Interval is the pause between the starts of two polls when the API does not hold polls and nothing
	// happened lately: the idle interval (default DefaultPollInterval; see pacing.go).
	Interval time.Duration
	// ActiveInterval is that pause for ActiveFor after activity (default DefaultActivePollInterval, at most
	// Interval).
	ActiveInterval time.Duration
	// ActiveFor is how long polls stay at ActiveInterval after activity (default DefaultActiveFor).
	ActiveFor time.Duration
	// LongPoll is how long the API may hold a poll (default DefaultLongPoll).
	LongPoll time.Duration
	// Wakeup asks for a reconcile of a Cluster (optional): called when the API rejects its key, so the
	// Cluster's condition says so at once.
	Wakeup func(types.NamespacedName)

	// now, wait and rand replace the clock, the pause between polls and the jitter source (tests).
	now  func() time.Time
	wait func(ctx context.Context, d time.Duration, wake <-chan struct{}) bool
	rand func() float64

	mu       sync.Mutex
	ctx      context.Context
	loops    map[types.NamespacedName]*pollLoop
	pending  map[types.NamespacedName]string
	activity map[types.NamespacedName]time.Time
}

type pollLoop struct {
	clusterID string
	cancel    context.CancelFunc
	done      chan struct{}
	// keyOK is signalled when the Cluster's key was accepted again, ending a wait after a rejected key.
	keyOK chan struct{}
	// nudge is signalled on activity, ending a pause between polls early.
	nudge chan struct{}
}

// Nudge tells the poller about activity for a Cluster (a Component or Cluster spec changed): its loop polls
// at the active interval for a while, starting from the end of its current pause. Cheap and non-blocking,
// so informer event handlers may call it.
func (p *Poller) Nudge(key types.NamespacedName) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.activity == nil {
		p.activity = map[types.NamespacedName]time.Time{}
	}
	p.activity[key] = p.clock()
	if l, ok := p.loops[key]; ok {
		select {
		case l.nudge <- struct{}{}:
		default:
		}
	}
}

// sinceActivity is the time since the last activity for key (negative: none yet).
func (p *Poller) sinceActivity(key types.NamespacedName) time.Duration {
	p.mu.Lock()
	t, ok := p.activity[key]
	p.mu.Unlock()
	if !ok {
		return -1
	}
	return p.clock().Sub(t)
}

func (p *Poller) clock() time.Time {
	if p.now != nil {
		return p.now()
	}
	return time.Now()
}

func (p *Poller) jitter() float64 {
	if p.rand != nil {
		return p.rand()
	}
	return rand.Float64()
}

// pause waits for d, ending early when wake is signalled; false when ctx ended.
func (p *Poller) pause(ctx context.Context, d time.Duration, wake <-chan struct{}) bool {
	if p.wait != nil {
		return p.wait(ctx, d, wake)
	}
	return sleepUntil(ctx, d, wake)
}

func (p *Poller) pacing() pollPacing {
	return newPollPacing(p.Interval, p.ActiveInterval, p.ActiveFor)
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: only the leader polls.
func (p *Poller) NeedLeaderElection() bool { return true }

// Start implements manager.Runnable: it runs the loops of the Clusters ensured so far and stops them all
// when ctx ends.
func (p *Poller) Start(ctx context.Context) error {
	p.mu.Lock()
	p.ctx = ctx
	pending := p.pending
	p.pending = nil
	p.mu.Unlock()
	for key, id := range pending {
		p.Ensure(key, id)
	}
	<-ctx.Done()
	p.mu.Lock()
	loops := p.loops
	p.loops = nil
	p.mu.Unlock()
	for _, l := range loops {
		l.cancel()
		<-l.done
	}
	return nil
}

// Ensure runs the poll loop of a Cluster (restarting it when the cluster ID changed).
func (p *Poller) Ensure(key types.NamespacedName, clusterID string) {
	if clusterID == "" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ctx == nil {
		if p.pending == nil {
			p.pending = map[types.NamespacedName]string{}
		}
		p.pending[key] = clusterID
		return
	}
	if p.loops == nil {
		p.loops = map[types.NamespacedName]*pollLoop{}
	}
	if l, ok := p.loops[key]; ok {
		select {
		case <-l.done:
		default:
			if l.clusterID == clusterID {
				select { // Ensure is called once the Cluster's key is accepted: a loop waiting on a rejected key goes on
				case l.keyOK <- struct{}{}:
				default:
				}
				return
			}
			l.cancel()
		}
	}
	ctx, cancel := context.WithCancel(p.ctx)
	l := &pollLoop{clusterID: clusterID, cancel: cancel, done: make(chan struct{}), keyOK: make(chan struct{}, 1), nudge: make(chan struct{}, 1)}
	p.loops[key] = l
	go func() {
		defer close(l.done)
		p.run(log.IntoContext(ctx, log.FromContext(p.ctx).WithName("console-actions").WithValues("cluster", key.String(), "clusterID", clusterID)), key, clusterID, l)
	}()
}

func (p *Poller) longPoll() time.Duration {
	if p.LongPoll > 0 {
		return p.LongPoll
	}
	return DefaultLongPoll
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// sleepUntil waits for d, or until wake is signalled; false when ctx ended.
func sleepUntil(ctx context.Context, d time.Duration, wake <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	case <-wake:
	}
	return true
}

func (p *Poller) run(ctx context.Context, key types.NamespacedName, clusterID string, l *pollLoop) {
	logger := log.FromContext(ctx)
	pacing := p.pacing()
	failures := 0
	for ctx.Err() == nil {
		cl := &castwarev1.Cluster{}
		if err := p.Client.Get(ctx, key, cl); err != nil {
			if apierrors.IsNotFound(err) {
				logger.Info("cluster deleted; stopping console action polling")
				return
			}
			if !p.pause(ctx, pacing.idle, nil) {
				return
			}
			continue
		}
		if cl.ClusterID() != clusterID || !cl.DeletionTimestamp.IsZero() {
			return
		}
		if cl.Status.UpgradeJobName != "" {
			// The operator is upgrading itself: actions wait for the new version.
			if !p.pause(ctx, pacing.idle, nil) {
				return
			}
			continue
		}
		api, err := p.Conns.For(cl)
		if err != nil {
			return
		}
		start := p.clock()
		actions, err := api.PollActions(ctx, clusterID, castai.PollOptions{MaxActions: 10, Wait: p.longPoll()})
		out := pollOutcome{took: p.clock().Sub(start)}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if errors.Is(err, ErrKeyNotLoaded) || castai.IsUnauthorized(err) {
				if !p.waitForKey(ctx, key, l.keyOK, err) {
					return
				}
				continue
			}
			failures++
			out.failures, out.retryAfter = failures, castai.RetryAfter(err)
			delay := pacing.next(out, p.jitter())
			logger.Info("polling console actions failed", "error", err.Error(), "retryIn", delay.String())
			if !p.pause(ctx, delay, nil) {
				return
			}
			continue
		}
		if len(actions) > 0 {
			p.Nudge(key) // an action arrived: the user is at work in the console
		}
		unacked, retryAfter := p.applyAll(ctx, key, clusterID, api, actions)
		out.actions = len(actions)
		if unacked > 0 {
			// The API delivers an action until it is acknowledged: without a pause every poll would bring it
			// back at once and the failing acknowledgement would be retried in a tight loop.
			failures++
			out.failures, out.retryAfter = failures, retryAfter
			delay := pacing.next(out, p.jitter())
			logger.Info("console actions not acknowledged; polling again later", "unacknowledged", unacked, "retryIn", delay.String())
			if !p.pause(ctx, delay, nil) {
				return
			}
			continue
		}
		failures = 0
		if !p.paceEmpty(ctx, key, pacing, out, l.nudge) {
			return
		}
	}
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
	cl := &castwarev1.Cluster{}
	if err := p.APIReader.Get(ctx, key, cl); err != nil {
		logger.Info("cannot read the cluster; the action is retried on the next poll", "error", err.Error())
		return err
	}
	var actionErr error
	if h := findHandled(cl, a.ID); h != nil {
		logger.Info("action delivered again; acknowledging its recorded result without applying it twice")
		if h.Error != "" {
			actionErr = errors.New(h.Error)
		}
	} else {
		actionErr = p.handle(ctx, cl, a)
		metrics.ConsoleActionApplied(string(a.Kind()), a.CreateTime, actionErr)
		if actionErr != nil {
			logger.Info("console action failed", "error", actionErr.Error())
		} else {
			logger.Info("console action applied")
		}
		if err := p.recordHandled(ctx, key, a, actionErr, false); err != nil {
			logger.Error(err, "cannot record the handled action; not acknowledging it so it is delivered again")
			return err
		}
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
				h.Error = truncate(actionErr.Error(), 1000)
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

// handle turns one action into a Component change, idempotently: the change carries the action's ID, so
// applying an action whose change is already there does nothing.
func (p *Poller) handle(ctx context.Context, cl *castwarev1.Cluster, a *castai.Action) error {
	if err := a.Validate(); err != nil {
		return fmt.Errorf("invalid action: %w", err)
	}
	if err := p.superseded(ctx, cl, a); err != nil {
		return err
	}
	switch a.Kind() {
	case castai.ActionKindInstall:
		return p.install(ctx, cl, a)
	case castai.ActionKindUpgrade:
		if a.Upgrade.Component == OperatorComponent {
			if p.SelfUpgrade == nil {
				return fmt.Errorf("upgrading %s from the console is not supported by this installation", OperatorComponent)
			}
			return p.SelfUpgrade.Start(ctx, cl, a.Upgrade.Version, a.ID)
		}
		return p.upgrade(ctx, cl, a, a.Upgrade)
	case castai.ActionKindRollback:
		return p.rollback(ctx, cl, a)
	case castai.ActionKindUninstall:
		return p.uninstall(ctx, cl, a)
	}
	return fmt.Errorf("unsupported action kind %q", a.Kind())
}

// componentInfo asks Cast AI for a component's release name and chart, falling back to the catalog.
func (p *Poller) componentInfo(ctx context.Context, cl *castwarev1.Cluster, name string) (release, chart string, err error) {
	api, err := p.Conns.For(cl)
	if err == nil {
		info, ierr := api.GetComponentByName(ctx, name)
		if ierr == nil {
			return info.ReleaseName, info.HelmChart, nil
		}
		if castai.IsNotFound(ierr) && !p.Catalog.Known(name) {
			return "", "", fmt.Errorf("component %q is not supported by Cast AI", name)
		}
	}
	if e, ok := p.Catalog.Lookup(name, nil); ok {
		return e.ReleaseName, e.Chart, nil
	}
	return "", "", fmt.Errorf("component %q is not in the operator's catalog (known: %v)", name, p.Catalog.Components())
}

func (p *Poller) install(ctx context.Context, cl *castwarev1.Cluster, a *castai.Action) error {
	in := a.Install
	existing := &castwarev1.Component{}
	err := p.Client.Get(ctx, types.NamespacedName{Namespace: cl.Namespace, Name: in.Component}, existing)
	if err == nil {
		if existing.Annotations[castwarev1.AnnotationActionID] == a.ID {
			return nil
		}
		if !in.Upsert {
			return fmt.Errorf("component %s already exists", in.Component)
		}
		return p.upgrade(ctx, cl, a, in)
	}
	if !apierrors.IsNotFound(err) {
		return err
	}
	releaseName, chart, err := p.componentInfo(ctx, cl, in.Component)
	if err != nil {
		return err
	}
	overrides, err := values.Unflatten(in.ValuesOverrides)
	if err != nil {
		return err
	}
	comp := &castwarev1.Component{
		ObjectMeta: metav1.ObjectMeta{Name: in.Component, Namespace: cl.Namespace, Annotations: actionAnnotations(nil, a)},
		Spec: castwarev1.ComponentSpec{Component: in.Component, Cluster: cl.Name, Enabled: true, Version: in.Version,
			ReleaseName: firstNonEmpty(in.ReleaseName, releaseName)},
	}
	if e, ok := p.Catalog.Lookup(in.Component, nil); chart != "" && (!ok || e.Chart != chart) {
		comp.Labels = map[string]string{castwarev1.LabelHelmChart: chart}
	}
	if len(overrides) > 0 {
		raw, err := json.Marshal(overrides)
		if err != nil {
			return err
		}
		comp.Spec.Values = &apiextensionsv1.JSON{Raw: raw}
	}
	if err := p.Client.Create(ctx, comp); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("component %s already exists", in.Component)
		}
		return fmt.Errorf("create Component %s: %w", in.Component, err)
	}
	return nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
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

// upgrade moves a Component to a version and merges value overrides into its values.
func (p *Poller) upgrade(ctx context.Context, cl *castwarev1.Cluster, a *castai.Action, up *castai.ChartAction) error {
	actionID := a.ID
	key := types.NamespacedName{Namespace: cl.Namespace, Name: up.Component}
	overrides, err := values.Unflatten(up.ValuesOverrides)
	if err != nil {
		return err
	}
	// Asked again for a version that failed (or was rolled back): try it once more.
	if err := p.clearFailedAttempt(ctx, key, up.Version); err != nil {
		return err
	}
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		comp := &castwarev1.Component{}
		if err := p.Client.Get(ctx, key, comp); err != nil {
			if apierrors.IsNotFound(err) {
				return fmt.Errorf("component %s not found", up.Component)
			}
			return err
		}
		if comp.Annotations[castwarev1.AnnotationActionID] == actionID {
			return nil
		}
		if comp.Spec.Readonly {
			return fmt.Errorf("component %s is readonly: set spec.readonly to false to let the operator manage it", up.Component)
		}
		base := comp.DeepCopy()
		user := map[string]any{}
		if comp.Spec.Values != nil {
			if user, err = values.Parse(comp.Spec.Values.Raw); err != nil {
				return fmt.Errorf("component %s: %w", up.Component, err)
			}
		}
		for _, path := range values.Paths(overrides) {
			v, _ := values.GetPath(overrides, path)
			if err := values.SetPath(user, path, v); err != nil {
				return fmt.Errorf("valuesOverrides: %w", err)
			}
		}
		sameVersion := up.Version == "" || up.Version == comp.Spec.Version
		sameRelease := up.ReleaseName == "" || up.ReleaseName == comp.Spec.ReleaseName || (comp.Spec.ReleaseName == "" && up.ReleaseName == comp.Status.ReleaseName)
		if sameVersion && sameRelease && len(overrides) == 0 && comp.Status.FailedAttempt == nil && comp.Status.CurrentVersion == comp.Spec.Version {
			return fmt.Errorf("component %s already up to date (version %s)", up.Component, comp.Spec.Version)
		}
		if up.Version != "" {
			comp.Spec.Version = up.Version
		}
		if up.ReleaseName != "" {
			comp.Spec.ReleaseName = up.ReleaseName
		}
		raw, err := json.Marshal(user)
		if err != nil {
			return err
		}
		comp.Spec.Values = &apiextensionsv1.JSON{Raw: raw}
		comp.Annotations = actionAnnotations(comp.Annotations, a)
		return p.Client.Patch(ctx, comp, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
	})
}

// clearFailedAttempt forgets a failed (or rolled back) attempt at version, so the Component controller
// applies that version again.
func (p *Poller) clearFailedAttempt(ctx context.Context, key types.NamespacedName, version string) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		comp := &castwarev1.Component{}
		if err := p.fresh().Get(ctx, key, comp); err != nil {
			return client.IgnoreNotFound(err)
		}
		fa := comp.Status.FailedAttempt
		if fa == nil || (version != "" && fa.Version != version) || (version == "" && fa.Version != comp.Spec.Version) {
			return nil
		}
		patch := client.MergeFromWithOptions(comp.DeepCopy(), client.MergeFromWithOptimisticLock{})
		comp.Status.FailedAttempt = nil
		return p.Client.Status().Patch(ctx, comp, patch)
	})
}

// fresh is the reader of what the API server has now (the cache when no APIReader is set).
func (p *Poller) fresh() client.Reader {
	if p.APIReader != nil {
		return p.APIReader
	}
	return p.Client
}

func (p *Poller) rollback(ctx context.Context, cl *castwarev1.Cluster, a *castai.Action) error {
	key := types.NamespacedName{Namespace: cl.Namespace, Name: a.Rollback.Component}
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		comp := &castwarev1.Component{}
		// A fresh read: the cache may not have the revision the last upgrade made yet, and a stale copy
		// only earns conflicts.
		if err := p.fresh().Get(ctx, key, comp); err != nil {
			if apierrors.IsNotFound(err) {
				return fmt.Errorf("component %s not found", a.Rollback.Component)
			}
			return err
		}
		if comp.Status.RollbackRequestID == a.ID {
			return nil
		}
		if comp.Status.Revision < 2 {
			return fmt.Errorf("component %s: nothing to rollback (release revision %d)", a.Rollback.Component, comp.Status.Revision)
		}
		patch := client.MergeFromWithOptions(comp.DeepCopy(), client.MergeFromWithOptimisticLock{})
		comp.Status.Rollback = true
		comp.Status.RollbackRequestID = a.ID
		return p.Client.Status().Patch(ctx, comp, patch)
	})
}

func (p *Poller) uninstall(ctx context.Context, cl *castwarev1.Cluster, a *castai.Action) error {
	comp := &castwarev1.Component{}
	err := p.Client.Get(ctx, types.NamespacedName{Namespace: cl.Namespace, Name: a.Uninstall.Component}, comp)
	if apierrors.IsNotFound(err) {
		return nil // already gone
	}
	if err != nil {
		return err
	}
	if err := p.Client.Delete(ctx, comp); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete Component %s: %w", a.Uninstall.Component, err)
	}
	return nil
}
