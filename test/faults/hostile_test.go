package faults

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/castai"
)

// Hostile and malformed resources and console actions: each is rejected at admission or handled with a
// clear condition (or a clear action error); the operator process never exits. Fuzz tests cover the parsers
// underneath (see the report's fuzzing section). One operator serves every Component of the case; each
// Component is a test-hooks release of its own (spec.releaseName).

// hostileComponent is a Component of catalog entry hooked with its own release and raw spec.values.
func hostileComponent(ns, name string, raw []byte) *castwarev1.Component {
	return &castwarev1.Component{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: castwarev1.ComponentSpec{Component: "hooked", Cluster: "castai", Enabled: true, Version: "0.1.0", ReleaseName: name,
			Values: &apiextensionsv1.JSON{Raw: raw}},
	}
}

// deep returns a JSON object nested n levels deep.
func deep(n int) []byte {
	return []byte(`{"extra":` + strings.Repeat(`{"a":`, n) + `"leaf"` + strings.Repeat(`}`, n) + `}`)
}

// incompressible returns n bytes of base64 text that gzip cannot shrink much.
func incompressible(n int) string {
	b := make([]byte, n*3/4)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)[:n]
}

func TestHostileInput(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.createCluster()
	op := f.start("op-1", nil)
	f.waitRegistered()

	// Rejected at admission: never reach the operator.
	for _, tc := range []struct {
		name, fault string
		raw         []byte
		want        string
	}{
		{"over-limit", "spec.values of 3.5 MiB (over etcd's 1.5 MiB request limit and the API server's 3 MiB body limit)",
			[]byte(`{"extra":{"blob":"` + strings.Repeat("x", 3<<20+512<<10) + `"}}`), "too large"},
		{"not-an-object", "spec.values a list", []byte(`[1,2,3]`), "spec.values"},
	} {
		err := k8s.Create(ctx, hostileComponent(f.ns, tc.name, tc.raw))
		if err == nil || !strings.Contains(strings.ToLower(err.Error()), tc.want) {
			t.Fatalf("%s: create = %v, want a rejection mentioning %q", tc.name, err, tc.want)
		}
		msg := err.Error()
		if len(msg) > 200 {
			msg = msg[:200] + "…"
		}
		record(t, catHostile, tc.fault, "rejected at admission by the API server: "+msg, 0)
	}

	// Accepted by the API server; the operator must handle each with a clear condition.
	unicode := map[string]any{"extra": map[string]any{
		"ключ": "значение", "键": "值", "مفتاح": "قيمة", "emoji🚀": "👍🏽", "zero\u200bwidth": "a\u200db", "combining": "e\u0301",
		"nul": "a\u0000b", "quotes\"'`": "<script>alert(1)</script>", "{{ .Release.Name }}": "{{ fail \"template injection\" }}",
	}}
	rawUnicode, _ := json.Marshal(unicode)
	huge := []byte(`{"extra":{"blob":"` + incompressible(1400<<10) + `"}}`)
	for _, c := range []*castwarev1.Component{
		hostileComponent(f.ns, "huge", huge),
		hostileComponent(f.ns, "deep", deep(200)),
		hostileComponent(f.ns, "unicode", rawUnicode),
		hostileComponent(f.ns, "wrongtype", []byte(`{"replicaCount":"two","resources":"lots"}`)),
	} {
		if err := k8s.Create(ctx, c); err != nil {
			t.Fatalf("create %s (%d bytes of values): %v", c.Name, len(c.Spec.Values.Raw), err)
		}
	}
	start := time.Now()

	// Unicode values are installed as they are, template syntax in them stays data.
	f.waitAvailable("unicode", "0.1.0", 2*time.Minute)
	unicodeAt := time.Since(start)
	cm := &corev1.ConfigMap{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: "unicode-extra"}, cm); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(cm.Data["extra.json"]), &got); err != nil || fmt.Sprint(got) != fmt.Sprint(unicode["extra"]) {
		t.Fatalf("unicode values changed on the way: %v (%v)", got, err)
	}
	record(t, catHostile, "spec.values with Cyrillic, CJK, Arabic, emoji, zero-width and combining characters, a NUL, HTML and Helm template syntax in keys and values",
		"installed; the rendered ConfigMap holds exactly the values given (template syntax stays data)", unicodeAt)

	// Deep nesting: refused before Helm runs.
	c := f.waitComponent("deep", "deep values refused", time.Minute, func(c *castwarev1.Component) error {
		if p := condition(c.Status.Conditions, castwarev1.ConditionProgressing); p.Reason != castwarev1.ReasonInvalidValues || !strings.Contains(p.Message, "deeper than") {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	record(t, catHostile, "spec.values nested 200 levels deep",
		"not installed; Progressing=False/InvalidValues: "+condition(c.Status.Conditions, castwarev1.ConditionProgressing).Message, time.Since(start))

	// Huge values: the API server stores them, but the release cannot be.
	c = f.waitComponent("huge", "huge values refused with a clear condition", 2*time.Minute, func(c *castwarev1.Component) error {
		p := condition(c.Status.Conditions, castwarev1.ConditionProgressing)
		if p.Status != metav1.ConditionFalse || p.Reason == "" || p.Reason == castwarev1.ReasonCompleted || p.Message == "" {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	hp := condition(c.Status.Conditions, castwarev1.ConditionProgressing)
	if len(hp.Message) > 33000 {
		t.Fatalf("condition message of %d bytes", len(hp.Message))
	}
	record(t, catHostile, "spec.values of 1.4 MiB of incompressible text (the Component itself fits etcd's limit)",
		fmt.Sprintf("not installed; Progressing=False/%s: %.300s", hp.Reason, hp.Message), time.Since(start))

	// Wrong types: the chart renders them, the API server refuses the objects.
	c = f.waitComponent("wrongtype", "wrong types refused with a clear condition", 2*time.Minute, func(c *castwarev1.Component) error {
		p := condition(c.Status.Conditions, castwarev1.ConditionProgressing)
		if p.Status != metav1.ConditionFalse || !strings.Contains(p.Message, "replicas") {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	wp := condition(c.Status.Conditions, castwarev1.ConditionProgressing)
	record(t, catHostile, "spec.values with wrong types for the chart (replicaCount: \"two\", resources: \"lots\")",
		fmt.Sprintf("not installed; Progressing=False/%s: %.300s", wp.Reason, wp.Message), time.Since(start))

	// The refused installs are retried with the controller's exponential backoff, not in a loop.
	attempts := map[string]int{}
	for _, r := range f.api.ActionResults(clusterID) {
		if r.Action == castai.ActionEnable && r.Status == castai.StatusError {
			attempts[r.ReleaseName]++
		}
	}
	elapsed := time.Since(start)
	for _, name := range []string{"huge", "wrongtype"} {
		if attempts[name] == 0 || attempts[name] > 20 {
			t.Fatalf("%s: %d failed install attempts reported in %s", name, attempts[name], elapsed.Round(time.Second))
		}
	}
	record(t, catHostile, "the refused installs (huge, wrong types) over time",
		fmt.Sprintf("retried with the controller's exponential backoff (5 ms doubling up to 16 min), each attempt reported ENABLE/ERROR: %d and %d attempts in the first %.0f s; the operator never restarted", attempts["huge"], attempts["wrongtype"], elapsed.Seconds()), 0)

	// After all that the operator still works and never restarted.
	f.createComponent("castai-agent", "0.1.0", nil)
	f.waitAvailable("castai-agent", "0.1.0", 2*time.Minute)

	// Hostile console actions: acknowledged with an error, nothing applied.
	bad := []castai.Action{
		{Install: &castai.ChartAction{Component: "hooked", Version: "0.1.0", ValuesOverrides: map[string]string{strings.Repeat("a.", 100) + "b": "deep"}}},
		{Install: &castai.ChartAction{Component: "hooked", Version: "0.1.0", ValuesOverrides: map[string]string{"a": "1", "a.b": "2"}}},
		{Install: &castai.ChartAction{Component: "hooked", Version: "0.1.0", ValuesOverrides: map[string]string{"a..b": "x"}}},
		{Install: &castai.ChartAction{Component: "Not_A_Name!", Version: "0.1.0"}},
		{Upgrade: &castai.ChartAction{Component: "castai-agent", Version: "../../etc/passwd"}},
	}
	ids := f.api.EnqueueActions(clusterID, bad...)
	f.waitAcked(time.Minute)
	var errs []string
	for _, a := range f.api.Acks(clusterID) {
		if a.Error == nil {
			t.Fatalf("hostile action %s acknowledged as applied", a.ActionID)
		}
		e := *a.Error
		if len(e) > 110 {
			e = e[:110] + "…"
		}
		errs = append(errs, e)
	}
	if len(errs) != len(ids) {
		t.Fatalf("%d acknowledgements for %d actions", len(errs), len(ids))
	}
	if h := f.history("hooked"); len(h) != 0 {
		t.Fatalf("a hostile action installed something: %s", revs(h))
	}
	if c := f.component("castai-agent"); c.Spec.Version != "0.1.0" {
		t.Fatalf("a hostile action changed castai-agent to %q", c.Spec.Version)
	}
	record(t, catHostile, "console actions with valuesOverrides 101 keys deep, conflicting paths (a and a.b), an empty key (a..b), an invalid component name, a version \"../../etc/passwd\"",
		"each acknowledged with its error, nothing applied: "+strings.Join(errs, "; "), 0)

	f.assertNoCrash()
	if v, err := op.Metric("process_resident_memory_bytes", ""); err == nil && v > 512<<20 {
		t.Fatalf("resident memory %d MiB after the hostile input", int(v)>>20)
	}
}
