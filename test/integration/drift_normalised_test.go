package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chartpkg "github.com/castware-operator/castware-operator/internal/charts"
	"github.com/castware-operator/castware-operator/internal/operator"
)

// normalisedChart renders what the real component charts render and the API server stores differently from
// the manifest: an env entry with `valueFrom: null`, quantities in a non-canonical form ("1000m", "1024Mi"),
// an int-or-string PDB field, and fields the server defaults (imagePullPolicy, updateStrategy).
func normalisedChart(version string) *chartpkg.Chart {
	ds := `apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: {{ .Release.Name }}
  labels:
    app.kubernetes.io/name: normalised
    helm.sh/chart: normalised-{{ .Chart.Version }}
spec:
  selector:
    matchLabels:
      app.kubernetes.io/name: normalised
  template:
    metadata:
      labels:
        app.kubernetes.io/name: normalised
    spec:
      tolerations:
        - operator: Exists
      containers:
        - name: handler
          image: "registry.local/normalised:{{ .Values.tag }}"
          env:
            - name: CLUSTER_ID
              value: {{ .Values.clusterID | quote }}
            - name: NODE_NAME
              value: node
              valueFrom: null
          resources:
            requests:
              cpu: 1000m
              memory: 1024Mi
`
	pdb := `apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ .Release.Name }}
spec:
  maxUnavailable: 1
  selector:
    matchLabels:
      app.kubernetes.io/name: normalised
`
	return &chartpkg.Chart{
		Metadata: &chartpkg.Metadata{APIVersion: "v2", Name: "normalised", Version: version, AppVersion: "v" + version},
		Templates: []*chartpkg.File{{Name: "templates/daemonset.yaml", Data: []byte(ds)},
			{Name: "templates/pdb.yaml", Data: []byte(pdb)}},
		Values: map[string]any{"tag": "v" + version, "clusterID": ""},
		Raw:    []*chartpkg.File{{Name: "values.yaml", Data: []byte("tag: v" + version + "\nclusterID: \"\"\n")}},
	}
}

// TestNoFalseDrift: installing and upgrading a chart whose objects the API server normalises leaves no drift
// to repair: no DriftRepaired event and no write to the objects, over many drift checks; a real edit is
// still repaired, once.
func TestNoFalseDrift(t *testing.T) {
	for _, v := range []string{"1.0.0", "1.1.0"} {
		if err := charts.Add(normalisedChart(v)); err != nil {
			t.Fatal(err)
		}
	}
	cat := testCatalogPlus(t, `
- group: castware.cast.ai
  version: v1alpha1
  kind: Component
  component: normalised
  chart: normalised
  releaseName: normalised
  phase: 1
  reconcilePeriod: 1s
  requires: [ClusterID]
  clusterValues:
    clusterID: "{{ .ClusterID }}"
`)
	ctx := context.Background()
	ns := newNamespace(t)
	startOperator(t, ns, func(o *operator.Options) { o.Catalog = cat })
	createCluster(t, ns)
	if err := k8s.Create(ctx, newComponent(ns, "normalised", "normalised", "1.0.0", nil)); err != nil {
		t.Fatal(err)
	}
	waitAvailable(t, ns, "normalised", "1.0.0", 90*time.Second)
	assertNoWrites(t, ns, []string{"normalised"}, normalisedObjects(ns))

	c := getComponent(t, ns, "normalised")
	patch := client.MergeFrom(c.DeepCopy())
	c.Spec.Version = "1.1.0"
	if err := k8s.Patch(ctx, c, patch); err != nil {
		t.Fatal(err)
	}
	waitAvailable(t, ns, "normalised", "1.1.0", 90*time.Second)
	assertNoWrites(t, ns, []string{"normalised"}, normalisedObjects(ns))

	// A real edit is repaired, and reported once.
	pdb := &policyv1.PodDisruptionBudget{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "normalised"}, pdb); err != nil {
		t.Fatal(err)
	}
	edit := client.MergeFrom(pdb.DeepCopy())
	pdb.Spec.MaxUnavailable.IntVal = 3
	if err := k8s.Patch(ctx, pdb, edit); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the edited PDB repaired", func() error {
		got := &policyv1.PodDisruptionBudget{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "normalised"}, got); err != nil {
			return err
		}
		if got.Spec.MaxUnavailable.IntVal != 1 {
			return errf("maxUnavailable %s", got.Spec.MaxUnavailable.String())
		}
		return nil
	})
	waitRepairEvents(t, ns, 1)
	assertNoWrites(t, ns, []string{"normalised"}, normalisedObjects(ns))
	if evs := repairEvents(t, ns); len(evs) != 1 || !strings.Contains(evs[0], "patched PodDisruptionBudget normalised") {
		t.Fatalf("DriftRepaired events %q, want exactly one for the PDB", evs)
	}
}

// normalisedObjects are the objects of the normalised release in ns.
func normalisedObjects(ns string) []*unstructured.Unstructured {
	return []*unstructured.Unstructured{objRef("apps/v1", "DaemonSet", ns, "normalised"), objRef("policy/v1", "PodDisruptionBudget", ns, "normalised")}
}
