package operator

import (
	"crypto/tls"

	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/castware-operator/castware-operator/internal/castai"
	"github.com/castware-operator/castware-operator/internal/charts"
	"github.com/castware-operator/castware-operator/internal/metrics"
	"github.com/castware-operator/castware-operator/internal/metricsauth"
)

// metricsOptions configure the metrics endpoint: HTTPS with authentication and authorization when
// MetricsSecure is set (the certificate from MetricsCertDir, else a self-signed one), plain HTTP otherwise.
// A scraper's bearer token is checked with a TokenReview and its access to GET /metrics with a
// SubjectAccessReview (the RBAC for both is in internal/permissions/phase1); the chart's
// <release>-metrics-reader ClusterRole grants that access. internal/metricsauth does both checks, as
// controller-runtime's filters.WithAuthenticationAndAuthorization would, without linking k8s.io/apiserver.
func metricsOptions(opts Options) metricsserver.Options {
	o := metricsserver.Options{BindAddress: opts.MetricsAddr}
	if !opts.MetricsSecure {
		return o
	}
	o.SecureServing = true
	o.FilterProvider = metricsauth.Filter
	o.CertDir = opts.MetricsCertDir
	// HTTP/2 stays off, as kubebuilder scaffolds it: its stream handling had denial-of-service flaws
	// (CVE-2023-44487, CVE-2023-39325) and a scraper needs none of it.
	o.TLSOpts = []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }}
	return o
}

// apiObserver records every Cast AI API request as metrics.
func apiObserver() castai.Option { return castai.WithObserver(metrics.CastAIObserver) }

// chartObserver records the chart loader's cache activity as metrics.
func chartObserver() charts.Option { return charts.WithCacheObserver(metrics.ChartCache{}) }
