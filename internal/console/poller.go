package console

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/catalog"
)

// DefaultLongPoll is how long the API is asked to hold a poll open when it has no actions (the pacing
// defaults are in pacing.go).
const DefaultLongPoll = 5 * time.Minute

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

// sleep waits for d; false when ctx ended.
func sleep(ctx context.Context, d time.Duration) bool { return sleepUntil(ctx, d, nil) }

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
