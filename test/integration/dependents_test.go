package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/castai/fake"
	"github.com/castware-operator/castware-operator/internal/dependents"
	"github.com/castware-operator/castware-operator/internal/operator"
)

// dependentsCatalog is the test catalog plus cluster-controller taking the key by Secret reference, as the
// shipped catalog does (so its chart renders no Secret castai-cluster-controller).
func dependentsCatalog(t *testing.T) opt {
	t.Helper()
	c := testCatalogPlus(t, `
- group: castware.cast.ai
  version: v1alpha1
  kind: Component
  component: cluster-controller
  chart: test-deployment
  releaseName: cluster-controller
  phase: 1
  requires: [ClusterID]
  clusterValues:
    apiURL: "{{ .APIURL }}"
    apiKeySecretRef: "{{ .APIKeySecret }}"
`)
	return func(o *operator.Options) { o.Catalog = c }
}

// copiedKey returns API_KEY of Secret castai-cluster-controller, checking it is the operator's copy.
func copiedKey(ctx context.Context, ns string) (string, error) {
	s := &corev1.Secret{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: dependents.ClusterControllerSecret}, s); err != nil {
		return "", err
	}
	if s.Labels[dependents.LabelManagedBy] != dependents.ManagedByValue || s.Annotations[dependents.AnnotationSource] != "castware-api-key" {
		return "", fmt.Errorf("labels %v annotations %v", s.Labels, s.Annotations)
	}
	if len(s.OwnerReferences) != 0 {
		return "", fmt.Errorf("ownerReferences %v: it would go with them", s.OwnerReferences)
	}
	return string(s.Data[castwarev1.APIKeySecretKey]), nil
}

// waitCopy waits until the copy holds key.
func waitCopy(t *testing.T, ns, key string, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, "Secret castai-cluster-controller holds the Cluster's key", func() error {
		got, err := copiedKey(context.Background(), ns)
		if err != nil {
			return err
		}
		if got != key {
			return fmt.Errorf("it holds another key (%d bytes)", len(got))
		}
		return nil
	})
}

// TestDependentsKeySecret: enabling cluster-controller (given a Secret reference) makes the operator keep
// Secret castai-cluster-controller with the Cluster's API_KEY for the components that read it by default;
// a rotation and a deletion of the copy are followed within seconds; the key is in no release, CR or
// Event; and removing the operator's CRs leaves the copy for the dependents that keep running.
func TestDependentsKeySecret(t *testing.T) {
	ns := newNamespace(t)
	ctx := context.Background()
	oldKey, newKey := randomKey(t), randomKey(t)
	api := fake.NewServer(fake.WithKeys(oldKey, newKey), fake.WithHold(30*time.Second))
	t.Cleanup(api.Close)
	stop := stoppableOperator(t, ns, dependentsCatalog(t))
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "castware-api-key", Namespace: ns}, StringData: map[string]string{"API_KEY": oldKey}}
	cl := &castwarev1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "castai", Namespace: ns}, Spec: castwarev1.ClusterSpec{
		Provider: "eks", APIKeySecret: "castware-api-key", API: castwarev1.APISpec{APIURL: api.URL()}, HelmRepoURL: charts.URL(),
		Cluster: &castwarev1.ClusterMetadataSpec{ClusterID: testClusterID}}}
	cc := newComponent(ns, "cluster-controller", "cluster-controller", "0.1.0", nil)
	for _, o := range []client.Object{sec, cl, cc} {
		if err := k8s.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	waitAvailable(t, ns, "cluster-controller", "0.1.0", 3*time.Minute)
	waitCopy(t, ns, oldKey, 30*time.Second)

	// Rotation: the copy follows within seconds.
	base := sec.DeepCopy()
	sec.StringData = map[string]string{"API_KEY": newKey}
	if err := k8s.Patch(ctx, sec, client.MergeFrom(base)); err != nil {
		t.Fatal(err)
	}
	waitCopy(t, ns, newKey, 15*time.Second)

	// A deleted copy comes back.
	if err := k8s.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: dependents.ClusterControllerSecret, Namespace: ns}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "deleted copy recreated", func() error {
		_, err := copiedKey(ctx, ns)
		return err
	})
	waitCopy(t, ns, newKey, 15*time.Second)

	for _, f := range dependentsKeyLeaks(t, ctx, ns, keyForms(oldKey, newKey)) {
		t.Error("key material found in " + f)
	}

	// Removing the operator's CRs (the release is uninstalled) and the operator leaves the copy in place.
	for _, o := range []client.Object{cc, cl} {
		if err := k8s.Delete(ctx, o); err != nil {
			t.Fatal(err)
		}
		eventually(t, 2*time.Minute, "CR "+o.GetName()+" gone", func() error {
			err := k8s.Get(ctx, client.ObjectKeyFromObject(o), o)
			if apierrors.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("still there: %v", err)
		})
	}
	stop()
	waitCopy(t, ns, newKey, 5*time.Second)
}

// dependentsKeyLeaks scans the cluster-controller release, the CRs and the Events of ns for key forms.
func dependentsKeyLeaks(t *testing.T, ctx context.Context, ns string, forms []string) []string {
	t.Helper()
	var found []string
	hist, err := env.History(ctx, ns, "cluster-controller")
	if err != nil || len(hist) == 0 {
		t.Fatalf("release cluster-controller: %v", err)
	}
	for _, h := range hist {
		found = append(found, leaks("release cluster-controller", asJSON(t, h.Config)+h.Manifest, forms)...)
	}
	lists := map[string]client.ObjectList{"events": &corev1.EventList{}, "events.k8s.io": &eventsv1.EventList{},
		"Components": &castwarev1.ComponentList{}, "Clusters": &castwarev1.ClusterList{}}
	for where, l := range lists {
		if err := k8s.List(ctx, l, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		found = append(found, leaks(where, asJSON(t, l), forms)...)
	}
	return found
}
