package selfupgrade

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/castai"
	"github.com/castware-operator/castware-operator/internal/redact"
)

// suKey is the operator's API key as read from its Secret: no recognisable shape, only registered.
const suKey = "selfUpgrade-Key-no-shape"

// recordingAPI keeps the results reported to it.
type recordingAPI struct{ got []castai.ActionResult }

func (a *recordingAPI) RecordActionResult(_ context.Context, _ string, r castai.ActionResult) error {
	a.got = append(a.got, r)
	return nil
}

func (a *recordingAPI) GetComponentByName(context.Context, string) (*castai.ComponentInfo, error) {
	return &castai.ComponentInfo{}, nil
}

// TestStatusAndReportsNeverCarryTheKey fails an upgrade with a Helm error quoting the key: neither
// status.operatorUpgrade, the OperatorUpgrade condition nor the result reported to Cast AI holds it.
func TestStatusAndReportsNeverCarryTheKey(t *testing.T) {
	redact.Add(suKey)
	s := runtime.NewScheme()
	_ = castwarev1.AddToScheme(s)
	cl := &castwarev1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "castai", Namespace: "ns"},
		Spec: castwarev1.ClusterSpec{Cluster: &castwarev1.ClusterMetadataSpec{ClusterID: "c1"}},
		Status: castwarev1.ClusterStatus{OperatorUpgrade: &castwarev1.OperatorUpgradeStatus{
			Phase: castwarev1.OperatorUpgradeUpgrading, Release: "op", FromVersion: "0.1.0", ToVersion: "0.2.0"}}}
	c := fake.NewClientBuilder().WithScheme(s).WithObjects(cl).WithStatusSubresource(cl).Build()
	api := &recordingAPI{}
	u := New(c, c, nil, nil, func(context.Context, *castwarev1.Cluster) (API, error) { return api, nil },
		Options{Namespace: "ns", ReleaseName: "op", ChartVersion: "0.1.0"})
	ctx := context.Background()
	if err := u.transition(ctx, cl, castwarev1.OperatorUpgradeUpgrading, castwarev1.OperatorUpgradeFailed,
		"helm upgrade to 0.2.0 failed: values apiKeySecret.apiKey: "+suKey, nil); err != nil {
		t.Fatal(err)
	}
	if err := u.stepReportFinal(ctx, cl); err != nil {
		t.Fatal(err)
	}
	got := &castwarev1.Cluster{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(cl), got); err != nil {
		t.Fatal(err)
	}
	texts := map[string]string{"status": got.Status.OperatorUpgrade.Message}
	if cond := meta.FindStatusCondition(got.Status.Conditions, ConditionOperatorUpgrade); cond != nil {
		texts["condition"] = cond.Message
	}
	u.progress(ctx, got, "still failing: "+suKey)
	if len(api.got) != 2 {
		t.Fatalf("reports %+v, want the failure and the progress step", api.got)
	}
	for i, r := range api.got {
		texts["report "+string(rune('0'+i))] = r.Message
	}
	if len(texts) != 4 {
		t.Fatalf("nothing to scan: %v", texts)
	}
	for where, text := range texts {
		if strings.Contains(text, suKey) || !strings.Contains(text, redact.Placeholder) {
			t.Errorf("%s: %q", where, text)
		}
	}
}
