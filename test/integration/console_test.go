package integration

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/release"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/castai"
	"github.com/castware-operator/castware-operator/internal/castai/fake"
	"github.com/castware-operator/castware-operator/internal/castai/metadata"
	"github.com/castware-operator/castware-operator/internal/operator"
)

// getCluster reads the Cluster "castai" of ns.
func getCluster(t *testing.T, ns string) *castwarev1.Cluster {
	t.Helper()
	cl := &castwarev1.Cluster{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "castai"}, cl); err != nil {
		t.Fatal(err)
	}
	return cl
}

func clusterCondition(cl *castwarev1.Cluster, typ string) metav1.Condition {
	for _, c := range cl.Status.Conditions {
		if c.Type == typ {
			return c
		}
	}
	return metav1.Condition{}
}

// waitResult waits until the fake API recorded an action result matching ok.
func waitResult(t *testing.T, api *fake.Server, clusterID, what string, ok func(castai.ActionResult) bool) castai.ActionResult {
	t.Helper()
	var found castai.ActionResult
	eventually(t, 90*time.Second, what, func() error {
		for _, r := range api.ActionResults(clusterID) {
			if ok(r) {
				found = r
				return nil
			}
		}
		return errf("recorded: %s", describeResults(api.ActionResults(clusterID)))
	})
	return found
}

func describeResults(rs []castai.ActionResult) string {
	var parts []string
	for _, r := range rs {
		parts = append(parts, string(r.Action)+"/"+string(r.Status)+" "+r.Name+" "+r.CurrentVersion+"->"+r.Version)
	}
	return strings.Join(parts, "; ")
}

// TestConsoleRegistrationAndActions: the cluster registers (keeping its identity), the operator reports
// itself, and install, upgrade, rollback and uninstall actions become Component changes, each reported
// with recordActionResult and acknowledged exactly once.
func TestConsoleRegistrationAndActions(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	startOperator(t, ns)
	createCluster(t, ns, func(c *castwarev1.Cluster) { c.Spec.Cluster = nil })
	api := fakeAPI(t, ns)

	var clusterID string
	eventually(t, 30*time.Second, "cluster registered", func() error {
		cl := getCluster(t, ns)
		clusterID = cl.ClusterID()
		if clusterID == "" || clusterCondition(cl, castwarev1.ConditionAvailable).Status != metav1.ConditionTrue || cl.Status.LastRegistrationVersion == "" {
			return errf("status %+v", cl.Status)
		}
		return nil
	})
	reg, ok := api.Cluster(clusterID)
	if !ok {
		t.Fatalf("cluster %s not registered at the API", clusterID)
	}
	if reg.Request.EKS == nil || reg.Request.EKS.ClusterName != "test-cluster" || reg.Request.EKS.Region != "eu-central-1" || reg.Request.CastwareInstallMethod != 1 {
		t.Fatalf("registration body: %+v", reg.Request)
	}
	waitResult(t, api, clusterID, "operator reported installed", func(r castai.ActionResult) bool {
		return r.Name == "castware-operator" && r.Action == castai.ActionEnable && r.Status == castai.StatusOK
	})

	// install
	install := api.EnqueueAction(clusterID, castai.Action{Install: &castai.ChartAction{Component: "castai-agent", Version: "0.1.0",
		ValuesOverrides: map[string]string{"replicaCount": "1"}}})
	waitAvailable(t, ns, "castai-agent", "0.1.0", 90*time.Second)
	ok1 := waitResult(t, api, clusterID, "install reported OK", func(r castai.ActionResult) bool {
		return r.Name == "castai-agent" && r.Action == castai.ActionEnable && r.Status == castai.StatusOK && r.Version == "0.1.0"
	})
	if ok1.ImageVersions["agent"] != "registry.local/test-deployment:v0.1.0" || ok1.ReleaseName != "castai-agent" {
		t.Fatalf("install result lacks image versions / release: %+v", ok1)
	}
	waitResult(t, api, clusterID, "install reported PROGRESSING first", func(r castai.ActionResult) bool {
		return r.Name == "castai-agent" && r.Action == castai.ActionEnable && r.Status == castai.StatusProgressing
	})
	comp := getComponent(t, ns, "castai-agent")
	if comp.Spec.Component != "castai-agent" || comp.Spec.ReleaseName != "castai-agent" || comp.Annotations[castwarev1.AnnotationActionID] != install {
		t.Fatalf("component created from the action: %+v", comp.ObjectMeta)
	}

	// upgrade with a value override, first refused by Cast AI's validateUpgrade: nothing changes until allowed
	api.BlockUpgrade("castai-agent", "0.2.0", "the cluster's RBAC checksum does not match 0.2.0")
	api.EnqueueAction(clusterID, castai.Action{Upgrade: &castai.ChartAction{Component: "castai-agent", Version: "0.2.0", ReleaseName: "castai-agent",
		ValuesOverrides: map[string]string{"extra.team": "platform"}}})
	eventually(t, 60*time.Second, "upgrade blocked by Cast AI", func() error {
		c := getComponent(t, ns, "castai-agent")
		p := condition(c, castwarev1.ConditionProgressing)
		if c.Spec.Version != "0.2.0" || p.Status != metav1.ConditionFalse || p.Reason != castwarev1.ReasonUpgradeBlocked ||
			!strings.Contains(p.Message, "RBAC checksum") || c.Status.CurrentVersion != "0.1.0" ||
			condition(c, castwarev1.ConditionAvailable).Status != metav1.ConditionTrue {
			return errf("%s", describe(c))
		}
		return nil
	})
	waitResult(t, api, clusterID, "blocked upgrade reported", func(r castai.ActionResult) bool {
		return r.Name == "castai-agent" && r.Action == castai.ActionUpdate && r.Status == castai.StatusError && strings.Contains(r.Message, "RBAC checksum")
	})
	if h, _ := env.History(ctx, ns, "castai-agent"); len(h) != 1 {
		t.Fatalf("a refused upgrade touched the release: %d revisions", len(h))
	}
	api.AllowUpgrades()
	triggerReconcile(t, ns, "castai-agent")
	waitAvailable(t, ns, "castai-agent", "0.2.0", 90*time.Second)
	waitResult(t, api, clusterID, "upgrade reported OK", func(r castai.ActionResult) bool {
		return r.Name == "castai-agent" && r.Action == castai.ActionUpdate && r.Status == castai.StatusOK && r.Version == "0.2.0" && r.CurrentVersion == "0.1.0"
	})
	if err := releaseValue(t, ns, "castai-agent", func(v map[string]any) bool {
		return nested(v, "extra", "team") == "platform" && v["replicaCount"] == "1"
	}); err != nil {
		t.Fatal(err)
	}

	// rollback
	api.EnqueueAction(clusterID, castai.Action{Rollback: &castai.ComponentTarget{Component: "castai-agent"}})
	eventually(t, 90*time.Second, "rolled back", func() error {
		c := getComponent(t, ns, "castai-agent")
		if c.Status.CurrentVersion != "0.1.0" || condition(c, castwarev1.ConditionProgressing).Reason != castwarev1.ReasonRolledBack {
			return errf("%s", describe(c))
		}
		return nil
	})
	waitResult(t, api, clusterID, "rollback reported OK", func(r castai.ActionResult) bool {
		return r.Name == "castai-agent" && r.Action == castai.ActionRollback && r.Status == castai.StatusOK && r.Version == "0.1.0"
	})

	// an upgrade to the version rolled back from is applied again when the console asks again
	api.EnqueueAction(clusterID, castai.Action{Upgrade: &castai.ChartAction{Component: "castai-agent", Version: "0.2.0", ReleaseName: "castai-agent"}})
	waitAvailable(t, ns, "castai-agent", "0.2.0", 90*time.Second)

	// an action that cannot be applied is acked with its error
	bad := api.EnqueueAction(clusterID, castai.Action{Install: &castai.ChartAction{Component: "castai-agent", Version: "0.1.0"}})

	// uninstall
	api.EnqueueAction(clusterID, castai.Action{Uninstall: &castai.ComponentTarget{Component: "castai-agent"}})
	eventually(t, 90*time.Second, "uninstalled", func() error {
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "castai-agent"}, &castwarev1.Component{}); !apierrors.IsNotFound(err) {
			return errf("component still there (%v)", err)
		}
		if h, _ := env.History(ctx, ns, "castai-agent"); len(h) != 0 {
			return errf("release still there")
		}
		return nil
	})
	waitResult(t, api, clusterID, "uninstall reported", func(r castai.ActionResult) bool {
		return r.Name == "castai-agent" && r.Action == castai.ActionDisable && r.Status == castai.StatusOK
	})

	// every action acked exactly once; the failing one with its error
	eventually(t, 30*time.Second, "all actions acked", func() error {
		if n := len(api.PendingActions(clusterID)); n != 0 {
			return errf("%d actions not acked", n)
		}
		return nil
	})
	seen := map[string]int{}
	for _, a := range api.Acks(clusterID) {
		seen[a.ActionID]++
		if a.ActionID == bad {
			if a.Error == nil || !strings.Contains(*a.Error, "already exists") {
				t.Fatalf("failed action acked without its error: %v", a.Error)
			}
		} else if a.Error != nil {
			t.Fatalf("action %s acked with error %q", a.ActionID, *a.Error)
		}
	}
	if len(seen) != 6 {
		t.Fatalf("acked %d distinct actions, want 6", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("action %s acked %d times", id, n)
		}
	}
	// No key material in the Cluster, Components, events or the results sent to the API.
	assertNoKeyMaterial(t, ns, apiKeyFor(ns), api)
}

// TestConsoleActionAppliedOnceAcrossRestart: the operator applies an action, cannot ack it, and restarts;
// the action is delivered again, acknowledged, and not applied twice.
func TestConsoleActionAppliedOnceAcrossRestart(t *testing.T) {
	ns := newNamespace(t)
	createCluster(t, ns)
	api := fakeAPI(t, ns)
	stopFirst := stoppableOperator(t, ns)
	eventually(t, 30*time.Second, "registered", func() error {
		if _, ok := api.Cluster(testClusterID); !ok {
			return errf("not yet")
		}
		return nil
	})
	api.InjectFault(fake.Fault{PathContains: ":ack", Status: http.StatusServiceUnavailable})
	id := api.EnqueueAction(testClusterID, castai.Action{Install: &castai.ChartAction{Component: "spot-handler", Version: "0.1.0"}})
	waitAvailable(t, ns, "spot-handler", "0.1.0", 90*time.Second)
	eventually(t, 30*time.Second, "applied and recorded, not acked", func() error {
		cl := getCluster(t, ns)
		for _, h := range cl.Status.HandledActions {
			if h.ID == id && !h.Acked {
				return nil
			}
		}
		return errf("handled: %+v", cl.Status.HandledActions)
	})
	stopFirst() // returns once the first operator has stopped: the two never overlap
	api.ClearFaults()
	startOperator(t, ns)
	eventually(t, 60*time.Second, "acked after restart", func() error {
		if len(api.Acks(testClusterID)) == 1 && len(api.PendingActions(testClusterID)) == 0 {
			return nil
		}
		return errf("acks %d, pending %d", len(api.Acks(testClusterID)), len(api.PendingActions(testClusterID)))
	})
	if a := api.Acks(testClusterID)[0]; a.ActionID != id || a.Error != nil {
		t.Fatalf("ack: %+v", a)
	}
	hist, _ := env.History(context.Background(), ns, "castai-spot-handler")
	if len(hist) != 1 {
		t.Fatalf("the action was applied more than once: %s", revs(hist))
	}
	enables := 0
	for _, r := range api.ActionResults(testClusterID) {
		if r.Name == "spot-handler" && r.Action == castai.ActionEnable && r.Status == castai.StatusOK {
			enables++
		}
	}
	if enables != 1 {
		t.Fatalf("install reported OK %d times: %s", enables, describeResults(api.ActionResults(testClusterID)))
	}
}

// TestConsoleKeyRotationAndRejectedKey: a rotated key is used without a restart; a rejected key makes the
// Cluster say so, changes nothing else and does not make the operator hammer the API.
func TestConsoleKeyRotationAndRejectedKey(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	startOperator(t, ns)
	createCluster(t, ns)
	api := fakeAPI(t, ns)
	if err := k8s.Create(ctx, newComponent(ns, "castai-agent", "castai-agent", "0.1.0", nil)); err != nil {
		t.Fatal(err)
	}
	waitAvailable(t, ns, "castai-agent", "0.1.0", 90*time.Second)

	// Cast AI revokes the key: the Cluster explains it; the component keeps running.
	api.SetKeys("the-new-key-" + ns)
	eventually(t, 60*time.Second, "cluster explains the 401", func() error {
		c := clusterCondition(getCluster(t, ns), castwarev1.ConditionAvailable)
		if c.Status == metav1.ConditionFalse && c.Reason == "APIKeyRejected" && strings.Contains(c.Message, "401") && strings.Contains(c.Message, "castware-api-key") {
			return nil
		}
		return errf("%+v", c)
	})
	// Three more Cluster reconciles (and the poller's own loop) add at most one more rejected request.
	rejected := func() int {
		n := 0
		for _, c := range api.Calls() {
			if c.Status == http.StatusUnauthorized {
				n++
			}
		}
		return n
	}
	before := rejected()
	for i := 0; i < 3; i++ {
		afterControllerReconcile(t, "cluster", func() { pokeCluster(t, ns) })
	}
	if n := rejected() - before; n > 1 {
		t.Fatalf("%d rejected requests over three reconciles: the operator retries a rejected key", n)
	}
	c := getComponent(t, ns, "castai-agent")
	if c.Status.CurrentVersion != "0.1.0" || condition(c, castwarev1.ConditionAvailable).Status != metav1.ConditionTrue {
		t.Fatalf("component affected by the rejected key: %s", describe(c))
	}
	if h, _ := env.History(ctx, ns, "castai-agent"); len(h) != 1 {
		t.Fatalf("release changed: %s", revs(h))
	}

	// Rotation: the Secret gets the new key; no restart needed.
	sec := &corev1.Secret{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "castware-api-key"}, sec); err != nil {
		t.Fatal(err)
	}
	sec.Data = map[string][]byte{"API_KEY": []byte("the-new-key-" + ns)}
	if err := k8s.Update(ctx, sec); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "cluster available again", func() error {
		if c := clusterCondition(getCluster(t, ns), castwarev1.ConditionAvailable); c.Status != metav1.ConditionTrue {
			return errf("%+v", c)
		}
		return nil
	})
	api.EnqueueAction(testClusterID, castai.Action{Upgrade: &castai.ChartAction{Component: "castai-agent", Version: "0.2.0", ReleaseName: "castai-agent"}})
	waitAvailable(t, ns, "castai-agent", "0.2.0", 90*time.Second)
	assertNoKeyMaterial(t, ns, "the-new-key-"+ns, api)
	assertNoKeyMaterial(t, ns, apiKeyFor(ns), api)
}

// TestConsoleAPIFaults: with the API failing (5xx bursts, malformed JSON, slowness) the operator keeps
// managing components and backs off.
func TestConsoleAPIFaults(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	startOperator(t, ns, func(o *operator.Options) {
		o.CastAI.ClientOptions = append(o.CastAI.ClientOptions, castai.WithTimeout(time.Second))
	})
	createCluster(t, ns)
	api := fakeAPI(t, ns)
	eventually(t, 30*time.Second, "registered", func() error {
		if _, ok := api.Cluster(testClusterID); !ok {
			return errf("not yet")
		}
		return nil
	})
	api.InjectFault(fake.Fault{PathContains: "lifecycle-actions:poll", Status: http.StatusInternalServerError, Count: 6})
	api.InjectFault(fake.Fault{PathContains: "recordActionResult", MalformedJSON: true, Status: http.StatusBadGateway, Count: 3})
	api.InjectFault(fake.Fault{PathContains: "getByName", Delay: 3 * time.Second, Count: 2})

	// Components are managed while the API misbehaves.
	if err := k8s.Create(ctx, newComponent(ns, "castai-agent", "castai-agent", "0.1.0", nil)); err != nil {
		t.Fatal(err)
	}
	waitAvailable(t, ns, "castai-agent", "0.1.0", 90*time.Second)
	// Poll failures are retried with growing gaps.
	eventually(t, 60*time.Second, "poll recovered", func() error {
		var polls []fake.Call
		for _, c := range api.Calls() {
			if strings.Contains(c.Path, "lifecycle-actions:poll") {
				polls = append(polls, c)
			}
		}
		failed := 0
		for _, c := range polls {
			if c.Status >= 500 {
				failed++
			}
		}
		recovered := api.HeldPolls() > 0 || polls[len(polls)-1].Status < 500
		if failed < 6 || !recovered {
			return errf("%d polls, %d failed, recovered %v", len(polls), failed, recovered)
		}
		// Gaps between the failed attempts: never a burst, and growing (jittered exponential backoff).
		var failedAt []time.Time
		for _, c := range polls {
			if c.Status >= 500 {
				failedAt = append(failedAt, c.Time)
			}
		}
		minGap, maxGap := time.Hour, time.Duration(0)
		for i := 1; i < len(failedAt); i++ {
			g := failedAt[i].Sub(failedAt[i-1])
			minGap, maxGap = min(minGap, g), max(maxGap, g)
		}
		if minGap < 80*time.Millisecond || maxGap < 2*minGap {
			t.Fatalf("failed polls retried without backoff: min gap %s, max gap %s", minGap, maxGap)
		}
		return nil
	})
	// The report that hit malformed answers arrives eventually.
	waitResult(t, api, testClusterID, "install reported despite faults", func(r castai.ActionResult) bool {
		return r.Name == "castai-agent" && r.Status == castai.StatusOK && r.Version == "0.1.0"
	})
	if h, _ := env.History(ctx, ns, "castai-agent"); len(h) != 1 || h[0].Info.Status != release.StatusDeployed {
		t.Fatalf("release affected: %s", revs(h))
	}
}

// TestConsoleMetadataUnavailable: with no provider env and unreachable metadata services the Cluster
// names exactly the env vars to set.
func TestConsoleMetadataUnavailable(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close() // connection refused from now on
	for _, tc := range []struct {
		provider string
		want     []string
	}{
		{"eks", []string{"EKS_ACCOUNT_ID", "EKS_REGION", "EKS_CLUSTER_NAME"}},
		{"gke", []string{"GKE_PROJECT_ID", "GKE_CLUSTER_NAME", "GKE_REGION"}},
		{"aks", []string{"AKS_LOCATION", "AKS_NODE_RESOURCE_GROUP", "AKS_SUBSCRIPTION_ID"}},
	} {
		t.Run(tc.provider, func(t *testing.T) {
			ns := newNamespace(t)
			startOperator(t, ns, func(o *operator.Options) {
				o.Env = func(string) string { return "" }
				o.CastAI.Metadata = []metadata.Option{metadata.WithAWSBaseURL(deadURL), metadata.WithGCEBaseURL(deadURL), metadata.WithAzureBaseURL(deadURL), metadata.WithTimeout(500 * time.Millisecond)}
			})
			createCluster(t, ns, func(c *castwarev1.Cluster) { c.Spec.Provider = tc.provider; c.Spec.Cluster = nil })
			eventually(t, 30*time.Second, "condition names the env vars", func() error {
				c := clusterCondition(getCluster(t, ns), castwarev1.ConditionAvailable)
				if c.Reason != "MetadataUnavailable" {
					return errf("%+v", c)
				}
				for _, v := range tc.want {
					if !strings.Contains(c.Message, v) {
						return errf("message %q lacks %s", c.Message, v)
					}
				}
				if !strings.Contains(c.Message, "additionalEnv") {
					return errf("message %q does not say how to set them", c.Message)
				}
				return nil
			})
		})
	}
}

// TestConsoleGKEMetadataServer registers a GKE cluster from a (loopback) GCE metadata server.
func TestConsoleGKEMetadataServer(t *testing.T) {
	gce := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Metadata-Flavor", "Google") // the real server marks every answer; discovery checks it
		if r.Header.Get("Metadata-Flavor") != "Google" {
			http.Error(w, "missing Metadata-Flavor", http.StatusForbidden)
			return
		}
		answers := map[string]string{
			"/computeMetadata/v1/project/project-id":                   "my-project",
			"/computeMetadata/v1/instance/zone":                        "projects/123/zones/europe-west4-b",
			"/computeMetadata/v1/instance/attributes/cluster-name":     "prod-gke",
			"/computeMetadata/v1/instance/attributes/cluster-location": "europe-west4",
		}
		a, ok := answers[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(a))
	}))
	defer gce.Close()
	ns := newNamespace(t)
	startOperator(t, ns, func(o *operator.Options) {
		o.Env = func(string) string { return "" }
		o.CastAI.Metadata = []metadata.Option{metadata.WithGCEBaseURL(gce.URL)}
	})
	createCluster(t, ns, func(c *castwarev1.Cluster) { c.Spec.Provider = "gke"; c.Spec.Cluster = nil })
	api := fakeAPI(t, ns)
	eventually(t, 30*time.Second, "registered from GCE metadata", func() error {
		id := getCluster(t, ns).ClusterID()
		reg, ok := api.Cluster(id)
		if !ok {
			return errf("not registered (id %q)", id)
		}
		b, _ := json.Marshal(reg.Request)
		if reg.Request.GKE == nil || reg.Request.GKE.ProjectID != "my-project" || reg.Request.GKE.ClusterName != "prod-gke" || reg.Request.GKE.Region != "europe-west4" {
			return errf("registration body %s", b)
		}
		return nil
	})
}

// assertNoKeyMaterial fails when the key appears in the namespace's Cluster and Component objects,
// events, or anything the operator sent to the API except the X-API-Key header.
func assertNoKeyMaterial(t *testing.T, ns, key string, api *fake.Server) {
	t.Helper()
	ctx := context.Background()
	var blobs []string
	cls := &castwarev1.ClusterList{}
	comps := &castwarev1.ComponentList{}
	evs := &corev1.EventList{}
	for _, l := range []client.ObjectList{cls, comps, evs} {
		if err := k8s.List(ctx, l, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(l)
		blobs = append(blobs, string(b))
	}
	for _, r := range api.ActionResults(testClusterID) {
		b, _ := json.Marshal(r)
		blobs = append(blobs, string(b))
	}
	for _, b := range blobs {
		if strings.Contains(b, key) {
			t.Fatalf("API key material found: %.300s", b)
		}
	}
}

func pokeCluster(t *testing.T, ns string) {
	t.Helper()
	cl := getCluster(t, ns)
	patch := client.MergeFrom(cl.DeepCopy())
	if cl.Annotations == nil {
		cl.Annotations = map[string]string{}
	}
	cl.Annotations["test/poke"] = time.Now().Format(time.RFC3339Nano)
	if err := k8s.Patch(context.Background(), cl, patch); err != nil {
		t.Fatal(err)
	}
}
