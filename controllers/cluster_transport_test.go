package controllers

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
)

// TestCheckTransport: plain http to a remote host is refused unless the Cluster opts in, and the
// InsecureTransport condition stays True exactly while it does.
func TestCheckTransport(t *testing.T) {
	cl := &castwarev1.Cluster{Spec: castwarev1.ClusterSpec{API: castwarev1.APISpec{APIURL: "http://api.example.com"}}}
	if err := checkTransport(cl); err == nil || !strings.Contains(err.Error(), castwarev1.AnnotationAllowPlainHTTP) {
		t.Fatalf("plain http without the opt-in: %v", err)
	}
	cl.Annotations = map[string]string{castwarev1.AnnotationAllowPlainHTTP: "true"}
	if err := checkTransport(cl); err != nil {
		t.Fatal(err)
	}
	if c := meta.FindStatusCondition(cl.Status.Conditions, castwarev1.ConditionInsecureTransport); c == nil || c.Status != "True" ||
		!strings.Contains(c.Message, "http://api.example.com") {
		t.Fatalf("condition while opted in: %+v", c)
	}
	cl.Spec.API.APIURL = "https://api.cast.ai"
	if err := checkTransport(cl); err != nil {
		t.Fatal(err)
	}
	if c := meta.FindStatusCondition(cl.Status.Conditions, castwarev1.ConditionInsecureTransport); c != nil {
		t.Fatalf("condition left after https: %+v", c)
	}
}
