// Package operator wires the manager, the Helm engine, the chart loader and the reconcilers together.
// main.go and the integration tests both use it, so tests run exactly the production wiring.
package operator

import (
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/controllers"
	"github.com/castware-operator/castware-operator/internal/catalog"
	"github.com/castware-operator/castware-operator/internal/charts"
	"github.com/castware-operator/castware-operator/internal/helm"
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
	// ProbeAddr is the health probe address; "0" (the default when empty) disables it.
	ProbeAddr string
	// LeaderElection enables leader election with the Lease LeaderElectionID in Namespace.
	LeaderElection bool
	// LeaderElectionID names the Lease (default "efe8a6a1.cast.ai", the documented operator's, so the two
	// never reconcile at once).
	LeaderElectionID string
	// ReadyTimeout, PendingTimeout, MaxHistory: see the helm engine options (defaults there).
	ReadyTimeout, PendingTimeout time.Duration
	// MaxHistory is how many revisions each release keeps.
	MaxHistory int
	// ChartIndexTTL is how long a repository index is cached (default 5m).
	ChartIndexTTL time.Duration
	// Charts replaces the chart loader (default: charts.NewLoader).
	Charts charts.Source
	// Env looks up environment variables for catalog overrides (default os.Getenv).
	Env func(string) string
	// SkipControllerNameValidation allows several operators in one process (tests run one per namespace).
	SkipControllerNameValidation bool
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
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        scheme,
		Metrics:                       metricsserver.Options{BindAddress: opts.MetricsAddr},
		HealthProbeBindAddress:        opts.ProbeAddr,
		LeaderElection:                opts.LeaderElection,
		LeaderElectionID:              opts.LeaderElectionID,
		LeaderElectionNamespace:       opts.Namespace,
		LeaderElectionReleaseOnCancel: true,
		Cache:                         CacheOptions(opts.Namespace),
		Client:                        client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}}},
		Controller:                    config.Controller{SkipNameValidation: &opts.SkipControllerNameValidation},
	})
	if err != nil {
		return nil, fmt.Errorf("create manager: %w", err)
	}
	src := opts.Charts
	if src == nil {
		var copts []charts.Option
		if opts.ChartIndexTTL > 0 {
			copts = append(copts, charts.WithIndexTTL(opts.ChartIndexTTL))
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
	op := &Operator{Manager: mgr, Engine: engine, Charts: src}
	op.Clusters = &controllers.ClusterReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Catalog: opts.Catalog}
	if err := op.Clusters.SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("set up cluster controller: %w", err)
	}
	op.Components = &controllers.ComponentReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("castware-operator"),
		Catalog: opts.Catalog, Charts: src, Engine: engine, Env: opts.Env,
	}
	if err := op.Components.SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("set up component controller: %w", err)
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
