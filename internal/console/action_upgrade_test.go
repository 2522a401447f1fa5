package console

import (
	"context"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/castai"
)

// upgradeComp is a Component running 0.1.0 with spec.version and a failed attempt (nil: none).
func upgradeComp(name, version string, failed *castwarev1.FailedAttempt) *castwarev1.Component {
	return &castwarev1.Component{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"},
		Spec:   castwarev1.ComponentSpec{Component: name, Version: version, Values: &apiextensionsv1.JSON{Raw: []byte(`{"keep":1}`)}},
		Status: castwarev1.ComponentStatus{CurrentVersion: "0.1.0", FailedAttempt: failed}}
}

// TestUpgradeAction: a console upgrade patches spec.version, merges the overrides into spec.values and
// records the action; asked for a version whose attempt failed, it sets the retry-request annotation and
// leaves the failed attempt in the status to the controller.
func TestUpgradeAction(t *testing.T) {
	failed020 := &castwarev1.FailedAttempt{Version: "0.2.0", Reason: castwarev1.ReasonUpgradeFailed}
	readonly := upgradeComp("readonly", "0.1.0", nil)
	readonly.Spec.Readonly = true
	p, c := handlerPoller(t, upgradeComp("plain", "0.1.0", nil), upgradeComp("failed", "0.2.0", failed020),
		upgradeComp("failed-same", "0.2.0", failed020), upgradeComp("failed-other", "0.2.0", failed020),
		upgradeComp("current", "0.1.0", nil), upgradeComp("image", "0.1.0", nil), readonly)
	for _, tc := range []struct {
		name, comp, version string
		overrides           map[string]string
		wantVersion         string
		wantRetry           string
		wantErr             string
	}{
		{"new version and values", "plain", "0.3.0", map[string]string{"a.b": "x"}, "0.3.0", "", ""},
		{"the failed version again", "failed", "0.2.0", nil, "0.2.0", "0.2.0/up", ""},
		{"no version: the spec's failed one again", "failed-same", "", nil, "0.2.0", "0.2.0/up", ""},
		{"another version", "failed-other", "0.3.0", nil, "0.3.0", "", ""},
		{"up to date", "current", "0.1.0", nil, "0.1.0", "", "already up to date (version 0.1.0)"},
		{"readonly", "readonly", "0.3.0", nil, "0.1.0", "", "is readonly"},
		{"missing", "nope", "0.3.0", nil, "", "", "component nope not found"},
		{"an image from the console", "image", "0.3.0", map[string]string{"image.repository": "evil.example/agent", "a.b": "x"}, "0.1.0", "",
			`valuesOverrides: "image.repository" not allowed from the console`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := &castai.ChartAction{Component: tc.comp, Version: tc.version, ValuesOverrides: tc.overrides}
			err := p.upgradeAction(context.Background(), handlerCluster(), &castai.Action{ID: "up", Upgrade: up})
			if (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("upgrade = %v, want error %q", err, tc.wantErr)
			}
			if tc.comp == "nope" {
				return
			}
			got := handlerComponent(t, c, tc.comp)
			if got.Spec.Version != tc.wantVersion || got.Annotations[castwarev1.AnnotationRetryRequest] != tc.wantRetry {
				t.Fatalf("version %q, retry-request %q; want %q, %q", got.Spec.Version, got.Annotations[castwarev1.AnnotationRetryRequest], tc.wantVersion, tc.wantRetry)
			}
			if strings.HasPrefix(tc.comp, "failed") && got.Status.FailedAttempt == nil {
				t.Fatal("the failed attempt was cleared: the status is no command channel")
			}
			if tc.wantErr == "" && got.Annotations[castwarev1.AnnotationActionID] != "up" {
				t.Fatalf("action not recorded: %v", got.Annotations)
			}
			if tc.overrides != nil && tc.wantErr == "" && string(got.Spec.Values.Raw) != `{"a":{"b":"x"},"keep":1}` {
				t.Fatalf("values %s", got.Spec.Values.Raw)
			}
		})
	}
}

// TestUpgradeActionOnce: the same upgrade delivered again changes nothing (no "up to date" error either).
func TestUpgradeActionOnce(t *testing.T) {
	p, c := handlerPoller(t, upgradeComp("agent", "0.1.0", nil))
	a := &castai.Action{ID: "up", Upgrade: &castai.ChartAction{Component: "agent", Version: "0.3.0"}}
	for i := 0; i < 2; i++ {
		if err := p.upgradeAction(context.Background(), handlerCluster(), a); err != nil {
			t.Fatalf("delivery %d: %v", i+1, err)
		}
	}
	if got := handlerComponent(t, c, "agent"); got.Spec.Version != "0.3.0" {
		t.Fatalf("version %q", got.Spec.Version)
	}
}

// TestSelfUpgradeAction: an upgrade of the operator itself goes to the SelfUpgrader, and is refused without one.
func TestSelfUpgradeAction(t *testing.T) {
	p, _ := handlerPoller(t)
	a := &castai.Action{ID: "self", Upgrade: &castai.ChartAction{Component: OperatorComponent, Version: "1.2.3"}}
	if err := p.upgradeAction(context.Background(), handlerCluster(), a); err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Fatalf("without a SelfUpgrader: %v", err)
	}
	su := &recordingSelfUpgrader{}
	p.SelfUpgrade = su
	if err := p.upgradeAction(context.Background(), handlerCluster(), a); err != nil || su.got != "1.2.3/self" {
		t.Fatalf("self-upgrade: err %v, started %q", err, su.got)
	}
}

// recordingSelfUpgrader records the version and action of the last self-upgrade started.
type recordingSelfUpgrader struct{ got string }

func (r *recordingSelfUpgrader) Start(_ context.Context, _ *castwarev1.Cluster, version, actionID string) error {
	r.got = version + "/" + actionID
	return nil
}
