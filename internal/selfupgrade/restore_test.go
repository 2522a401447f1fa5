package selfupgrade

import (
	"context"
	"encoding/json"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/helm"
)

// restoreEngine holds a release history and records the rollback or upgrade asked of it.
type restoreEngine struct {
	hist       []*helm.Release
	rolledBack int
	upgrade    *helm.OwnUpgrade
}

func (e *restoreEngine) Observe(context.Context, client.Object, string) (*helm.State, error) {
	return &helm.State{Latest: e.hist[0], History: e.hist}, nil
}
func (e *restoreEngine) Readiness(context.Context, *helm.Release) (helm.Readiness, error) {
	return helm.Readiness{}, nil
}
func (e *restoreEngine) UpgradeRelease(_ context.Context, req helm.OwnUpgrade) (*helm.Release, error) {
	e.upgrade = &req
	return &release.Release{Version: 3}, nil
}
func (e *restoreEngine) Rollback(_ context.Context, _ client.Object, _ string, to int) (*helm.Release, error) {
	e.rolledBack = to
	return &release.Release{Version: 3}, nil
}
func (e *restoreEngine) Unlock(context.Context, client.Object, *helm.Release) error { return nil }

// TestRollbackNeverCopiesTheKeyBack: rolling back a failed first self-upgrade restores the user's `helm
// install` revision without its plaintext key (an upgrade to its chart, no hooks); a revision without a key
// is restored by a Helm rollback.
func TestRollbackNeverCopiesTheKeyBack(t *testing.T) {
	first := &chart.Chart{Metadata: &chart.Metadata{Name: "castware-operator", Version: "0.1.0"}}
	for _, tc := range []struct {
		name   string
		config map[string]any
		want   map[string]any // nil: a Helm rollback
	}{
		{"first revision holds the key", map[string]any{"apiKeySecret": map[string]any{"apiKey": "k3y-in-plaintext", "name": "castware-api-key"},
			"image": map[string]any{"tag": "v0.1.0"}},
			map[string]any{"apiKeySecret": map[string]any{"create": false, "name": "castware-api-key"}, "image": map[string]any{"tag": "v0.1.0"}}},
		{"revision without a key", map[string]any{"apiKeySecret": map[string]any{"create": false}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := &restoreEngine{hist: []*helm.Release{
				{Name: "op", Version: 2, Info: &release.Info{Status: release.StatusFailed}, Chart: first},
				{Name: "op", Version: 1, Info: &release.Info{Status: release.StatusSuperseded}, Chart: first, Config: tc.config},
			}}
			u, cl := restoreUpgrader(t, e)
			if err := u.stepRollback(context.Background(), cl); err != nil {
				t.Fatal(err)
			}
			if cl.Status.OperatorUpgrade.Phase != castwarev1.OperatorUpgradeRolledBack {
				t.Fatalf("phase %s: %s", cl.Status.OperatorUpgrade.Phase, cl.Status.OperatorUpgrade.Message)
			}
			if tc.want == nil {
				if e.rolledBack != 1 || e.upgrade != nil {
					t.Fatalf("rolled back to %d, upgrade %+v: want a Helm rollback to 1", e.rolledBack, e.upgrade)
				}
				return
			}
			if e.rolledBack != 0 || e.upgrade == nil {
				t.Fatalf("Helm rollback to %d: it copies the key into the new revision", e.rolledBack)
			}
			if got := e.upgrade; got.Chart != first || !got.Restore || got.DryRun || !equalJSON(got.Values, tc.want) {
				t.Errorf("restore %+v, values %v; want revision 1's chart, no hooks, values %v", got, got.Values, tc.want)
			}
			if tc.config["apiKeySecret"].(map[string]any)["apiKey"] == nil {
				t.Error("the stored revision's values were modified")
			}
		})
	}
}

func restoreUpgrader(t *testing.T, e *restoreEngine) (*Upgrader, *castwarev1.Cluster) {
	t.Helper()
	s := runtime.NewScheme()
	_ = castwarev1.AddToScheme(s)
	cl := &castwarev1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "castai", Namespace: "ns"},
		Status: castwarev1.ClusterStatus{OperatorUpgrade: &castwarev1.OperatorUpgradeStatus{Phase: castwarev1.OperatorUpgradeRollingBack,
			Release: "op", FromVersion: "0.1.0", ToVersion: "0.3.0", FromRevision: 1, ToRevision: 2, Message: "pods not Ready"}}}
	c := fake.NewClientBuilder().WithScheme(s).WithObjects(cl).WithStatusSubresource(cl).Build()
	u := New(c, c, e, nil, func(context.Context, *castwarev1.Cluster) (API, error) { return &recordingAPI{}, nil },
		Options{Namespace: "ns", ReleaseName: "op", ChartVersion: "0.1.0"})
	return u, cl
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
