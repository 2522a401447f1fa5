package controllers

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
)

func TestReleaseProblem(t *testing.T) {
	tests := []struct {
		name    string
		comp    func(*castwarev1.Component)
		release string
		other   *castwarev1.Component
		want    string
	}{
		{name: "its own release", release: "castai-agent"},
		{name: "the operator's release", release: "castware-operator", want: "operator's own release"},
		{name: "renamed after the install", comp: func(c *castwarev1.Component) { c.Status.ReleaseName, c.Status.Revision = "castai-agent", 3 },
			release: "other", want: "cannot change once installed"},
		{name: "renamed while uninstalled", comp: func(c *castwarev1.Component) { c.Status.ReleaseName = "castai-agent" }, release: "other"},
		{name: "another Component's installed release", release: "spot-handler",
			other: &castwarev1.Component{ObjectMeta: metav1.ObjectMeta{Name: "spot", Namespace: "castai-agent"},
				Spec:   castwarev1.ComponentSpec{Component: "spot-handler", Cluster: "c"},
				Status: castwarev1.ComponentStatus{ReleaseName: "spot-handler", Revision: 1}},
			want: "belongs to Component castai-agent/spot"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.comp)
			f.r.OwnRelease = "castware-operator"
			ctx := context.Background()
			if tt.other != nil {
				st := tt.other.Status
				if err := f.r.Client.Create(ctx, tt.other); err != nil {
					t.Fatal(err)
				}
				tt.other.Status = st
				if err := f.r.Client.Status().Update(ctx, tt.other); err != nil {
					t.Fatal(err)
				}
			}
			f.w.release = tt.release
			got, err := f.r.releaseProblem(ctx, f.w)
			if err != nil {
				t.Fatal(err)
			}
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}
