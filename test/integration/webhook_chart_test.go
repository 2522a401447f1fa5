package integration

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/devtools/packaging"
	"github.com/castware-operator/castware-operator/internal/devtools/testharness"
)

// TestChartWebhookConfigurations installs the operator chart's webhook configurations (rendered by helm for a
// release in the test's namespace) pointed at a port where nothing listens, as on a fresh install before the
// operator's pod serves, and checks what the API server does with each kind of request: Helm's creation of the
// release's own default resources and every deletion, metadata-, finalizer- and status-only update go through;
// anything else is refused (failurePolicy Fail), so validation is never skipped for it.
func TestChartWebhookConfigurations(t *testing.T) {
	ns := newNamespace(t)
	other := newNamespace(t)
	rel := "wh" + ns[len(ns)-5:]
	ctx := context.Background()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadPort := l.Addr().(*net.TCPAddr).Port
	l.Close() // nothing listens there: every call the API server makes fails
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	out, err := env.Helm(rctx, "template", rel, filepath.Join(testharness.RepoRoot(), packaging.OperatorChartDir), "-n", ns,
		"--set", "apiKeySecret.apiKey=unused", "--set", "defaultCluster.provider=eks", "--set", fmt.Sprintf("webhook.url=https://127.0.0.1:%d", deadPort),
		"--show-only", "templates/webhook-configurations.yaml", "--kube-version", "1.30.0")
	if err != nil {
		t.Fatalf("render: %v\n%s", err, out)
	}
	objs, err := packaging.SplitYAML([]byte(out))
	if err != nil || len(objs) != 2 {
		t.Fatalf("rendered %d configurations, err %v", len(objs), err)
	}
	for _, o := range objs {
		if err := k8s.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
		obj := o
		t.Cleanup(func() { _ = k8s.Delete(context.Background(), obj) })
	}

	helmOwned := func(release, namespace string) map[string]string {
		return map[string]string{"meta.helm.sh/release-name": release, "meta.helm.sh/release-namespace": namespace}
	}
	cluster := func(namespace, name string, ann map[string]string) *castwarev1.Cluster {
		return &castwarev1.Cluster{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Annotations: ann},
			Spec: castwarev1.ClusterSpec{Provider: "eks", APIKeySecret: "k", API: castwarev1.APISpec{APIURL: "https://api.cast.ai"}}}
	}
	refused := func(what string, err error) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), "failed calling webhook") {
			t.Errorf("%s: want it refused by the unreachable validating webhook, got %v", what, err)
		}
	}
	allowed := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}
	// The webhooks are in force once the API server knows the configurations.
	eventually(t, 30*time.Second, "webhook configurations in force", func() error {
		err := k8s.Create(ctx, cluster(ns, "probe", nil))
		if err == nil {
			_ = k8s.Delete(ctx, cluster(ns, "probe", nil))
			return fmt.Errorf("a Cluster was admitted without the webhook")
		}
		return nil
	})

	refused("create by anyone", k8s.Create(ctx, cluster(ns, "plain", nil)))
	refused("create by another release", k8s.Create(ctx, cluster(ns, "other-release", helmOwned("someone-else", ns))))
	refused("create by the release in another namespace's name", k8s.Create(ctx, cluster(ns, "other-ns", helmOwned(rel, other))))
	own := cluster(ns, "castai", helmOwned(rel, ns))
	allowed("create by this release (its default Cluster on a fresh install)", k8s.Create(ctx, own))
	comp := &castwarev1.Component{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "castai-agent", Annotations: helmOwned(rel, ns)},
		Spec: castwarev1.ComponentSpec{Component: "castai-agent", Cluster: "castai", Enabled: true}}
	allowed("create of a default Component by this release", k8s.Create(ctx, comp))
	allowed("create outside the release namespace (not matched)", k8s.Create(ctx, cluster(other, "elsewhere", nil)))

	spec := own.DeepCopy()
	spec.Spec.API.APIURL = "https://api.eu.cast.ai"
	refused("spec update, even of the release's own Cluster", k8s.Patch(ctx, spec, client.MergeFrom(own)))
	meta := own.DeepCopy()
	meta.Labels = map[string]string{"team": "a"}
	allowed("metadata-only update", k8s.Patch(ctx, meta, client.MergeFrom(own)))
	fin := comp.DeepCopy()
	controllerutil.AddFinalizer(fin, castwarev1.FinalizerCleanupHelm)
	allowed("finalizer added", k8s.Patch(ctx, fin, client.MergeFrom(comp)))
	st := fin.DeepCopy()
	st.Status.CurrentVersion = "1.0.0"
	allowed("status update", k8s.Status().Patch(ctx, st, client.MergeFrom(fin)))
	allowed("delete", k8s.Delete(ctx, st))
	noFin := st.DeepCopy()
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(st), noFin); err != nil {
		t.Fatal(err)
	}
	base := noFin.DeepCopy()
	controllerutil.RemoveFinalizer(noFin, castwarev1.FinalizerCleanupHelm)
	allowed("finalizer removed while being deleted", k8s.Patch(ctx, noFin, client.MergeFrom(base)))
	eventually(t, 30*time.Second, "Component deleted", func() error {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(st), &castwarev1.Component{}); err == nil {
			return fmt.Errorf("still there")
		}
		return nil
	})
	allowed("delete of the Cluster", k8s.Delete(ctx, meta))
}
