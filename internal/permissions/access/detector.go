package access

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/castware-operator/castware-operator/internal/permissions"
)

// DefaultRecheck is how often the Phase 2 detection runs again when no binding changes: reviews cost two
// requests, and the labelled bindings are watched, so this only catches rights changed by other bindings.
const DefaultRecheck = 30 * time.Minute

// firstDetectionWait bounds how long Status waits for the first detection.
const firstDetectionWait = 30 * time.Second

// settle is how long the detector waits after a binding event for related events (Helm creates the Role,
// ClusterRole and both bindings one after the other) before it checks again.
const settle = 300 * time.Millisecond

// Status is the result of one Phase 2 detection.
type Status struct {
	// Extended is true when the operator holds the Phase 2 permissions as the documented operator detects
	// them — the operator chart's labelled bindings exist (extendedPermissions=true) — and, beyond it, they
	// really grant every Phase 2 rule (in the operator's namespace and cluster-wide).
	Extended bool
	// Bindings is true when a RoleBinding in the operator's namespace and a ClusterRoleBinding labelled
	// castware.cast.ai/extended-permissions=true both exist.
	Bindings bool
	// Admin is true when the operator holds every permission cluster-wide (cluster-admin, e.g. run out of
	// cluster with an admin kubeconfig): it can install Phase 2 components without the labelled bindings,
	// although Extended stays false.
	Admin bool
	// Missing are the Phase 2 rules the operator does not hold.
	Missing []permissions.Missing
	// Checked is when the rights were reviewed.
	Checked time.Time
}

// Detector knows whether the operator holds the Phase 2 (extended) permissions in its namespace. It watches
// only the labelled RoleBindings in that namespace and the labelled ClusterRoleBindings, as metadata (never all
// RBAC), reviews the operator's rules when one appears, changes or goes, and otherwise every Recheck. Every
// replica runs it: the webhooks ask it from memory.
type Detector struct {
	// Namespace is the operator's namespace.
	Namespace string
	// Reviewer reviews the operator's rules.
	Reviewer *Reviewer
	// Metadata lists and watches the bindings (metadata only).
	Metadata metadata.Interface
	// Recheck is the period of detections without binding events (default DefaultRecheck).
	Recheck time.Duration

	mu        sync.RWMutex
	status    Status
	known     bool
	lastErr   error
	ready     chan struct{}
	kick      chan struct{}
	listeners []func(Status, bool)
	synced    []toolscache.InformerSynced
	rbStore   toolscache.Store
	crbStore  toolscache.Store
	once      sync.Once
}

// NewDetector returns a Detector for the operator's namespace.
func NewDetector(namespace string, reviewer *Reviewer, md metadata.Interface) *Detector {
	return &Detector{Namespace: namespace, Reviewer: reviewer, Metadata: md}
}

func (d *Detector) init() {
	d.once.Do(func() {
		d.ready = make(chan struct{})
		d.kick = make(chan struct{}, 1)
	})
}

// OnChange registers fn, called after every detection that follows a binding event or changes the Status
// (changed tells which); fn must not block.
func (d *Detector) OnChange(fn func(st Status, changed bool)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.listeners = append(d.listeners, fn)
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: every replica detects (webhooks ask it).
func (d *Detector) NeedLeaderElection() bool { return false }

// Start watches the labelled bindings and detects until ctx ends.
func (d *Detector) Start(ctx context.Context) error {
	d.init()
	logger := log.FromContext(ctx).WithName("permissions")
	tweak := func(o *metav1.ListOptions) { o.LabelSelector = permissions.LabelExtendedPermissions + "=true" }
	rb := metadatainformer.NewFilteredMetadataInformer(d.Metadata, rbacv1.SchemeGroupVersion.WithResource("rolebindings"), d.Namespace, 0,
		toolscache.Indexers{}, tweak).Informer()
	crb := metadatainformer.NewFilteredMetadataInformer(d.Metadata, rbacv1.SchemeGroupVersion.WithResource("clusterrolebindings"), "", 0,
		toolscache.Indexers{}, tweak).Informer()
	handler := toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { d.poke() },
		UpdateFunc: func(any, any) { d.poke() },
		DeleteFunc: func(any) { d.poke() },
	}
	for _, inf := range []toolscache.SharedIndexInformer{rb, crb} {
		if _, err := inf.AddEventHandler(handler); err != nil {
			return fmt.Errorf("watch the extended-permission bindings: %w", err)
		}
		go inf.RunWithContext(ctx)
	}
	d.mu.Lock()
	d.rbStore, d.crbStore = rb.GetStore(), crb.GetStore()
	d.synced = []toolscache.InformerSynced{rb.HasSynced, crb.HasSynced}
	d.mu.Unlock()
	if !toolscache.WaitForCacheSync(ctx.Done(), rb.HasSynced, crb.HasSynced) {
		return nil // stopping
	}
	select { // the initial listing's events: the first detection covers them
	case <-d.kick:
	default:
	}
	recheck := d.Recheck
	if recheck <= 0 {
		recheck = DefaultRecheck
	}
	event := false
	var backoff time.Duration
	for {
		wait := recheck
		err := d.detect(ctx, event)
		d.mu.Lock()
		d.lastErr = err
		d.mu.Unlock()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			backoff = min(max(2*backoff, time.Second), time.Minute)
			wait = backoff
			logger.Error(err, "permission detection failed; retrying", "in", wait.String())
		} else {
			backoff = 0
		}
		event = false
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-d.kick:
			event = true
			t.Stop()
			// Let the rest of a chart's RBAC objects arrive before reviewing.
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(settle):
			}
			select {
			case <-d.kick:
			default:
			}
		case <-t.C:
		}
		d.Reviewer.Invalidate()
	}
}

func (d *Detector) poke() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// detect reviews the operator's rights and publishes the Status.
func (d *Detector) detect(ctx context.Context, event bool) error {
	d.mu.RLock()
	bindings := len(d.rbStore.List()) > 0 && len(d.crbStore.List()) > 0
	d.mu.RUnlock()
	st, err := Detect(ctx, d.Reviewer, d.Namespace, bindings)
	if err != nil {
		return err
	}
	d.mu.Lock()
	changed := !d.known || st.Extended != d.status.Extended || st.Bindings != d.status.Bindings || st.Admin != d.status.Admin ||
		!reflect.DeepEqual(st.Missing, d.status.Missing)
	first := !d.known
	d.status, d.known = st, true
	listeners := append([]func(Status, bool){}, d.listeners...)
	d.mu.Unlock()
	if first {
		close(d.ready)
	}
	if changed || event {
		log.FromContext(ctx).WithName("permissions").Info("extended (Phase 2) permissions reviewed", "extended", st.Extended,
			"labelledBindings", st.Bindings, "missingRules", permissions.AtomCount(st.Missing))
		for _, fn := range listeners {
			fn(st, changed)
		}
	}
	return nil
}

// Detect reviews whether the operator holds the Phase 2 rules in namespace (bindings says whether the
// labelled bindings exist) and returns the Status.
func Detect(ctx context.Context, r *Reviewer, namespace string, bindings bool) (Status, error) {
	p2 := permissions.Phase2()
	reqs := []permissions.Requirement{
		{Object: "Phase 2 rules", Scope: permissions.ClusterScope, Rules: p2.Cluster},
		{Object: "Phase 2 rules", Scope: namespace, Rules: p2.Namespace},
	}
	missing, err := r.Missing(ctx, reqs)
	if err != nil {
		return Status{}, err
	}
	cluster, _, err := r.Rules(ctx, permissions.ClusterScope)
	if err != nil {
		return Status{}, err
	}
	admin := len(permissions.Lacking(cluster, permissions.FullAuthority())) == 0
	return Status{Extended: len(missing) == 0 && bindings, Bindings: bindings, Admin: admin, Missing: missing, Checked: r.now()}, nil
}

// Known returns the last Status without waiting; ok is false before the first detection.
func (d *Detector) Known() (st Status, ok bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.status, d.known
}

// Status returns the last Status, waiting for the first detection (at most 30 s, or until ctx ends).
func (d *Detector) Status(ctx context.Context) (Status, error) {
	d.init()
	t := time.NewTimer(firstDetectionWait)
	defer t.Stop()
	select {
	case <-d.ready:
	case <-t.C:
		d.mu.RLock()
		err := d.lastErr
		d.mu.RUnlock()
		if err == nil {
			err = fmt.Errorf("not run yet")
		}
		return Status{}, fmt.Errorf("the operator's permissions could not be reviewed: %w", err)
	case <-ctx.Done():
		return Status{}, fmt.Errorf("waiting for the first permission detection: %w", ctx.Err())
	}
	st, _ := d.Known()
	return st, nil
}

// ExtendedPermissions implements the migration scanner's PermissionChecker: it waits for the first detection.
func (d *Detector) ExtendedPermissions(ctx context.Context, _ string) (bool, error) {
	st, err := d.Status(ctx)
	if err != nil {
		return false, err
	}
	return st.Extended, nil
}
