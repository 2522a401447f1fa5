package helm

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	helmclient "github.com/operator-framework/helm-operator-plugins/pkg/client"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/kube"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Release labels the engine stores on Helm release records (not on Kubernetes objects).
const (
	// LabelSession identifies the operator process that created a revision; a pending revision from
	// another session is known to be abandoned.
	LabelSession = "castware.cast.ai/session"
	// LabelHealthy marks a revision whose workloads all became ready.
	LabelHealthy = "castware.cast.ai/healthy"
	// LabelRevision is the revision number the session and healthy labels were written for. Helm copies a
	// revision's labels onto the next one (a `helm upgrade` from the CLI, any rollback), so those labels
	// count only on the revision this one names (see SessionOf, HealthyOf).
	LabelRevision = "castware.cast.ai/revision"
	// LabelComponent is set on every rendered object: the name of the Component that owns the release.
	LabelComponent = "castware.cast.ai/component"
)

// Defaults for the engine's options.
const (
	// DefaultMaxHistory is how many revisions a release keeps.
	DefaultMaxHistory = 5
	// DefaultPendingTimeout is how long a pending release not created by a previous operator process may
	// stay pending before it is considered abandoned.
	DefaultPendingTimeout = 5 * time.Minute
	// DefaultReadyTimeout is how long a new revision's workloads may take to become ready before the
	// revision is considered failed.
	DefaultReadyTimeout = 5 * time.Minute
	// DefaultHookTimeout bounds chart hooks (Helm's --timeout; the engine never uses Helm's --wait).
	DefaultHookTimeout = 5 * time.Minute
)

// Option configures an Engine.
type Option func(*Engine)

// WithMaxHistory sets how many revisions each release keeps (default DefaultMaxHistory).
func WithMaxHistory(n int) Option { return func(e *Engine) { e.maxHistory = n } }

// WithPendingTimeout sets when a pending release is recovered (default DefaultPendingTimeout).
func WithPendingTimeout(d time.Duration) Option { return func(e *Engine) { e.pendingTimeout = d } }

// WithReadyTimeout sets how long workloads may take to become ready (default DefaultReadyTimeout).
func WithReadyTimeout(d time.Duration) Option { return func(e *Engine) { e.readyTimeout = d } }

// WithHookTimeout bounds chart hooks (default DefaultHookTimeout).
func WithHookTimeout(d time.Duration) Option { return func(e *Engine) { e.hookTimeout = d } }

// WithSession sets the session identity stored on revisions (default: random per process).
func WithSession(id string) Option { return func(e *Engine) { e.session = id } }

// WithClock sets the clock (default time.Now); tests use it.
func WithClock(now func() time.Time) Option { return func(e *Engine) { e.now = now } }

// Engine runs Helm actions for component releases. It is safe for concurrent use on different releases.
type Engine struct {
	getter         helmclient.ActionClientGetter
	reader         client.Reader
	apiReader      client.Reader
	maxHistory     int
	pendingTimeout time.Duration
	readyTimeout   time.Duration
	hookTimeout    time.Duration
	session        string
	now            func() time.Time
	nsWriter       NamespaceWriter
	renderCaps     capsCache        // cluster Capabilities for Render (render.go)
	fieldChecks    serverValidation // kinds the API server validates itself (fieldvalidation.go)

	inflight sync.Map // releaseKey → struct{}
}

// New returns an Engine that talks to the cluster behind cfg. reader serves reads of rendered workloads
// (usually the manager's cache); apiReader is used for objects outside the cache's namespaces.
func New(cfg *rest.Config, mapper meta.RESTMapper, reader, apiReader client.Reader, opts ...Option) (*Engine, error) {
	e := &Engine{
		reader:         reader,
		apiReader:      apiReader,
		maxHistory:     DefaultMaxHistory,
		pendingTimeout: DefaultPendingTimeout,
		readyTimeout:   DefaultReadyTimeout,
		hookTimeout:    DefaultHookTimeout,
		now:            time.Now,
	}
	for _, o := range opts {
		o(e)
	}
	if e.session == "" {
		b := make([]byte, 6)
		_, _ = rand.Read(b)
		e.session = hex.EncodeToString(b)
	}
	secrets := helmclient.DefaultSecretsStorageDriver(helmclient.SecretsStorageDriverOpts{DisableOwnerRefInjection: true})
	// Every release record the engine creates is stamped with its session and revision (stamp.go).
	stamped := func(ctx context.Context, obj client.Object, cfg *rest.Config) (driver.Driver, error) {
		d, err := secrets(ctx, obj, cfg)
		if err != nil {
			return nil, err
		}
		return stampDriver{Driver: d, session: e.session}, nil
	}
	acg, err := helmclient.NewActionConfigGetter(cfg, mapper, helmclient.StorageDriverMapper(stamped))
	if err != nil {
		return nil, fmt.Errorf("helm action config: %w", err)
	}
	if e.getter, err = NewActionClientGetter(acg); err != nil {
		return nil, err
	}
	return e, nil
}

// NewActionClientGetter wraps a helm-operator-plugins action config getter into an action client getter
// whose install and upgrade use the engine's post-renderer instead of the default one, so no owner
// reference to the Component is ever written into rendered objects, and whose failure handling is left
// to the engine (failed upgrades are rolled back to the last good revision, not to the previous one).
func NewActionClientGetter(acg helmclient.ActionConfigGetter) (helmclient.ActionClientGetter, error) {
	return helmclient.NewActionClientGetter(acg,
		helmclient.WithFailureRollbacks(false),
		helmclient.AppendInstallOptions(func(i *action.Install) error { i.PostRenderer = nil; return nil }),
		helmclient.AppendUpgradeOptions(func(u *action.Upgrade) error { u.PostRenderer = nil; return nil }),
	)
}

// Session returns the identity this engine stores on the revisions it creates.
func (e *Engine) Session() string { return e.session }

// PendingTimeout returns how long a pending release may stay pending before it is recovered.
func (e *Engine) PendingTimeout() time.Duration { return e.pendingTimeout }

// ReadyTimeout returns how long new workloads may take to become ready.
func (e *Engine) ReadyTimeout() time.Duration { return e.readyTimeout }

// Request is a wanted release.
type Request struct {
	// Owner is the Component the release belongs to; it selects the namespace and names rendered objects.
	Owner client.Object
	// ReleaseName is the Helm release name.
	ReleaseName string
	// Chart is the loaded chart.
	Chart *chart.Chart
	// Values are the complete values; nothing of a previous revision is reused.
	Values map[string]any
	// TakeOwnership lets an install adopt objects that exist without Helm metadata (migration of YAML installs).
	TakeOwnership bool
	// DryRun renders and validates against the API server without changing anything.
	DryRun bool
	// Description is stored on the revision.
	Description string
}

func (e *Engine) client(ctx context.Context, owner client.Object) (helmclient.ActionInterface, error) {
	ac, err := e.getter.ActionClientFor(ctx, owner)
	if err != nil {
		return nil, fmt.Errorf("helm client for %s/%s: %w", owner.GetNamespace(), owner.GetName(), err)
	}
	if cfg := ac.Config(); cfg != nil {
		if kc, ok := cfg.KubeClient.(*kube.Client); ok && cfg.RESTClientGetter != nil {
			cfg.KubeClient = serverValidatedKube{Client: kc, sv: &e.fieldChecks, getter: cfg.RESTClientGetter}
		}
	}
	return ac, nil
}

func releaseKey(owner client.Object, name string) string { return owner.GetNamespace() + "/" + name }

// begin marks a release as being operated on by this process; end releases the mark.
func (e *Engine) begin(owner client.Object, name string) func() {
	k := releaseKey(owner, name)
	e.inflight.Store(k, struct{}{})
	return func() { e.inflight.Delete(k) }
}

// InFlight reports whether this process is currently running a Helm action on the release.
func (e *Engine) InFlight(owner client.Object, name string) bool {
	_, ok := e.inflight.Load(releaseKey(owner, name))
	return ok
}

// config returns the Helm action configuration for an owner's namespace.
func (e *Engine) config(ctx context.Context, owner client.Object) (*action.Configuration, error) {
	ac, err := e.client(ctx, owner)
	if err != nil {
		return nil, err
	}
	return ac.Config(), nil
}

// Get returns the latest revision of a release, or nil when there is none.
func (e *Engine) Get(ctx context.Context, owner client.Object, name string) (*release.Release, error) {
	st, err := e.Observe(ctx, owner, name)
	if err != nil {
		return nil, err
	}
	return st.Latest, nil
}
