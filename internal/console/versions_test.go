package console

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/castai"
	"github.com/castware-operator/castware-operator/internal/castai/fake"
	"github.com/castware-operator/castware-operator/internal/catalog"
)

type fallbackVersion string

func (f fallbackVersion) LatestVersion(context.Context, *castwarev1.Cluster, *catalog.Entry, string) (string, error) {
	return string(f), nil
}

const versionsClusterID = "11111111-2222-4333-8444-555555555555"

func versionsCluster(name, url, id string) *castwarev1.Cluster {
	cl := &castwarev1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "castai-agent"},
		Spec: castwarev1.ClusterSpec{API: castwarev1.APISpec{APIURL: url}}}
	if id != "" {
		cl.Spec.Cluster = &castwarev1.ClusterMetadataSpec{ClusterID: id}
	}
	return cl
}

// TestLatestVersions: "latest" is getByName's latestVersion; a component Cast AI does not know, or a Cluster
// whose key was not read yet, falls back to the chart repository.
func TestLatestVersions(t *testing.T) {
	ctx := context.Background()
	srv := fake.NewServer()
	defer srv.Close()
	srv.SetComponent(castai.ComponentInfo{Name: "castai-agent", HelmChart: "castai-agent", LatestVersion: "0.170.2", ReleaseName: "castai-agent"})
	conns := NewConnections()
	cl := versionsCluster("castai", srv.URL(), versionsClusterID)
	if _, _, err := conns.SetKey(cl, fake.DefaultAPIKey); err != nil {
		t.Fatal(err)
	}
	l := LatestVersions{Conns: conns, Fallback: fallbackVersion("9.9.9-repo")}
	for _, tc := range []struct {
		cl        *castwarev1.Cluster
		component string
		want      string
	}{
		{cl, "castai-agent", "0.170.2"},
		{cl, "a-component-cast-ai-does-not-know", "9.9.9-repo"},
		{versionsCluster("no-key-yet", srv.URL(), versionsClusterID), "castai-agent", "9.9.9-repo"},
	} {
		got, err := l.LatestVersion(ctx, tc.cl, &catalog.Entry{Component: tc.component}, "https://charts.example")
		if err != nil || got != tc.want {
			t.Errorf("%s/%s: latest %q (%v), want %q", tc.cl.Name, tc.component, got, err, tc.want)
		}
	}
}

// TestUpgradeValidation: components:validateUpgrade answers allowed or Cast AI's reason; a cluster not
// registered yet has nothing to ask; an API that cannot be reached is an error, never an allowance.
func TestUpgradeValidation(t *testing.T) {
	ctx := context.Background()
	srv := fake.NewServer()
	srv.AddCluster(castai.ExternalCluster{ID: versionsClusterID, Name: "c"})
	conns := NewConnections(castai.WithMaxAttempts(1))
	cl := versionsCluster("castai", srv.URL(), versionsClusterID)
	if _, _, err := conns.SetKey(cl, fake.DefaultAPIKey); err != nil {
		t.Fatal(err)
	}
	u := UpgradeValidation{Conns: conns}
	if ok, why, err := u.ValidateUpgrade(ctx, cl, "castai-agent", "0.2.0"); !ok || why != "" || err != nil {
		t.Fatalf("allowed upgrade: %v %q %v", ok, why, err)
	}
	srv.BlockUpgrade("castai-agent", "0.2.0", "RBAC checksum mismatch")
	if ok, why, err := u.ValidateUpgrade(ctx, cl, "castai-agent", "0.2.0"); ok || why != "RBAC checksum mismatch" || err != nil {
		t.Fatalf("blocked upgrade: %v %q %v", ok, why, err)
	}
	if ok, _, err := u.ValidateUpgrade(ctx, cl, "castai-agent", "0.3.0"); !ok || err != nil {
		t.Fatalf("another version is not blocked: %v %v", ok, err)
	}
	calls := len(srv.Calls())
	if ok, _, err := u.ValidateUpgrade(ctx, versionsCluster("unregistered", srv.URL(), ""), "castai-agent", "0.2.0"); !ok || err != nil || len(srv.Calls()) != calls {
		t.Fatalf("unregistered cluster: %v %v, %d calls", ok, err, len(srv.Calls())-calls)
	}
	srv.Close()
	if ok, _, err := u.ValidateUpgrade(ctx, cl, "castai-agent", "0.3.0"); ok || err == nil || strings.Contains(err.Error(), fake.DefaultAPIKey) {
		t.Fatalf("API down: allowed=%v err=%v", ok, err)
	}
}
