// Command castware-operator manages the lifecycle of Cast AI's in-cluster components.
package main

import (
	_ "embed"
	"flag"
	"fmt"
	"os"
	"strings"

	uberzap "go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/castware-operator/castware-operator/internal/catalog"
	"github.com/castware-operator/castware-operator/internal/charts"
	"github.com/castware-operator/castware-operator/internal/console"
	"github.com/castware-operator/castware-operator/internal/helm"
	"github.com/castware-operator/castware-operator/internal/lifecycle/removal"
	"github.com/castware-operator/castware-operator/internal/lifecycle/subcmd"
	"github.com/castware-operator/castware-operator/internal/memlimit"
	"github.com/castware-operator/castware-operator/internal/operator"
	"github.com/castware-operator/castware-operator/internal/redact"
	"github.com/castware-operator/castware-operator/internal/selfupgrade"
	"github.com/castware-operator/castware-operator/internal/version"
)

//go:embed watches.yaml
var defaultCatalog []byte

func main() {
	if len(os.Args) > 1 && subcmd.Is(os.Args[1]) {
		os.Exit(subcmd.Main(os.Args[1], os.Args[2:]))
	}
	var o operator.Options
	var watchesFile string
	var showVersion bool
	flag.StringVar(&o.MetricsAddr, "metrics-bind-address", "0", "address the metrics endpoint binds to (e.g. :8443); 0 disables it")
	flag.BoolVar(&o.MetricsSecure, "metrics-secure", true, "serve metrics over HTTPS, only to scrapers whose token the API server authenticates and authorizes for GET /metrics; false serves plain HTTP to anyone")
	flag.StringVar(&o.MetricsCertDir, "metrics-cert-dir", "", "directory holding tls.crt and tls.key for the metrics endpoint (default: a self-signed certificate)")
	flag.StringVar(&o.ProbeAddr, "health-probe-bind-address", ":8081", "address the health and readiness probes bind to")
	flag.StringVar(&o.PprofAddr, "pprof-bind-address", "0", "address Go's pprof profiles are served on (e.g. 127.0.0.1:6060, unauthenticated: keep it on loopback); 0 disables it")
	flag.BoolVar(&o.LeaderElection, "leader-elect", false, "enable leader election so only one replica reconciles")
	flag.StringVar(&o.LeaderElectionID, "leader-election-id", operator.DefaultLeaderElectionID, "name of the leader-election Lease")
	flag.DurationVar(&o.LeaseDuration, "leader-election-lease-duration", operator.DefaultLeaseDuration, "how long a leader's lease is valid without renewal")
	flag.DurationVar(&o.RenewDeadline, "leader-election-renew-deadline", operator.DefaultRenewDeadline, "how long the leader tries to renew before giving up leadership")
	flag.DurationVar(&o.RetryPeriod, "leader-election-retry-period", operator.DefaultRetryPeriod, "how often the leader renews and candidates try to acquire")
	flag.StringVar(&o.Namespace, "namespace", defaultNamespace(), "namespace the operator manages (default: $WATCH_NAMESPACE, $POD_NAMESPACE or castai-agent)")
	flag.StringVar(&watchesFile, "watches-file", "", "component catalog file (default: the catalog built into the binary)")
	flag.DurationVar(&o.ReadyTimeout, "ready-timeout", helm.DefaultReadyTimeout, "how long a new revision's workloads may take to become ready before it is rolled back")
	flag.DurationVar(&o.PendingTimeout, "pending-timeout", helm.DefaultPendingTimeout, "how long a release left pending by another client may stay pending before it is recovered")
	flag.IntVar(&o.MaxHistory, "max-history", helm.DefaultMaxHistory, "revisions kept per release")
	flag.DurationVar(&o.ChartIndexTTL, "chart-index-ttl", charts.DefaultIndexTTL, "how long a chart repository index is cached")
	flag.BoolVar(&showVersion, "version", false, "print the version and exit")
	allowUncatalogued := flag.Bool("allow-uncatalogued-charts", false, "let Components of components the catalog does not list install any chart their castware.cast.ai/helm-chart label names (with the Cluster's API key Secret); default: only the catalog's charts")
	flag.BoolVar(&o.ChartsWithoutDigests, "allow-charts-without-digest", false, "accept chart repository index entries that announce no sha256 digest of their archive (refused by default)")
	flag.BoolVar(&o.KeepIdlePages, "keep-idle-pages", false, "keep the binary's pages resident after a burst of work instead of handing them back to the kernel once the process is idle")
	flag.DurationVar(&o.CastAI.PollInterval, "console-poll-interval", console.DefaultPollInterval, "pause between the starts of two console action polls when the Cast AI API answers at once and nothing happened lately (a poll the API holds is followed at once)")
	flag.DurationVar(&o.CastAI.ActivePollInterval, "console-poll-active-interval", console.DefaultActivePollInterval, "that pause for a while after activity (an action arrived, a Component or Cluster spec changed)")
	flag.DurationVar(&o.CastAI.ActivePollFor, "console-poll-active-for", console.DefaultActiveFor, "how long polls stay at the active interval after activity before slowing down to the idle interval")
	shipLogs := flag.Bool("ship-logs", os.Getenv("LOG_INGEST_ENABLED") != "false", "ship the operator's logs (info and above) to Cast AI once the cluster is registered (env LOG_INGEST_ENABLED)")
	o.SelfUpgrade = selfupgrade.BindFlags(flag.CommandLine, os.Getenv)
	operator.BindWebhookFlags(flag.CommandLine, os.Getenv, &o)
	// Every log line is scrubbed of the API keys the operator has read (internal/redact), at every level.
	zopts := zap.Options{TimeEncoder: zapcore.ISO8601TimeEncoder, DestWriter: redact.Writer(os.Stderr)}
	zopts.BindFlags(flag.CommandLine)
	flag.Parse()
	if showVersion {
		fmt.Println(version.Version, version.Commit)
		return
	}
	if *shipLogs {
		o.CastAI.Logs = console.NewLogSink(zapcore.InfoLevel)
	}
	setupLogging(&zopts, o.CastAI.Logs)
	setMemoryLimit()
	// A lost lease ends the process at once, without waiting for reconciles stuck on the API server: its
	// writes are refused anyway (internal/leaderfence), and the next leader takes over.
	o.OnLeadershipLost = func(err error) {
		ctrl.Log.WithName("setup").Error(err, "operator stopped")
		os.Exit(1)
	}
	if err := run(o, watchesFile, *allowUncatalogued); err != nil {
		ctrl.Log.WithName("setup").Error(err, "operator stopped")
		os.Exit(1)
	}
}

func run(o operator.Options, watchesFile string, allowUncatalogued bool) error {
	var err error
	if watchesFile == "" {
		o.Catalog, err = catalog.Parse(defaultCatalog)
	} else {
		o.Catalog, err = catalog.Load(watchesFile)
	}
	if err != nil {
		return err
	}
	o.Catalog.AllowUncatalogued(allowUncatalogued)
	cfg := ctrl.GetConfigOrDie()
	op, err := operator.New(cfg, o)
	if err != nil {
		return err
	}
	log := ctrl.Log.WithName("setup")
	log.Info("starting", "version", version.Version, "namespace", o.Namespace, "components", o.Catalog.Components())
	ctx := ctrl.SetupSignalHandler()
	removed := removal.Watch(ctx, cfg, o.Namespace, os.Getenv, func(msg string, err error, kv ...any) { log.Info(msg, append(kv, "error", err)...) })
	err = op.Manager.Start(ctx)
	removed()
	return err
}

// setMemoryLimit holds the Go runtime to 90% of the container's memory limit (the chart passes it in
// CONTAINER_MEMORY_LIMIT) unless GOMEMLIMIT is set.
func setMemoryLimit() {
	log := ctrl.Log.WithName("setup")
	limit, err := memlimit.Apply(os.Getenv)
	switch {
	case err != nil:
		log.Error(err, "no Go memory limit set")
	case limit > 0:
		log.Info("Go memory limit set", "bytes", limit, "percentOf", memlimit.EnvLimit)
	}
}

func defaultNamespace() string {
	for _, v := range []string{"WATCH_NAMESPACE", "POD_NAMESPACE"} {
		if ns := strings.TrimSpace(os.Getenv(v)); ns != "" {
			return ns
		}
	}
	return "castai-agent"
}

// setupLogging makes one logger of zopts (teed to sink when it is not nil) for controller-runtime and for
// klog, which client-go and Helm's Kubernetes client write to: every line goes through the same redaction.
func setupLogging(zopts *zap.Options, sink *console.LogSink) {
	logOpts := []zap.Opts{zap.UseFlagOptions(zopts)}
	if sink != nil {
		logOpts = append(logOpts, zap.RawZapOpts(uberzap.WrapCore(func(c zapcore.Core) zapcore.Core { return zapcore.NewTee(c, redact.Core(sink)) })))
	}
	logger := zap.New(logOpts...)
	ctrl.SetLogger(logger)
	klog.SetLogger(logger.WithName("klog"))
}
