// Package operator wires the manager, the Helm engine, the chart loader and the reconcilers together.
// main.go and the integration tests both use it, so tests run exactly the production wiring.
package operator

import (
	"fmt"
	"net/http"
	"os"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/controllers"
	"github.com/castware-operator/castware-operator/internal/castai"
	"github.com/castware-operator/castware-operator/internal/castai/metadata"
	"github.com/castware-operator/castware-operator/internal/catalog"
	"github.com/castware-operator/castware-operator/internal/certs"
	"github.com/castware-operator/castware-operator/internal/charts"
	"github.com/castware-operator/castware-operator/internal/console"
	"github.com/castware-operator/castware-operator/internal/dependents"
	"github.com/castware-operator/castware-operator/internal/helm"
	"github.com/castware-operator/castware-operator/internal/leaderfence"
	"github.com/castware-operator/castware-operator/internal/migration"
	"github.com/castware-operator/castware-operator/internal/pagetrim"
	"github.com/castware-operator/castware-operator/internal/permissions/access"
	"github.com/castware-operator/castware-operator/internal/secretcache"
	"github.com/castware-operator/castware-operator/internal/selfupgrade"
	"github.com/castware-operator/castware-operator/internal/version"
)

// Options configure the operator. Zero values take the documented defaults.
type Options struct {
	// Namespace is the namespace the operator manages (required).
	Namespace string
	// Catalog is the component catalog (required).
	Catalog *catalog.Catalog
	// MetricsAddr is the metrics endpoint address; "0" (the default when empty) disables it.
	MetricsAddr string
	// MetricsSecure serves metrics over HTTPS to authenticated, authorized scrapers only (main's
	// --metrics-secure, default true); false serves plain HTTP to anyone (see metrics.go).
	MetricsSecure bool
	// MetricsCertDir holds the metrics endpoint's tls.crt and tls.key (default: a self-signed certificate).
	MetricsCertDir string
	// ProbeAddr is the health probe address; "0" (the default when empty) disables it.
	ProbeAddr string
	// PprofAddr is where Go's pprof profiles are served; "0" (the default when empty) disables it.
	PprofAddr string
	// LeaderElection enables leader election with the Lease LeaderElectionID in Namespace.
	LeaderElection bool
	// LeaderElectionID names the Lease (default "efe8a6a1.cast.ai", the documented operator's, so the two
	// never reconcile at once).
	LeaderElectionID string
	// LeaseDuration, RenewDeadline and RetryPeriod tune leader election (defaults 90s, 60s, 30s: one lease
	// renewal every 30 s instead of client-go's every 2 s, which alone would cost 30 requests a minute).
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// OnLeadershipLost is called when the window of a lease this process held closes without renewal
	// (nil: the manager stops gracefully, waiting for running reconciles; main exits at once instead, as
	// controller-runtime does when its elector gives up).
	OnLeadershipLost func(error)
	// ReadyTimeout, PendingTimeout, MaxHistory: see the helm engine options (defaults there).
	ReadyTimeout, PendingTimeout time.Duration
	// MaxHistory is how many revisions each release keeps.
	MaxHistory int
	// ChartIndexTTL is how long a repository index is cached (default 5m).
	ChartIndexTTL time.Duration
	// ChartsWithoutDigests accepts repository index entries that announce no archive digest (refused by
	// default: nothing would prove the archive is the one published).
	ChartsWithoutDigests bool
	// Charts replaces the chart loader (default: charts.NewLoader).
	Charts charts.Source
	// Env looks up environment variables for catalog overrides (default os.Getenv).
	Env func(string) string
	// SkipControllerNameValidation allows several operators in one process (tests run one per namespace).
	SkipControllerNameValidation bool
	// CastAI configures the conversation with the Cast AI API.
	CastAI CastAIOptions
	// Migration configures the adoption of components installed without the operator (see migration.go).
	Migration MigrationOptions
	// SelfUpgrade configures upgrades of the operator's own Helm release (nil: off; see selfupgrade.go).
	SelfUpgrade *selfupgrade.Options
	// Webhooks runs the admission webhook server (nil: none, the default; see webhooks.go).
	Webhooks *WebhookOptions
	// Permissions configures the Phase 2 detection and the RBAC check before installs (see permissions.go).
	Permissions PermissionOptions
	// KeepIdlePages leaves the binary's pages resident after a burst of work (default: handed back once the
	// process is idle again; see internal/pagetrim).
	KeepIdlePages bool
}

// CastAIOptions configure the conversation with the Cast AI API.
type CastAIOptions struct {
	// Disabled runs without talking to Cast AI: Clusters are only validated, no actions are polled and
	// nothing is reported (for clusters managed purely through their resources).
	Disabled bool
	// PollInterval is the pause between the starts of two action polls when the API does not hold polls and
	// nothing happened lately (default console.DefaultPollInterval, 12s).
	PollInterval time.Duration
	// ActivePollInterval is that pause for ActivePollFor after activity: an action arrived, a Component or
	// Cluster spec changed (default console.DefaultActivePollInterval, 1s; at most PollInterval).
	ActivePollInterval time.Duration
	// ActivePollFor is how long polls stay at ActivePollInterval after activity (default 1m).
	ActivePollFor time.Duration
	// LongPoll is how long the API may hold an action poll (default 5m).
	LongPoll time.Duration
	// Metadata options (metadata-service URLs and timeouts).
	Metadata []metadata.Option
	// OperatorRelease and OperatorNamespace locate the operator's own Helm release
	// (default: $HELM_RELEASE_NAME or castware-operator, in the managed namespace).
	OperatorRelease, OperatorNamespace string
	// ClientOptions apply to every API client (timeouts, retries).
	ClientOptions []castai.Option
	// Logs ships the operator's own logs to Cast AI once a Cluster is registered (optional; main wires it
	// into the logger).
	Logs *console.LogSink
}

// Leader-election defaults.
const (
	// DefaultLeaseDuration is how long a leader's lease is valid without renewal.
	DefaultLeaseDuration = 90 * time.Second
	// DefaultRenewDeadline is how long the leader keeps trying to renew before giving up leadership.
	DefaultRenewDeadline = 60 * time.Second
	// DefaultRetryPeriod is how often the leader renews and candidates try to acquire.
	DefaultRetryPeriod = 30 * time.Second
)

func durationOr(d, def time.Duration) *time.Duration {
	if d <= 0 {
		d = def
	}
	return &d
}

// DefaultLeaderElectionID is the leader-election Lease name.
const DefaultLeaderElectionID = "efe8a6a1.cast.ai"

// Operator is a configured, not yet started operator.
type Operator struct {
	// Manager is the controller-runtime manager; Start runs everything.
	Manager ctrl.Manager
	// Engine is the Helm engine.
	Engine *helm.Engine
	// Charts is the chart source.
	Charts charts.Source
	// Components is the Component reconciler.
	Components *controllers.ComponentReconciler
	// Clusters is the Cluster reconciler.
	Clusters *controllers.ClusterReconciler
	// Migration is the Cluster hook adopting existing installations (nil when disabled).
	Migration *migration.Scanner
	// SelfUpgrade upgrades the operator's own release (nil when not configured).
	SelfUpgrade *selfupgrade.Upgrader
	// Conns, Registrar, Poller and Reporter are the Cast AI conversation (nil when disabled).
	Conns     *console.Connections
	Registrar *console.Registrar
	Poller    *console.Poller
	Reporter  *console.Reporter
	// Webhooks is the admission webhook server (nil unless Options.Webhooks is set).
	Webhooks webhook.Server
	// WebhookCerts keeps the webhook serving certificate (nil unless the operator manages it).
	WebhookCerts *certs.Manager
	// PermissionDetector and PermissionGate check the operator's permissions (nil when disabled; permissions.go).
	PermissionDetector *access.Detector
	PermissionGate     *access.Gate

	// Fence refuses the writes of a replica without a fresh lease (nil without leader election; fence.go).
	Fence *leaderfence.Fence

	wakeups chan event.GenericEvent // asks for Cluster reconciles (clusterWakeups)
}

// NewScheme returns the scheme the operator uses.
func NewScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := castwarev1.AddToScheme(s); err != nil {
		return nil, err
	}
	return s, nil
}

// New builds the manager and registers every controller.
func New(cfg *rest.Config, opts Options) (*Operator, error) {
	if opts.Namespace == "" || opts.Catalog == nil {
		return nil, fmt.Errorf("operator: Namespace and Catalog are required")
	}
	if opts.MetricsAddr == "" {
		opts.MetricsAddr = "0"
	}
	if opts.PprofAddr == "" {
		opts.PprofAddr = "0"
	}
	if opts.ProbeAddr == "" {
		opts.ProbeAddr = "0"
	}
	if opts.LeaderElectionID == "" {
		opts.LeaderElectionID = DefaultLeaderElectionID
	}
	scheme, err := NewScheme()
	if err != nil {
		return nil, err
	}
	cfg = rest.CopyConfig(cfg)
	if cfg.UserAgent == "" {
		cfg.UserAgent = version.UserAgent()
	}
	var fenced *fencing
	if opts.LeaderElection {
		if fenced, err = newFencing(cfg, opts); err != nil {
			return nil, err
		}
		cfg = fenced.cfg
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                              scheme,
		Metrics:                             metricsOptions(opts),
		HealthProbeBindAddress:              opts.ProbeAddr,
		PprofBindAddress:                    opts.PprofAddr,
		LeaderElection:                      opts.LeaderElection,
		LeaderElectionID:                    opts.LeaderElectionID,
		LeaderElectionNamespace:             opts.Namespace,
		LeaderElectionReleaseOnCancel:       true,
		LeaseDuration:                       durationOr(opts.LeaseDuration, DefaultLeaseDuration),
		RenewDeadline:                       durationOr(opts.RenewDeadline, DefaultRenewDeadline),
		RetryPeriod:                         durationOr(opts.RetryPeriod, DefaultRetryPeriod),
		Cache:                               CacheOptions(opts.Namespace),
		Client:                              client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}}},
		Controller:                          config.Controller{SkipNameValidation: &opts.SkipControllerNameValidation},
		LeaderElectionResourceLockInterface: fenced.resourceLock(),
	})
	if err != nil {
		return nil, fmt.Errorf("create manager: %w", err)
	}
	if fenced != nil {
		if err := fenced.attach(mgr, opts.OnLeadershipLost); err != nil {
			return nil, err
		}
	}
	src := opts.Charts
	if src == nil {
		copts := []charts.Option{chartObserver()}
		if opts.ChartIndexTTL > 0 {
			copts = append(copts, charts.WithIndexTTL(opts.ChartIndexTTL))
		}
		if opts.ChartsWithoutDigests {
			copts = append(copts, charts.WithoutDigests())
		}
		src = charts.NewLoader(append(copts, charts.WithUserAgent(version.UserAgent()))...)
	}
	var hopts []helm.Option
	if opts.ReadyTimeout > 0 {
		hopts = append(hopts, helm.WithReadyTimeout(opts.ReadyTimeout))
	}
	if opts.PendingTimeout > 0 {
		hopts = append(hopts, helm.WithPendingTimeout(opts.PendingTimeout))
	}
	if opts.MaxHistory > 0 {
		hopts = append(hopts, helm.WithMaxHistory(opts.MaxHistory))
	}
	hopts = append(hopts, helm.WithNamespaceWriter(mgr.GetClient()))
	engine, err := helm.New(mgr.GetConfig(), mgr.GetRESTMapper(), mgr.GetClient(), mgr.GetAPIReader(), hopts...)
	if err != nil {
		return nil, err
	}
	op := &Operator{Manager: mgr, Engine: engine, Charts: src, Fence: fenced.get()}
	// The API key and the dependents' copies are read whole once per resourceVersion the Secret metadata
	// informer (the Cluster controller's) shows, not on every Cluster reconcile.
	secrets := secretcache.New(mgr.GetCache(), mgr.GetAPIReader())
	op.Clusters = &controllers.ClusterReconciler{Client: mgr.GetClient(), APIReader: secrets, Catalog: opts.Catalog}
	op.Components = &controllers.ComponentReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("castware-operator"),
		Catalog: opts.Catalog, Charts: src, Engine: engine, Env: opts.Env, OwnRelease: opts.ownRelease(),
	}
	if err := op.connectPermissions(opts); err != nil {
		return nil, err
	}
	if !opts.CastAI.Disabled {
		if err := op.connectCastAI(opts); err != nil {
			return nil, err
		}
	}
	if !opts.Migration.Disabled {
		if opts.Migration.Directory == nil && op.Conns != nil {
			opts.Migration.Directory = console.Directory{Client: mgr.GetClient(), Conns: op.Conns, Namespace: opts.Namespace}
		}
		if err := op.connectMigration(opts); err != nil {
			return nil, err
		}
	}
	if opts.SelfUpgrade != nil {
		if err := op.connectSelfUpgrade(opts); err != nil {
			return nil, err
		}
	}
	op.Clusters.Hooks = op.clusterHooks(mgr.GetClient(), secrets, access.GrantCommand(operatorRelease(opts)))
	op.Clusters.WatchedSecrets = []string{dependents.ClusterControllerSecret}
	op.wirePermissionChecks()
	if err := op.Clusters.SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("set up cluster controller: %w", err)
	}
	if err := op.Components.SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("set up component controller: %w", err)
	}
	if opts.Webhooks != nil {
		if err := op.connectWebhooks(opts); err != nil {
			return nil, fmt.Errorf("set up webhooks: %w", err)
		}
	}
	if !opts.KeepIdlePages {
		if err := mgr.Add(pagetrim.Trimmer{}); err != nil {
			return nil, fmt.Errorf("set up page trimming: %w", err)
		}
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return nil, err
	}
	return op, nil
}

// CacheOptions scope every informer to the operator's namespace, and the workload informers to objects
// the operator's releases rendered: memory stays flat however large the cluster grows.
func CacheOptions(namespace string) cache.Options {
	sel := managedSelector()
	return cache.Options{
		DefaultNamespaces: map[string]cache.Config{namespace: {}},
		ByObject: map[client.Object]cache.ByObject{
			&appsv1.Deployment{}:  {Label: sel},
			&appsv1.DaemonSet{}:   {Label: sel},
			&appsv1.StatefulSet{}: {Label: sel},
			&batchv1.Job{}:        {Label: sel},
		},
	}
}

func managedSelector() labels.Selector {
	req, err := labels.NewRequirement(helm.LabelComponent, selection.Exists, nil)
	if err != nil {
		panic(err)
	}
	return labels.NewSelector().Add(*req)
}

// connectCastAI wires the Cast AI conversation: registration (a Cluster hook), the console-action
// poller and the transition reporter (leader-only runnables), and "latest" from getByName.
func (op *Operator) connectCastAI(opts Options) error {
	mgr := op.Manager
	co := opts.CastAI
	base := []castai.Option{castai.WithVersion(version.Version), castai.WithUserAgent(version.UserAgent()), apiObserver()}
	if op.Fence != nil { // a stale leader neither reports nor acknowledges
		base = append(base, castai.WithHTTPClient(&http.Client{Transport: op.Fence.Wrap(http.DefaultTransport.(*http.Transport).Clone())}))
	}
	op.Conns = console.NewConnections(append(base, co.ClientOptions...)...)
	op.Poller = &console.Poller{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Conns: op.Conns, Catalog: opts.Catalog,
		Interval: co.PollInterval, ActiveInterval: co.ActivePollInterval, ActiveFor: co.ActivePollFor, LongPoll: co.LongPoll}
	release, _ := operatorRelease(opts)
	op.Registrar = &console.Registrar{Client: mgr.GetClient(), Conns: op.Conns, Engine: op.Engine, Poller: op.Poller, Env: opts.Env,
		Metadata: co.Metadata, OperatorNamespace: co.OperatorNamespace, OperatorRelease: release, ReleaseMeta: mgr.GetCache(), Logs: co.Logs}
	op.Reporter = console.NewReporter(&console.Reporter{Client: mgr.GetClient(), Writer: mgr.GetClient(), Reader: mgr.GetAPIReader(), Conns: op.Conns, Engine: op.Engine, Catalog: opts.Catalog})
	wakeups := op.clusterWakeups()
	op.Poller.Wakeup = func(key types.NamespacedName) {
		op.Registrar.Recheck(key)
		cl := &castwarev1.Cluster{}
		cl.Namespace, cl.Name = key.Namespace, key.Name
		select {
		case wakeups <- event.GenericEvent{Object: cl}:
		default:
		}
	}
	// A spec change is activity: the poller polls an API that answers at once faster for a while.
	op.Components.SpecChanged, op.Clusters.SpecChanged = op.Poller.Nudge, op.Poller.Nudge
	op.Components.Reporter = op.Reporter
	op.Components.Versions = console.LatestVersions{Conns: op.Conns, Fallback: controllers.RepoLatest{Charts: op.Charts}}
	op.Components.Upgrades = console.UpgradeValidation{Conns: op.Conns}
	if err := mgr.Add(op.Poller); err != nil {
		return err
	}
	return mgr.Add(op.Reporter)
}

func envOr(env func(string) string, key, def string) string {
	if env == nil {
		env = os.Getenv
	}
	if v := env(key); v != "" {
		return v
	}
	return def
}
