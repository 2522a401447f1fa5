package packaging

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	_ "sigs.k8s.io/controller-runtime/pkg/controller" // registers controller_runtime_* like the operator binary
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/castware-operator/castware-operator/internal/metrics"
)

// metricsArgs are the values every render of this file needs.
var metricsArgs = []string{"--set", "apiKeySecret.apiKey=k", "--set", "defaultCluster.provider=eks"}

const serviceMonitorAPI = "monitoring.coreos.com/v1/ServiceMonitor"

// TestChartServiceMonitor: the ServiceMonitor is rendered only when enabled and the cluster serves its API,
// scrapes the metrics Service's https port with the Prometheus token, and follows metrics.secure.
func TestChartServiceMonitor(t *testing.T) {
	on := append([]string{"--set", "metrics.serviceMonitor.enabled=true"}, metricsArgs...)
	if objs := render(t, operatorDir, "castware-operator", "castai-agent", on...); len(ofKind(objs, "ServiceMonitor")) != 0 {
		t.Error("a ServiceMonitor is rendered without the monitoring.coreos.com/v1 API")
	}
	off := append([]string{"--api-versions", serviceMonitorAPI}, metricsArgs...)
	if objs := render(t, operatorDir, "castware-operator", "castai-agent", off...); len(ofKind(objs, "ServiceMonitor")) != 0 {
		t.Error("a ServiceMonitor is rendered with metrics.serviceMonitor.enabled=false")
	}
	objs := render(t, operatorDir, "castware-operator", "castai-agent", append(on, "--api-versions", serviceMonitorAPI)...)
	sm := find(t, objs, "ServiceMonitor", "castware-operator")
	svc := find(t, objs, "Service", "castware-operator-metrics")
	checkSelects(t, sm, svc)
	ep := firstEndpoint(t, sm)
	port, _, _ := unstructured.NestedString(ep, "port")
	scheme, _, _ := unstructured.NestedString(ep, "scheme")
	token, _, _ := unstructured.NestedString(ep, "bearerTokenFile")
	skip, _, _ := unstructured.NestedBool(ep, "tlsConfig", "insecureSkipVerify")
	if port != "https" || scheme != "https" || token == "" || !skip {
		t.Errorf("endpoint %v: want port and scheme https, a bearer token file and insecureSkipVerify", ep)
	}
	if p := servicePort(t, svc); p["name"] != "https" || fmt.Sprint(p["port"]) != "8443" {
		t.Errorf("metrics Service port %v, want https 8443", p)
	}
	objs = render(t, operatorDir, "castware-operator", "castai-agent", append(on, "--api-versions", serviceMonitorAPI, "--set", "metrics.secure=false")...)
	ep = firstEndpoint(t, find(t, objs, "ServiceMonitor", "castware-operator"))
	if ep["scheme"] != "http" || ep["port"] != "http" || ep["bearerTokenFile"] != nil || ep["tlsConfig"] != nil {
		t.Errorf("plain-HTTP endpoint %v: want http without token or TLS", ep)
	}
}

// TestChartMetricsReaderRole: the ClusterRole scrapers are bound to grants GET /metrics and nothing else.
func TestChartMetricsReaderRole(t *testing.T) {
	cr := find(t, render(t, operatorDir, "castware-operator", "castai-agent", metricsArgs...), "ClusterRole", "castware-operator-metrics-reader")
	rules, _, _ := unstructured.NestedSlice(cr.Object, "rules")
	want := []any{map[string]any{"nonResourceURLs": []any{"/metrics"}, "verbs": []any{"get"}}}
	if b, _ := json.Marshal(rules); string(b) != mustJSON(t, want) {
		t.Errorf("metrics-reader rules %s, want %s", b, mustJSON(t, want))
	}
}

// TestChartMetricsDashboard: the dashboard ConfigMap is labelled for Grafana's sidecar, holds JSON, and its
// queries use only metrics the operator registers, covering every castware_* metric.
func TestChartMetricsDashboard(t *testing.T) {
	objs := render(t, operatorDir, "castware-operator", "castai-agent", metricsArgs...)
	if len(ofKind(objs, "ConfigMap")) > 0 && hasDashboard(objs) {
		t.Error("the dashboard is rendered with metrics.dashboard.enabled=false")
	}
	objs = render(t, operatorDir, "castware-operator", "castai-agent", append(metricsArgs, "--set", "metrics.dashboard.enabled=true")...)
	cm := find(t, objs, "ConfigMap", "castware-operator-dashboard")
	if cm.GetLabels()["grafana_dashboard"] != "1" {
		t.Errorf("dashboard labels %v lack grafana_dashboard: \"1\"", cm.GetLabels())
	}
	raw, _, _ := unstructured.NestedString(cm.Object, "data", "castware-operator.json")
	used := dashboardMetrics(t, []byte(raw))
	for _, name := range used {
		if !registered(name) {
			t.Errorf("the dashboard queries %s, which the operator does not register", name)
		}
	}
	for _, name := range metrics.Names() {
		if !slices.Contains(used, name) {
			t.Errorf("the dashboard never shows %s", name)
		}
	}
}

// dashboardMetrics parses a Grafana dashboard and returns the metric names its panel queries and
// label_values variables use (histogram series reduced to the histogram's name), sorted.
func dashboardMetrics(t *testing.T, raw []byte) []string {
	t.Helper()
	var d struct {
		Panels []struct {
			Targets []struct{ Expr string } `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct{ Definition string } `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	var names []string
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			names = append(names, exprMetrics(tg.Expr)...)
		}
	}
	for _, v := range d.Templating.List {
		if m := labelValues.FindStringSubmatch(v.Definition); m != nil {
			names = append(names, m[1])
		}
	}
	if len(names) == 0 {
		t.Fatal("the dashboard has no queries")
	}
	slices.Sort(names)
	return slices.Compact(names)
}

var (
	labelValues = regexp.MustCompile(`^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)`)
	// Parts of a PromQL expression that hold label names or durations, not metric names.
	promqlNoise = regexp.MustCompile(`\{[^}]*\}|\[[^\]]*\]|\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promqlIdent = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?`)
	promqlWords = []string{"and", "or", "unless", "bool", "offset"}
)

// exprMetrics returns the metric names of a PromQL expression: identifiers that are neither functions,
// aggregations, keywords nor label names.
func exprMetrics(expr string) []string {
	var out []string
	for _, id := range promqlIdent.FindAllString(promqlNoise.ReplaceAllString(expr, " "), -1) {
		if strings.HasSuffix(id, "(") || slices.Contains(promqlWords, id) {
			continue
		}
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(id, suffix); ok && registered(base) {
				id = base
			}
		}
		out = append(out, id)
	}
	return out
}

// registered reports whether the operator's packages register a metric called name on controller-runtime's
// registry: registering a probe of that name is refused exactly then.
func registered(name string) bool {
	probe := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: "probe"})
	if err := crmetrics.Registry.Register(probe); err != nil {
		return true
	}
	crmetrics.Registry.Unregister(probe)
	return false
}

func hasDashboard(objs []*unstructured.Unstructured) bool {
	for _, o := range ofKind(objs, "ConfigMap") {
		if o.GetLabels()["grafana_dashboard"] != "" {
			return true
		}
	}
	return false
}

// checkSelects fails unless the ServiceMonitor selects the Service by its labels, in its namespace.
func checkSelects(t *testing.T, sm, svc *unstructured.Unstructured) {
	t.Helper()
	sel, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
	for k, v := range sel {
		if svc.GetLabels()[k] != v {
			t.Errorf("the ServiceMonitor selects %s=%s, the metrics Service has %q", k, v, svc.GetLabels()[k])
		}
	}
	if len(sel) == 0 {
		t.Error("the ServiceMonitor selects every Service")
	}
	names, _, _ := unstructured.NestedStringSlice(sm.Object, "spec", "namespaceSelector", "matchNames")
	if !slices.Contains(names, svc.GetNamespace()) {
		t.Errorf("the ServiceMonitor looks in %v, the Service is in %s", names, svc.GetNamespace())
	}
}

func firstEndpoint(t *testing.T, sm *unstructured.Unstructured) map[string]any {
	t.Helper()
	eps, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	if len(eps) != 1 {
		t.Fatalf("ServiceMonitor endpoints %v, want one", eps)
	}
	return eps[0].(map[string]any)
}

func servicePort(t *testing.T, svc *unstructured.Unstructured) map[string]any {
	t.Helper()
	ports, _, _ := unstructured.NestedSlice(svc.Object, "spec", "ports")
	if len(ports) != 1 {
		t.Fatalf("metrics Service ports %v, want one", ports)
	}
	return ports[0].(map[string]any)
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
