package console

import (
	"context"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/controllers"
	"github.com/castware-operator/castware-operator/internal/castai"
	"github.com/castware-operator/castware-operator/internal/catalog"
	"github.com/castware-operator/castware-operator/internal/helm"
	"github.com/castware-operator/castware-operator/internal/redact"
	"github.com/castware-operator/castware-operator/internal/values"
)

// DefaultReportQueue is how many transitions wait to be reported before the oldest are dropped.
const DefaultReportQueue = 512

// Reporter reports every Component transition to Cast AI with recordActionResult. Reports are sent in
// order by one worker, so reconciles never wait on the API; when the API is down they wait in a bounded
// queue and are retried.
type Reporter struct {
	// Client reads Clusters (cached).
	Client client.Reader
	// Writer records reported revisions in Component status (optional).
	Writer client.Client
	// Reader reads the Component before recording a revision (uncached; default Writer): a cached copy
	// that lags the reconciler's own status writes only earns conflicts.
	Reader client.Reader
	// Conns hands out API clients.
	Conns *Connections
	// Engine reads the reported release (image versions, component params).
	Engine *helm.Engine
	// Catalog says which values are reported as component_params.
	Catalog *catalog.Catalog
	// QueueSize bounds the queue (default DefaultReportQueue).
	QueueSize int

	queue chan report

	mu       sync.Mutex
	inflight map[revisionKey]bool // OK reports of a revision queued or being sent
	ledger   sentLedger           // OK reports of a revision sent by this process
	last     lastTransitions      // the last transition queued for each Component (repeat.go)
}

// revisionKey identifies the OK report of one revision of one Component.
type revisionKey struct {
	component types.NamespacedName
	revision  int
}

type report struct {
	key   types.NamespacedName
	comp  *castwarev1.Component
	t     controllers.Transition
	tries int
	// sent marks a report Cast AI has: only its record in status is left to do.
	sent bool
	// recordTries counts failed attempts to record a sent OK report in status.
	recordTries int
}

// maxRecordTries bounds the attempts to record a sent OK report; after them the next reconcile of the
// healthy release queues the report again (and the ledger lets only the record through).
const maxRecordTries = 8

var _ controllers.Reporter = (*Reporter)(nil)

// NewReporter prepares r (its queue) and returns it; it must be added to the manager (it is a Runnable).
func NewReporter(r *Reporter) *Reporter {
	if r.QueueSize <= 0 {
		r.QueueSize = DefaultReportQueue
	}
	r.queue = make(chan report, r.QueueSize)
	return r
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: only the leader reports.
func (r *Reporter) NeedLeaderElection() bool { return true }

// ComponentTransition implements controllers.Reporter: it queues the report and returns at once. An OK
// report of a revision already queued is dropped, so a revision is reported once.
func (r *Reporter) ComponentTransition(ctx context.Context, comp *castwarev1.Component, t controllers.Transition) {
	r.mu.Lock()
	repeat := r.last.repeats(types.NamespacedName{Namespace: comp.Namespace, Name: comp.Name}, t)
	r.mu.Unlock()
	if repeat {
		log.FromContext(ctx).V(1).Info("failure already reported; not reporting it again", "component", comp.Name, "action", t.Action, "to", t.ToVersion)
		return
	}
	if rk, ok := okRevision(comp, t); ok {
		r.mu.Lock()
		if r.inflight == nil {
			r.inflight = map[revisionKey]bool{}
		}
		dup := r.inflight[rk]
		r.inflight[rk] = true
		r.mu.Unlock()
		if dup {
			return
		}
	}
	r.enqueue(ctx, report{key: types.NamespacedName{Namespace: comp.Namespace, Name: comp.Spec.Cluster}, comp: comp.DeepCopy(), t: t})
}

func okRevision(comp *castwarev1.Component, t controllers.Transition) (revisionKey, bool) {
	return revisionKey{component: types.NamespacedName{Namespace: comp.Namespace, Name: comp.Name}, revision: t.Revision}, t.Status == "OK" && t.Revision > 0
}

func (r *Reporter) done(item report) {
	if rk, ok := okRevision(item.comp, item.t); ok {
		r.mu.Lock()
		delete(r.inflight, rk)
		r.mu.Unlock()
	}
}

func (r *Reporter) enqueue(ctx context.Context, item report) {
	select {
	case r.queue <- item:
	default:
		select { // full: drop the oldest, keep the newest
		case old := <-r.queue:
			r.done(old)
			log.FromContext(ctx).Info("report queue full; dropped the oldest report", "component", old.comp.Name, "action", old.t.Action)
		default:
		}
		select {
		case r.queue <- item:
		default:
		}
	}
}

// Start implements manager.Runnable.
func (r *Reporter) Start(ctx context.Context) error {
	logger := log.FromContext(ctx).WithName("console-reporter")
	for {
		select {
		case <-ctx.Done():
			return nil
		case item := <-r.queue:
			ckey := types.NamespacedName{Namespace: item.comp.Namespace, Name: item.comp.Name}
			if item.sent || !r.ledger.admit(ckey, item.t) {
				logger.V(1).Info("revision already reported", "component", item.comp.Name, "revision", item.t.Revision)
				r.record(ctx, item)
				continue
			}
			err := r.send(ctx, item)
			if err == nil {
				r.ledger.sentOK(ckey, item.t)
				r.record(ctx, item)
				continue
			}
			if ctx.Err() != nil {
				return nil
			}
			item.tries++
			if item.tries >= 8 || castai.IsUnauthorized(err) {
				// The revision stays unreported in status: the next reconcile of a healthy release reports it again.
				logger.Info("giving up reporting a transition", "component", item.comp.Name, "action", item.t.Action, "status", item.t.Status, "error", err.Error())
				r.done(item)
				continue
			}
			logger.V(1).Info("reporting failed; retrying", "component", item.comp.Name, "error", err.Error())
			go func(item report) {
				if sleep(ctx, backoff(item.tries, 2*time.Second, 2*time.Minute)) {
					r.enqueue(ctx, item)
				}
			}(item)
		}
	}
}

// record records a sent report in status; when that fails (conflicts with every retry) the item comes back
// after a backoff, marked sent so it is not sent again, until the record is written.
func (r *Reporter) record(ctx context.Context, item report) {
	err := r.recordReported(ctx, item)
	if err == nil || item.recordTries+1 >= maxRecordTries {
		if err != nil {
			log.FromContext(ctx).Info("giving up recording the reported revision; the next reconcile records it", "component", item.comp.Name, "error", err.Error())
		}
		r.done(item)
		return
	}
	item.sent, item.recordTries = true, item.recordTries+1
	log.FromContext(ctx).V(1).Info("cannot record the reported revision; retrying", "component", item.comp.Name, "error", err.Error())
	go func(item report) {
		if sleep(ctx, backoff(item.recordTries, 500*time.Millisecond, 30*time.Second)) {
			r.enqueue(ctx, item)
		}
	}(item)
}

// recordReported stores the revision an OK report carried in the Component's lastReportedHelmRevision.
func (r *Reporter) recordReported(ctx context.Context, item report) error {
	if _, ok := okRevision(item.comp, item.t); !ok || r.Writer == nil {
		return nil
	}
	key := types.NamespacedName{Namespace: item.comp.Namespace, Name: item.comp.Name}
	reader := r.Reader
	if reader == nil {
		reader = r.Writer
	}
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		comp := &castwarev1.Component{}
		if err := reader.Get(ctx, key, comp); err != nil {
			return client.IgnoreNotFound(err)
		}
		if comp.UID != item.comp.UID || comp.Status.LastReportedHelmRevision == item.t.Revision {
			return nil // recreated since, or recorded already
		}
		patch := client.MergeFromWithOptions(comp.DeepCopy(), client.MergeFromWithOptimisticLock{})
		comp.Status.LastReportedHelmRevision = item.t.Revision
		return r.Writer.Status().Patch(ctx, comp, patch)
	})
	if err != nil {
		return fmt.Errorf("record revision %d of %s as reported: %w", item.t.Revision, key, err)
	}
	return nil
}

func (r *Reporter) send(ctx context.Context, item report) error {
	cl := &castwarev1.Cluster{}
	if err := r.Client.Get(ctx, item.key, cl); err != nil {
		return fmt.Errorf("read cluster %s: %w", item.key, err)
	}
	if cl.ClusterID() == "" {
		return fmt.Errorf("cluster %s is not registered yet", item.key)
	}
	api, err := r.Conns.For(cl)
	if err != nil {
		return err
	}
	res := r.Result(ctx, item.comp, item.t)
	return api.RecordActionResult(ctx, cl.ClusterID(), res)
}

// Result builds the recordActionResult body of a transition.
func (r *Reporter) Result(ctx context.Context, comp *castwarev1.Component, t controllers.Transition) castai.ActionResult {
	res := castai.ActionResult{
		Name: comp.Spec.Component, Action: castai.ActionType(t.Action), Status: castai.ComponentStatus(t.Status),
		CurrentVersion: t.FromVersion, Version: t.ToVersion, ReleaseName: t.Release, Message: truncate(redact.String(t.Message), 2000),
	}
	if res.CurrentVersion == "" && t.Status == "OK" {
		res.CurrentVersion = t.ToVersion
	}
	if r.Engine == nil || t.Release == "" {
		return res
	}
	st, err := r.Engine.Observe(ctx, comp, t.Release)
	if err != nil || st.Latest == nil {
		return res
	}
	rel := deployedOrLatest(st)
	res.ImageVersions = helm.Images(rel.Manifest)
	if r.Catalog != nil {
		if e, ok := r.Catalog.Lookup(comp.Spec.Component, comp.Labels); ok && len(e.ReportParams) > 0 {
			res.ComponentParams = map[string]string{}
			merged := values.Merge(chartDefaults(rel), rel.Config)
			for _, p := range e.ReportParams {
				if v, ok := values.GetPath(merged, p); ok {
					res.ComponentParams[p] = fmt.Sprint(v)
				}
			}
		}
	}
	return res
}

func deployedOrLatest(st *helm.State) *helm.Release {
	for _, r := range st.History {
		if helm.IsDeployed(r) {
			return r
		}
	}
	return st.Latest
}

func chartDefaults(rel *helm.Release) map[string]any {
	if rel.Chart == nil {
		return nil
	}
	return rel.Chart.Values
}
