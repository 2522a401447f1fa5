package console

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/castai"
)

// TestSupersededActions: an action created before the console action that last changed its Component is
// refused; newer ones, the same action again, actions without a createTime and actions for Components the
// console never changed are not.
func TestSupersededActions(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	last := &castai.Action{ID: "last", CreateTime: t0}
	changed := &castwarev1.Component{ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "ns", Annotations: actionAnnotations(nil, last)}}
	untouched := &castwarev1.Component{ObjectMeta: metav1.ObjectMeta{Name: "spot", Namespace: "ns"}}
	p, _ := handlerPoller(t, changed, untouched)
	cl := handlerCluster()
	up := func(id, comp string, at time.Time) *castai.Action {
		return &castai.Action{ID: id, CreateTime: at, Upgrade: &castai.ChartAction{Component: comp, Version: "1.0.0"}}
	}
	for _, tc := range []struct {
		name string
		a    *castai.Action
		ok   bool
	}{
		{"older", up("old", "agent", t0.Add(-time.Second)), false},
		{"older rollback", &castai.Action{ID: "rb", CreateTime: t0.Add(-time.Minute), Rollback: &castai.ComponentTarget{Component: "agent"}}, false},
		{"newer", up("new", "agent", t0.Add(time.Second)), true},
		{"same time", up("same", "agent", t0), true},
		{"the same action", up("last", "agent", t0.Add(-time.Hour)), true},
		{"no createTime", up("zero", "agent", time.Time{}), true},
		{"component never changed by the console", up("other", "spot", t0.Add(-time.Hour)), true},
		{"component missing", up("missing", "nope", t0.Add(-time.Hour)), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := p.superseded(context.Background(), cl, tc.a)
			if (err == nil) != tc.ok {
				t.Fatalf("superseded = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && (!strings.Contains(err.Error(), "superseded") || !strings.Contains(err.Error(), "last")) {
				t.Fatalf("error does not say what superseded it: %v", err)
			}
		})
	}
	if ann := actionAnnotations(map[string]string{annotationActionTime: "x"}, &castai.Action{ID: "z"}); ann[annotationActionTime] != "" || ann[castwarev1.AnnotationActionID] != "z" {
		t.Fatalf("an action without createTime left a stale time: %v", ann)
	}
}

// handlerPoller is a Poller whose clients are one fake API server holding objs (for the action handlers).
func handlerPoller(t *testing.T, objs ...client.Object) (*Poller, client.Client) {
	t.Helper()
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = castwarev1.AddToScheme(s)
	c := fake.NewClientBuilder().WithScheme(s).WithObjects(objs...).WithStatusSubresource(&castwarev1.Component{}, &castwarev1.Cluster{}).Build()
	return &Poller{Client: c, APIReader: c, Conns: NewConnections()}, c
}

// handlerCluster is the Cluster the handlers' Components belong to; its API URL is invalid, so no Cast AI
// client is handed out for it.
func handlerCluster() *castwarev1.Cluster {
	return &castwarev1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "castai", Namespace: "ns"},
		Spec: castwarev1.ClusterSpec{API: castwarev1.APISpec{APIURL: "no-api"}}}
}

// handlerComponent reads a Component back from the handlers' fake API server.
func handlerComponent(t *testing.T, c client.Client, name string) *castwarev1.Component {
	t.Helper()
	comp := &castwarev1.Component{}
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: name}, comp); err != nil {
		t.Fatal(err)
	}
	return comp
}

// TestEveryActionKindHasAHandler: each kind of console action has a meaning; an invalid action is refused.
func TestEveryActionKindHasAHandler(t *testing.T) {
	for _, k := range []castai.ActionKind{castai.ActionKindInstall, castai.ActionKindUpgrade, castai.ActionKindRollback, castai.ActionKindUninstall} {
		if actionHandlers[k] == nil {
			t.Errorf("no handler for %q actions", k)
		}
	}
	p, _ := handlerPoller(t)
	if err := p.handle(context.Background(), handlerCluster(), &castai.Action{ID: "x"}); err == nil || !strings.Contains(err.Error(), "invalid action") {
		t.Fatalf("an action without a payload: %v", err)
	}
}
