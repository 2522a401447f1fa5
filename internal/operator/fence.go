package operator

import (
	"context"
	"fmt"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/leaderelection"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"github.com/castware-operator/castware-operator/internal/leaderfence"
)

// fencing is the leader-election wiring of a process with leader election on: the lease lock (on an
// unfenced config, so renewals are never refused) wrapped by the fence, and the fenced config every other
// client of the process is built from (see internal/leaderfence).
type fencing struct {
	fence *leaderfence.Fence
	lock  resourcelock.Interface
	// cfg is the config for everything but the lease.
	cfg *rest.Config
}

// noRecorders stands in for the event recorders while the lock is built; setFenceRecorder installs the
// manager's once it exists.
type noRecorders struct{}

func (noRecorders) GetEventRecorderFor(string) record.EventRecorder { return nil }
func (noRecorders) GetEventRecorder(string) recorder.EventRecorder  { return nil }

// newFencing builds the lease lock on cfg and a copy of cfg whose writes pass the fence.
func newFencing(cfg *rest.Config, opts Options) (*fencing, error) {
	renew := *durationOr(opts.RenewDeadline, DefaultRenewDeadline)
	window := FenceWindow(*durationOr(opts.LeaseDuration, DefaultLeaseDuration), *durationOr(opts.RetryPeriod, DefaultRetryPeriod), renew)
	lock, err := leaderelection.NewResourceLock(rest.CopyConfig(cfg), noRecorders{}, leaderelection.Options{
		LeaderElection: true, LeaderElectionID: opts.LeaderElectionID, LeaderElectionNamespace: opts.Namespace, RenewDeadline: renew,
	})
	if err != nil {
		return nil, fmt.Errorf("leader-election lock: %w", err)
	}
	fence := leaderfence.New(window)
	log := ctrl.Log.WithName("leaderfence")
	fence.OnRefuse(func(method, path string, err error) {
		log.Info("write refused: not a leader with a fresh lease", "method", method, "path", path, "reason", err.Error())
	})
	fenced := rest.CopyConfig(cfg)
	fenced.Wrap(fence.Wrap)
	return &fencing{fence: fence, lock: fence.Lock(lock), cfg: fenced}, nil
}

// attach gives the lease lock the manager's event recorder and, as soon as the window of a lease this
// process held closes without renewal, calls onLost and stops the manager (the process exits, as on any
// lost lease) instead of waiting for the leader elector to notice.
func (f *fencing) attach(mgr manager.Manager, onLost func(error)) error {
	if ll, ok := f.unwrapLease(); ok {
		ll.LockConfig.EventRecorder = mgr.GetEventRecorderFor(ll.Identity()) //nolint:staticcheck // the lock takes the old API
	}
	return mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		err := f.fence.Watch(ctx)
		if err != nil && onLost != nil {
			onLost(err)
		}
		return err
	}))
}

func (f *fencing) unwrapLease() (*resourcelock.LeaseLock, bool) {
	type unwrapper interface{ Unwrap() resourcelock.Interface }
	if u, ok := f.lock.(unwrapper); ok {
		ll, ok := u.Unwrap().(*resourcelock.LeaseLock)
		return ll, ok
	}
	return nil, false
}

// resourceLock is the fenced lease lock, nil without leader election (the manager then builds none).
func (f *fencing) resourceLock() resourcelock.Interface {
	if f == nil {
		return nil
	}
	return f.lock
}

// get returns the fence (nil without leader election).
func (f *fencing) get() *leaderfence.Fence {
	if f == nil {
		return nil
	}
	return f.fence
}

// FenceWindow is how long after the start of its last successful renewal a leader may still write: the lease
// duration less half a retry period. A standby takes over only a lease duration after it saw that renewal,
// so the window closes before it can; and client-go's renewal attempt due at the renew deadline (it retries
// every retry period) still lands inside it. Never shorter than the renew deadline.
func FenceWindow(lease, retry, renew time.Duration) time.Duration {
	return max(lease-retry/2, renew)
}
