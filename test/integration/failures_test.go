package integration

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/release"
	helmtime "helm.sh/helm/v3/pkg/time"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/devtools/testharness"
	"github.com/castware-operator/castware-operator/internal/helm"
	"github.com/castware-operator/castware-operator/internal/operator"
)

// TestRejectedAtTheAPIServer checks the CRD schema refuses nonsense with a clear message.
func TestRejectedAtTheAPIServer(t *testing.T) {
	ns := newNamespace(t)
	ctx := context.Background()
	tests := []struct {
		name   string
		mutate func(*castwarev1.Component)
		want   string
	}{
		{"values not an object", func(c *castwarev1.Component) { c.Spec.Values = &apiextensionsv1.JSON{Raw: []byte(`[1,2]`)} }, "spec.values"},
		{"values a string", func(c *castwarev1.Component) { c.Spec.Values = &apiextensionsv1.JSON{Raw: []byte(`"x"`)} }, "spec.values"},
		{"malformed version", func(c *castwarev1.Component) { c.Spec.Version = "1.x" }, "spec.version"},
		{"empty component", func(c *castwarev1.Component) { c.Spec.Component = "" }, "spec.component"},
		{"component with capitals", func(c *castwarev1.Component) { c.Spec.Component = "Castai_Agent" }, "spec.component"},
		{"bad migration", func(c *castwarev1.Component) { c.Spec.Migration = "kubectl" }, "spec.migration"},
		{"release name too long", func(c *castwarev1.Component) { c.Spec.ReleaseName = strings.Repeat("a", 54) }, "spec.releaseName"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newComponent(ns, "bad", "castai-agent", "0.1.0", nil)
			tt.mutate(c)
			err := k8s.Create(ctx, c)
			if err == nil {
				_ = k8s.Delete(ctx, c)
				t.Fatal("the API server accepted it")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not name %s", err, tt.want)
			}
		})
	}
	clusterTests := []struct {
		name   string
		mutate func(*castwarev1.Cluster)
		want   string
	}{
		{"unknown provider", func(c *castwarev1.Cluster) { c.Spec.Provider = "digitalocean" }, "spec.provider"},
		{"bad cluster ID", func(c *castwarev1.Cluster) { c.Spec.Cluster = &castwarev1.ClusterMetadataSpec{ClusterID: "not-a-uuid"} }, "spec.cluster.clusterID"},
		{"bad migration mode", func(c *castwarev1.Cluster) { c.Spec.MigrationMode = "sometimes" }, "spec.migrationMode"},
	}
	for _, tt := range clusterTests {
		t.Run(tt.name, func(t *testing.T) {
			cl := &castwarev1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "bad", Namespace: ns},
				Spec: castwarev1.ClusterSpec{Provider: "gke", APIKeySecret: "k", API: castwarev1.APISpec{APIURL: "https://api.cast.ai"}}}
			tt.mutate(cl)
			err := k8s.Create(ctx, cl)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want one naming %s", err, tt.want)
			}
		})
	}
	// Defaults of the documented operator are applied by the schema when the fields are absent.
	u := &unstructured.Unstructured{}
	if err := json.Unmarshal([]byte(`{"apiVersion":"castware.cast.ai/v1alpha1","kind":"Component","metadata":{"name":"defaults","namespace":"`+ns+`"},"spec":{"enabled":true}}`), &u.Object); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Create(ctx, u); err != nil {
		t.Fatal(err)
	}
	got := getComponent(t, ns, "defaults")
	if got.Spec.Component != "castai-agent" || got.Spec.Cluster != "castai" || got.Spec.Readonly {
		t.Fatalf("defaults not applied: %+v", got.Spec)
	}
}

// TestBadInputLeavesTheReleaseUntouched: unknown version, repository down, corrupt archive and digest
// mismatch each give a clear condition while the running release stays as it is.
func TestBadInputLeavesTheReleaseUntouched(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	startOperator(t, ns, func(o *operator.Options) { o.ChartIndexTTL = time.Millisecond })
	createCluster(t, ns)
	if err := k8s.Create(ctx, newComponent(ns, "castai-agent", "castai-agent", "0.1.0", nil)); err != nil {
		t.Fatal(err)
	}
	base := waitAvailable(t, ns, "castai-agent", "0.1.0", 90*time.Second)
	t.Cleanup(func() {
		charts.SetDown(false)
		charts.SetFault("test-deployment", "0.2.0", testharness.FaultNone)
	})

	cases := []struct {
		name    string
		version string
		setup   func()
		want    []string
	}{
		{"unknown version", "9.9.9", func() {}, []string{"9.9.9", "version not found", "0.3.0"}},
		{"repository down", "0.2.0", func() { charts.SetDown(true) }, []string{"unavailable", "503"}},
		{"corrupt archive", "0.2.0", func() { charts.SetDown(false); charts.SetFault("test-deployment", "0.2.0", testharness.FaultCorrupt) }, []string{"corrupt", "0.2.0"}},
		{"digest mismatch", "0.2.0", func() { charts.SetFault("test-deployment", "0.2.0", testharness.FaultDigestMismatch) }, []string{"digest", "0.2.0"}},
		{"archive missing", "0.2.0", func() { charts.SetFault("test-deployment", "0.2.0", testharness.FaultNotFound) }, []string{"404", "0.2.0"}},
		{"index entry without a digest", "0.2.0", func() { charts.SetFault("test-deployment", "0.2.0", testharness.FaultNoDigest) },
			[]string{"no sha256 digest", "--allow-charts-without-digest", "0.2.0"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.setup()
			patchComponent(t, ns, "castai-agent", func(c *castwarev1.Component) { c.Spec.Version = tc.version })
			eventually(t, 30*time.Second, "chart error surfaced", func() error {
				c := getComponent(t, ns, "castai-agent")
				p := condition(c, castwarev1.ConditionProgressing)
				if p.Reason != castwarev1.ReasonChartUnavailable || p.ObservedGeneration != c.Generation {
					return errf("%s", describe(c))
				}
				for _, w := range tc.want {
					if !strings.Contains(p.Message, w) {
						return errf("message %q lacks %q", p.Message, w)
					}
				}
				return nil
			})
			c := getComponent(t, ns, "castai-agent")
			if c.Status.CurrentVersion != "0.1.0" || condition(c, castwarev1.ConditionAvailable).Status != metav1.ConditionTrue {
				t.Fatalf("the running component was affected: %s", describe(c))
			}
			hist, err := env.History(ctx, ns, "castai-agent")
			if err != nil {
				t.Fatal(err)
			}
			if len(hist) != 1 || hist[0].Version != base.Status.Revision || hist[0].Info.Status != release.StatusDeployed {
				t.Fatalf("release touched: %s", revs(hist))
			}
			if strings.Contains(condition(c, castwarev1.ConditionProgressing).Message, "test-key-") {
				t.Fatal("the API key leaked into a condition")
			}
		})
	}
	// Once the chart is good again the upgrade goes through.
	charts.SetFault("test-deployment", "0.2.0", testharness.FaultNone)
	patchComponent(t, ns, "castai-agent", func(c *castwarev1.Component) { c.Spec.Version = "0.2.0" })
	triggerReconcile(t, ns, "castai-agent")
	waitAvailable(t, ns, "castai-agent", "0.2.0", 90*time.Second)

	// An install that fails before any release exists says so, and is retried with backoff until it works,
	// with no change to the Component.
	t.Cleanup(func() { charts.SetFault("test-daemonset", "0.1.0", testharness.FaultNone) })
	charts.SetFault("test-daemonset", "0.1.0", testharness.FaultNotFound)
	if err := k8s.Create(ctx, newComponent(ns, "spot-handler", "spot-handler", "0.1.0", nil)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "install failure surfaced", func() error {
		c := getComponent(t, ns, "spot-handler")
		if a, p := condition(c, castwarev1.ConditionAvailable), condition(c, castwarev1.ConditionProgressing); a.Reason != castwarev1.ReasonInstallFailed ||
			p.Reason != castwarev1.ReasonChartUnavailable || !strings.Contains(p.Message, "404") {
			return errf("%s", describe(c))
		}
		return nil
	})
	if h, err := env.History(ctx, ns, "castai-spot-handler"); err != nil || len(h) != 0 {
		t.Fatalf("a release was recorded for an install that could not start: %d revisions (%v)", len(h), err)
	}
	// The "stuck in Connecting" troubleshooting view names what the Cluster waits for.
	eventually(t, 30*time.Second, "cluster Connecting, waiting for spot-handler", func() error {
		cl := getCluster(t, ns)
		if p := clusterCondition(cl, castwarev1.ConditionProgressing); cl.Status.Phase != "Connecting" || !strings.Contains(p.Message, "spot-handler") {
			return errf("phase %q, Progressing %+v", cl.Status.Phase, p)
		}
		return nil
	})
	generation := getComponent(t, ns, "spot-handler").Generation
	charts.SetFault("test-daemonset", "0.1.0", testharness.FaultNone)
	if c := waitAvailable(t, ns, "spot-handler", "0.1.0", 90*time.Second); c.Generation != generation {
		t.Fatalf("the retry needed a change to the Component (generation %d -> %d)", generation, c.Generation)
	}
	eventually(t, 30*time.Second, "cluster Connected", func() error {
		if cl := getCluster(t, ns); cl.Status.Phase != "Connected" {
			return errf("phase %q", cl.Status.Phase)
		}
		return nil
	})
}

// TestClusterWithoutSecret: a Cluster whose Secret is missing says so, and its Components wait.
func TestClusterWithoutSecret(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	startOperator(t, ns)
	cl := &castwarev1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "castai", Namespace: ns},
		Spec: castwarev1.ClusterSpec{Provider: "eks", APIKeySecret: "missing-key", API: castwarev1.APISpec{APIURL: newFakeAPI(t, ns).URL()}, HelmRepoURL: charts.URL()}}
	if err := k8s.Create(ctx, cl); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Create(ctx, newComponent(ns, "castai-agent", "castai-agent", "0.1.0", nil)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "cluster explains the missing Secret", func() error {
		got := &castwarev1.Cluster{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(cl), got); err != nil {
			return err
		}
		for _, c := range got.Status.Conditions {
			if c.Type == castwarev1.ConditionAvailable && c.Status == metav1.ConditionFalse && c.Reason == castwarev1.ReasonSecretMissing &&
				strings.Contains(c.Message, `"missing-key"`) && got.Status.Phase == "Pending" {
				return nil
			}
		}
		return errf("conditions: %+v", got.Status.Conditions)
	})
	eventually(t, 30*time.Second, "component waits for the cluster", func() error {
		c := getComponent(t, ns, "castai-agent")
		if p := condition(c, castwarev1.ConditionProgressing); p.Reason != castwarev1.ReasonWaitingForCluster || !strings.Contains(p.Message, "missing-key") {
			return errf("%s", describe(c))
		}
		return nil
	})
	if h, _ := env.History(ctx, ns, "castai-agent"); len(h) != 0 {
		t.Fatal("installed although the cluster is not ready")
	}
	// Creating the Secret unblocks everything without a restart.
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "missing-key", Namespace: ns}, StringData: map[string]string{"API_KEY": " " + apiKeyFor(ns) + " \n"}}
	if err := k8s.Create(ctx, sec); err != nil {
		t.Fatal(err)
	}
	waitAvailable(t, ns, "castai-agent", "0.1.0", 90*time.Second)
	got := &castwarev1.Cluster{}
	eventually(t, 30*time.Second, "cluster connected", func() error {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(cl), got); err != nil {
			return err
		}
		if got.Status.Phase != "Connected" {
			return errf("phase %q, conditions %+v", got.Status.Phase, got.Status.Conditions)
		}
		return nil
	})
}

// TestPendingReleaseRecovered: a release left pending-upgrade by an operator that died is recovered at
// once; one left pending by another client (the helm CLI) is recovered after the pending timeout.
func TestPendingReleaseRecovered(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	startOperator(t, ns, withPendingTimeout(4*time.Second))
	createCluster(t, ns)
	if err := k8s.Create(ctx, newComponent(ns, "castai-agent", "castai-agent", "0.1.0", nil)); err != nil {
		t.Fatal(err)
	}
	waitAvailable(t, ns, "castai-agent", "0.1.0", 90*time.Second)

	for _, tc := range []struct {
		name    string
		session string
	}{{"left by a dead operator", "a-process-that-died"}, {"left by the helm CLI", ""}} {
		t.Run(tc.name, func(t *testing.T) {
			hist, err := env.History(ctx, ns, "castai-agent")
			if err != nil {
				t.Fatal(err)
			}
			last := hist[len(hist)-1]
			stuck := *last
			stuck.Version = last.Version + 1
			stuck.Info = &release.Info{Status: release.StatusPendingUpgrade, LastDeployed: helmtime.Now(), FirstDeployed: last.Info.FirstDeployed, Description: "Preparing upgrade"}
			stuck.Labels = map[string]string{}
			if tc.session != "" {
				stuck.Labels[helm.LabelSession] = tc.session
				stuck.Labels[helm.LabelRevision] = strconv.Itoa(stuck.Version)
			}
			if err := env.SaveRelease(ctx, &stuck); err != nil {
				t.Fatal(err)
			}
			triggerReconcile(t, ns, "castai-agent")
			if tc.session == "" {
				eventually(t, 10*time.Second, "waiting reported", func() error {
					c := getComponent(t, ns, "castai-agent")
					if p := condition(c, castwarev1.ConditionProgressing); p.Status != metav1.ConditionTrue || !strings.Contains(p.Message, "pending-upgrade") {
						return errf("%s", describe(c))
					}
					return nil
				})
			}
			eventually(t, 60*time.Second, "release recovered", func() error {
				h, err := env.History(ctx, ns, "castai-agent")
				if err != nil {
					return err
				}
				l := h[len(h)-1]
				if l.Version <= stuck.Version || l.Info.Status != release.StatusDeployed {
					return errf("history: %s", revs(h))
				}
				for _, r := range h {
					if r.Version == stuck.Version && r.Info.Status != release.StatusFailed {
						return errf("stuck revision not marked failed: %s", revs(h))
					}
				}
				return nil
			})
			waitAvailable(t, ns, "castai-agent", "0.1.0", 60*time.Second)
			evs := &corev1.EventList{}
			if err := k8s.List(ctx, evs, client.InNamespace(ns)); err != nil {
				t.Fatal(err)
			}
			found := false
			for _, e := range evs.Items {
				if e.Reason == castwarev1.ReasonReleaseRecovered && strings.Contains(e.Message, "pending-upgrade") {
					found = true
				}
			}
			if !found {
				t.Fatal("no ReleaseRecovered event")
			}
		})
	}
}
