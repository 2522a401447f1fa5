package dependents

import (
	"context"
	"testing"

	"errors"
	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

func TestDesired(t *testing.T) {
	base := Input{Namespace: "castai-agent", SourceSecret: "castware-api-key", APIKey: "k1"}
	with := func(mod func(*Input)) Input { in := base; mod(&in); return in }
	tests := []struct {
		name   string
		in     Input
		want   int
		create bool
	}{
		{"cluster-controller enabled: must exist", with(func(in *Input) { in.Enabled = []string{"castai-agent", "cluster-controller"} }), 1, true},
		{"cluster-controller not enabled: refresh only", with(func(in *Input) { in.Enabled = []string{"castai-agent", "evictor"} }), 1, false},
		{"nothing enabled: refresh only", base, 1, false},
		{"no key: nothing", with(func(in *Input) { in.APIKey = ""; in.Enabled = []string{"cluster-controller"} }), 0, false},
		{"no source: nothing", with(func(in *Input) { in.SourceSecret = ""; in.Enabled = []string{"cluster-controller"} }), 0, false},
		{"source is the copy itself: nothing", with(func(in *Input) {
			in.SourceSecret = ClusterControllerSecret
			in.Enabled = []string{"cluster-controller"}
		}), 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Desired(tt.in)
			if len(got) != tt.want {
				t.Fatalf("got %d objects, want %d", len(got), tt.want)
			}
			if tt.want == 0 {
				return
			}
			o := got[0]
			s := o.Secret
			if o.Create != tt.create {
				t.Errorf("Create = %v, want %v", o.Create, tt.create)
			}
			if s.Name != ClusterControllerSecret || s.Namespace != tt.in.Namespace || string(s.Data["API_KEY"]) != tt.in.APIKey {
				t.Errorf("secret %s/%s with %q", s.Namespace, s.Name, s.Data["API_KEY"])
			}
			if s.Labels[LabelManagedBy] != ManagedByValue || s.Annotations[AnnotationSource] != tt.in.SourceSecret || len(s.OwnerReferences) != 0 {
				t.Errorf("labels %v annotations %v owners %v", s.Labels, s.Annotations, s.OwnerReferences)
			}
		})
	}
}

func TestSync(t *testing.T) {
	want := Desired(Input{Namespace: "ns", SourceSecret: "src", APIKey: "new", Enabled: []string{ClusterControllerComponent}})[0]
	existing := func(labels, annotations map[string]string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: ClusterControllerSecret, Namespace: "ns", Labels: labels, Annotations: annotations},
			Data: map[string][]byte{"API_KEY": []byte("old"), "OTHER": []byte("x")}}
	}
	tests := []struct {
		name     string
		existing *corev1.Secret
		create   bool
		wantKey  string // "" means absent
	}{
		{"missing and required: created", nil, true, "new"},
		{"missing, not required: left absent", nil, false, ""},
		{"ours: rotated", existing(map[string]string{LabelManagedBy: ManagedByValue}, nil), false, "new"},
		{"Helm release's: left alone", existing(nil, map[string]string{AnnotationHelmRelease: "cluster-controller"}), true, "old"},
		{"unmanaged, required: adopted", existing(nil, nil), true, "new"},
		{"unmanaged, not required: left alone", existing(nil, nil), false, "old"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := fake.NewClientBuilder().WithScheme(scheme.Scheme)
			if tt.existing != nil {
				b = b.WithObjects(tt.existing)
			}
			c := b.Build()
			o := want
			o.Create = tt.create
			if err := Sync(context.Background(), c, c, []Object{o}); err != nil {
				t.Fatal(err)
			}
			got := &corev1.Secret{}
			err := c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: ClusterControllerSecret}, got)
			if tt.wantKey == "" {
				if err == nil {
					t.Fatal("Secret created though not required")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if k := string(got.Data["API_KEY"]); k != tt.wantKey {
				t.Errorf("API_KEY = %q, want %q", k, tt.wantKey)
			}
			if tt.existing != nil && string(got.Data["OTHER"]) != "x" {
				t.Error("other entries were dropped")
			}
		})
	}
}

// TestHookNeverBlocksTheCluster: a copy that cannot be written is retried later; the Cluster's other hooks
// (registration, polling) still run.
func TestHookNeverBlocksTheCluster(t *testing.T) {
	s := runtime.NewScheme()
	_ = scheme.AddToScheme(s)
	_ = castwarev1.AddToScheme(s)
	cc := &castwarev1.Component{ObjectMeta: metav1.ObjectMeta{Name: "cc", Namespace: "ns"},
		Spec: castwarev1.ComponentSpec{Component: ClusterControllerComponent, Cluster: "castai", Enabled: true}}
	c := fake.NewClientBuilder().WithScheme(s).WithObjects(cc).WithInterceptorFuncs(interceptor.Funcs{
		Create: func(context.Context, client.WithWatch, client.Object, ...client.CreateOption) error {
			return apierrors.NewForbidden(corev1.Resource("secrets"), ClusterControllerSecret, errors.New("no rights"))
		},
	}).Build()
	cl := &castwarev1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "castai", Namespace: "ns"}, Spec: castwarev1.ClusterSpec{APIKeySecret: "src"}}
	res, err := Hook{Client: c, Reader: c}.Reconcile(context.Background(), cl, "key")
	if err != nil || res.RequeueAfter != retryAfter {
		t.Fatalf("Reconcile = %+v, %v; want a retry after %s and no error", res, err, retryAfter)
	}
}
