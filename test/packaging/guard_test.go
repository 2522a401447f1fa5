package packaging

import (
	"context"
	"errors"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/lifecycle/cleanup"
	"github.com/castware-operator/castware-operator/internal/lifecycle/removal"
)

// TestGuardOnShutdown: the Components are released when the operator's Deployment or its namespace is gone or
// being deleted, and only then; a check the operator may not read does not hide the other.
func TestGuardOnShutdown(t *testing.T) {
	deleting := func(o client.Object) client.Object {
		now := metav1.Now()
		o.SetDeletionTimestamp(&now)
		o.SetFinalizers([]string{"test/keep"})
		return o
	}
	ns := func() client.Object { return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "castai-agent"}} }
	dep := func() client.Object {
		return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "castai-agent", Name: "castware-operator"}}
	}
	forbidNamespaces := interceptor.Funcs{Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
		if _, ok := obj.(*corev1.Namespace); ok {
			return apierrors.NewForbidden(schema.GroupResource{Resource: "namespaces"}, key.Name, errors.New("no rule"))
		}
		return c.Get(ctx, key, obj, opts...)
	}}
	for _, tc := range []struct {
		name    string
		objs    []client.Object
		forbid  bool
		wantWhy string
		wantErr bool
	}{
		{name: "restart: both there", objs: []client.Object{ns(), dep()}},
		{name: "helm uninstall: deployment gone", objs: []client.Object{ns()}, wantWhy: "deployment castware-operator gone"},
		{name: "deployment being deleted", objs: []client.Object{ns(), deleting(dep())}, wantWhy: "deployment castware-operator being deleted"},
		{name: "namespace being deleted, deployment not yet", objs: []client.Object{deleting(ns()), dep()}, wantWhy: "namespace castai-agent being deleted"},
		{name: "namespace gone", objs: []client.Object{dep()}, wantWhy: "namespace castai-agent gone"},
		{name: "helm uninstall, namespaces not readable", objs: []client.Object{ns()}, forbid: true, wantWhy: "deployment castware-operator gone"},
		{name: "restart, namespaces not readable", objs: []client.Object{ns(), dep()}, forbid: true, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			comp := &castwarev1.Component{ObjectMeta: metav1.ObjectMeta{Namespace: "castai-agent", Name: "castai-agent",
				Finalizers: []string{castwarev1.FinalizerCleanupHelm}}}
			b := fake.NewClientBuilder().WithScheme(cleanup.NewScheme()).WithObjects(append(tc.objs, comp)...)
			if tc.forbid {
				b = b.WithInterceptorFuncs(forbidNamespaces)
			}
			c := b.Build()
			g := &removal.Guard{Namespace: "castai-agent", Deployment: "castware-operator"}
			res, err := g.OnShutdown(context.Background(), c)
			if (err != nil) != tc.wantErr || res.Why != tc.wantWhy || res.Removing != (tc.wantWhy != "") {
				t.Fatalf("got %+v, %v; want why %q, error %t", res, err, tc.wantWhy, tc.wantErr)
			}
			got := &castwarev1.Component{}
			if err := c.Get(context.Background(), client.ObjectKeyFromObject(comp), got); err != nil {
				t.Fatal(err)
			}
			released := len(got.Finalizers) == 0 && got.Labels[castwarev1.LabelDeleteCandidate] == "true"
			if released != res.Removing {
				t.Fatalf("component released %t (finalizers %v, labels %v), removing %t", released, got.Finalizers, got.Labels, res.Removing)
			}
		})
	}
}
