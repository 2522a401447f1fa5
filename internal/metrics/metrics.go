// Package metrics holds castware-operator's own Prometheus metrics (all named castware_*). They are
// registered on controller-runtime's registry, so the manager's metrics endpoint serves them next to
// controller-runtime's (controller_runtime_reconcile_total, workqueue_*, rest_client_*, ...).
//
// Every event is recorded by one call at the place it happens (the Helm engine, the Component
// controller, the console poller, the self-upgrade); packages that stay free of controller-runtime
// (internal/castai, internal/charts) take an observer option instead, which the operator wiring fills
// with CastAIObserver and ChartCache. No label carries an unbounded value: operations, outcomes, steps,
// action kinds, endpoints, HTTP status codes and phases are fixed sets, and component names come from
// the catalog. docs/metrics.md lists every metric.
package metrics

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Outcome label values.
const (
	// Success marks an operation that returned no error.
	Success = "success"
	// Failure marks an operation that returned an error.
	Failure = "error"
)

// durationBuckets fit Helm operations and console actions: from half a second to ten minutes.
var durationBuckets = []float64{0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}

// apiBuckets fit Cast AI API requests: quick calls, and long polls held for minutes.
var apiBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 600}

var (
	helmOperations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "castware_helm_operations_total",
		Help: "Helm operations the engine ran, by operation (install, upgrade, rollback, uninstall, reinstall) and outcome (success, error).",
	}, []string{"operation", "outcome"})
	helmDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "castware_helm_operation_duration_seconds",
		Help:    "How long Helm operations took, by operation and outcome (workload readiness is not included).",
		Buckets: durationBuckets,
	}, []string{"operation", "outcome"})
	componentDecisions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "castware_component_decisions_total",
		Help: "Steps the Component state machine decided on (Install, Upgrade, Rollback, WaitReady, None, ...).",
	}, []string{"step"})
	componentAvailable = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "castware_component_available",
		Help: "1 when the Component's Available condition is True, 0 otherwise.",
	}, []string{"namespace", "component"})
	componentProgressing = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "castware_component_progressing",
		Help: "1 when the Component's Progressing condition is True, 0 otherwise.",
	}, []string{"namespace", "component"})
	componentRevision = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "castware_component_helm_revision",
		Help: "The Helm revision of the Component's release the operator last observed (0: no release).",
	}, []string{"namespace", "component"})
	consoleActions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "castware_console_actions_total",
		Help: "Console actions applied, by kind (install, upgrade, rollback, uninstall) and outcome (success, error).",
	}, []string{"kind", "outcome"})
	consoleLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "castware_console_action_latency_seconds",
		Help:    "Time from a console action's creation at Cast AI (queued) to the stage it reached: applied (the Component change is made) or acknowledged.",
		Buckets: durationBuckets,
	}, []string{"kind", "stage"})
	consolePollInterval = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "castware_console_poll_interval_seconds",
		Help: "The pause the console poller aims for between the starts of two polls of an API that answers at once: the active interval after activity, growing to the idle interval (a poll the API held that long is followed at once).",
	})
	apiRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "castware_castai_api_requests_total",
		Help: "HTTP requests sent to the Cast AI API (retries included), by endpoint and status code (code \"error\": no HTTP answer).",
	}, []string{"endpoint", "code"})
	apiDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "castware_castai_api_request_duration_seconds",
		Help:    "Latency of HTTP requests to the Cast AI API, by endpoint (long polls are held by the API for up to minutes).",
		Buckets: apiBuckets,
	}, []string{"endpoint"})
	chartCacheLookups = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "castware_chart_cache_lookups_total",
		Help: "Chart cache lookups, by cache (index: repository indexes and OCI tags; archive: chart archives) and result (hit, miss).",
	}, []string{"cache", "result"})
	chartFetched = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "castware_chart_fetched_bytes_total",
		Help: "Bytes downloaded from chart repositories and registries, by cache (index, archive).",
	}, []string{"cache"})
	selfUpgradePhase = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "castware_self_upgrade_phase",
		Help: "1 for the phase the operator's upgrade of its own release is in (None when there is none), 0 for the others.",
	}, []string{"phase"})
)

// Collectors returns every castware_* collector (the lint test and docs/metrics.md check them all).
func Collectors() []prometheus.Collector {
	return []prometheus.Collector{
		helmOperations, helmDuration, componentDecisions, componentAvailable, componentProgressing, componentRevision,
		consoleActions, consoleLatency, consolePollInterval, apiRequests, apiDuration, chartCacheLookups, chartFetched, selfUpgradePhase, driftChecks,
	}
}

// Names returns the names of every castware_* metric, in the order of Collectors.
func Names() []string {
	var out []string
	for _, c := range Collectors() {
		ch := make(chan *prometheus.Desc, 1)
		c.Describe(ch)
		_, rest, _ := strings.Cut((<-ch).String(), `fqName: "`)
		name, _, _ := strings.Cut(rest, `"`)
		out = append(out, name)
	}
	return out
}

func init() {
	crmetrics.Registry.MustRegister(Collectors()...)
}
