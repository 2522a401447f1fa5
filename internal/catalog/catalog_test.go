package catalog

import (
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

func repoCatalog(t *testing.T) *Catalog {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	c, err := Load(filepath.Join(filepath.Dir(file), "..", "..", "watches.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestShippedCatalog(t *testing.T) {
	c := repoCatalog(t)
	want := []string{"castai-agent", "cluster-controller", "evictor", "pod-mutator", "pod-pinner", "spot-handler", "workload-autoscaler"}
	if got := c.Components(); !reflect.DeepEqual(got, want) {
		t.Fatalf("components = %v, want %v", got, want)
	}
	phases := map[string]int{"castai-agent": 1, "spot-handler": 1, "cluster-controller": 2}
	for comp, phase := range phases {
		e, ok := c.Lookup(comp, nil)
		if !ok || e.Phase != phase {
			t.Fatalf("%s: found=%v phase=%v, want phase %d", comp, ok, e, phase)
		}
	}
	facts := ClusterFacts{APIURL: "https://api.cast.ai", Provider: "eks", ProviderCloud: "aws", ClusterID: "11111111-2222-4333-8444-555555555555",
		APIKeySecret: "castware-api-key", Namespace: "castai-agent", ExtendedPermissions: true}

	agent, _ := c.Lookup("castai-agent", nil)
	got, err := agent.Compose(facts, map[string]any{"replicaCount": 1}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	wantAgent := map[string]any{"createNamespace": false, "apiURL": "https://api.cast.ai", "apiKeySecretRef": "castware-api-key", "provider": "eks", "replicaCount": 1.0}
	if !reflect.DeepEqual(got, wantAgent) {
		t.Fatalf("agent values = %#v\nwant %#v", got, wantAgent)
	}

	spot, _ := c.Lookup("spot-handler", nil)
	got, err = spot.Compose(facts, nil, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	wantSpot := map[string]any{"apiKeySecretRef": "castware-api-key", "phase2Permissions": true,
		"castai": map[string]any{"apiURL": "https://api.cast.ai", "clusterID": facts.ClusterID, "provider": "aws"}}
	if !reflect.DeepEqual(got, wantSpot) {
		t.Fatalf("spot-handler values = %#v\nwant %#v", got, wantSpot)
	}
	if m := spot.MissingFacts(ClusterFacts{}); !reflect.DeepEqual(m, []string{"ClusterID"}) {
		t.Fatalf("MissingFacts = %v", m)
	}
	for _, e := range c.Entries() {
		if e.UsesFact("APIKey") {
			t.Errorf("%s takes the plaintext API key although every shipped chart accepts a Secret reference", e.Component)
		}
	}
}

func TestComposePrecedence(t *testing.T) {
	c, err := Parse([]byte(`
- group: castware.cast.ai
  version: v1alpha1
  kind: Component
  component: demo
  chart: demo-chart
  values: {a: default, b: default, nested: {x: 1, z: 1}}
  clusterValues: {b: "{{ .APIURL }}", nested: {z: "{{ .ExtendedPermissions }}"}, url: "{{ .APIURL }}/v1", empty: "{{ .ClusterID }}"}
  overrideValues: {image.repository: $IMG, image.tag: $MISSING}
`))
	if err != nil {
		t.Fatal(err)
	}
	e, _ := c.Lookup("demo", nil)
	if e.ReleaseName != "demo-chart" || e.Phase != 1 || e.Period() != DefaultReconcilePeriod || e.Concurrency() != 1 || !e.WatchesDependents() {
		t.Fatalf("defaults not applied: %+v", e)
	}
	got, err := e.Compose(ClusterFacts{APIURL: "u"}, map[string]any{"a": "user", "nested": map[string]any{"x": 2}},
		func(k string) string { return map[string]string{"IMG": "registry.local/img"}[k] })
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"a": "user", "b": "u", "url": "u/v1",
		"nested": map[string]any{"x": 2.0, "z": false}, "image": map[string]any{"repository": "registry.local/img"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Compose = %#v\nwant %#v", got, want)
	}
}

func TestParseErrors(t *testing.T) {
	head := "- group: castware.cast.ai\n  version: v1alpha1\n  kind: Component\n"
	tests := []struct{ name, yaml, want string }{
		{"unknown field", head + "  component: a\n  chart: a\n  chrt: x\n", "unknown field"},
		{"wrong kind", "- group: x\n  version: v1\n  kind: Foo\n  component: a\n  chart: a\n", "must be castware.cast.ai/v1alpha1 Component"},
		{"no chart", head + "  component: a\n", "chart is required"},
		{"bad component", head + "  component: A_B\n  chart: a\n", "DNS label"},
		{"bad phase", head + "  component: a\n  chart: a\n  phase: 3\n", "phase must be 1 or 2"},
		{"bad template", head + "  component: a\n  chart: a\n  clusterValues: {x: \"{{ .Nope }}\"}\n", "unknown field .Nope"},
		{"broken template", head + "  component: a\n  chart: a\n  clusterValues: {x: \"{{ .APIURL \"}\n", "template"},
		{"unknown fact", head + "  component: a\n  chart: a\n  requires: [Cluster]\n", "unknown cluster fact"},
		{"duplicate", head + "  component: a\n  chart: a\n" + head + "  component: a\n  chart: b\n", "appears twice"},
		{"bad workload", head + "  component: a\n  chart: a\n  workloads: [{kind: Pod, names: [x]}]\n", "must be Deployment"},
		{"bad concurrency", head + "  component: a\n  chart: a\n  maxConcurrentReconciles: 0\n", "at least 1"},
		{"not a list", "component: a\n", "decode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse error = %v, want containing %q", err, tt.want)
			}
		})
	}
}

func TestSelector(t *testing.T) {
	c, err := Parse([]byte(`
- {group: castware.cast.ai, version: v1alpha1, kind: Component, component: a, chart: canary, selector: {matchLabels: {track: canary}}}
- {group: castware.cast.ai, version: v1alpha1, kind: Component, component: a, chart: stable}
`))
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := c.Lookup("a", map[string]string{"track": "canary"}); e.Chart != "canary" {
		t.Fatalf("canary CR got chart %s", e.Chart)
	}
	if e, _ := c.Lookup("a", nil); e.Chart != "stable" {
		t.Fatalf("plain CR got chart %s", e.Chart)
	}
	if _, ok := c.Lookup("b", nil); ok || c.Known("b") {
		t.Fatal("unknown component found")
	}
	if c.MaxConcurrentReconciles() != 2 {
		t.Fatalf("MaxConcurrentReconciles = %d", c.MaxConcurrentReconciles())
	}
}
