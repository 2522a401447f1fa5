package integration

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
)

// TestPlainHTTPNeedsOptIn: written without the webhook (the API path), a Cluster whose chart repository is
// plain http to a host that is not loopback is refused before the operator sends the API key anywhere or
// fetches a chart; its Components wait. Pointed at an https or loopback repository it goes on, nothing lost.
// The remote address (TEST-NET-1) is never dialled: the refusal comes first.
func TestPlainHTTPNeedsOptIn(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	startOperator(t, ns)
	createCluster(t, ns, func(c *castwarev1.Cluster) { c.Spec.HelmRepoURL = "http://192.0.2.10/charts" })
	if err := k8s.Create(ctx, newComponent(ns, "castai-agent", "castai-agent", "0.1.0", nil)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "plain http refused", func() error {
		got := getCluster(t, ns)
		a := meta.FindStatusCondition(got.Status.Conditions, castwarev1.ConditionAvailable)
		if a == nil || a.Status != metav1.ConditionFalse || a.Reason != castwarev1.ReasonInvalidSpec ||
			!strings.Contains(a.Message, "spec.helmRepoURL http://192.0.2.10/charts") || !strings.Contains(a.Message, castwarev1.AnnotationAllowPlainHTTP) {
			return errf("conditions %+v", got.Status.Conditions)
		}
		return nil
	})
	eventually(t, 30*time.Second, "the component waits", func() error {
		c := getComponent(t, ns, "castai-agent")
		if p := condition(c, castwarev1.ConditionProgressing); p.Reason != castwarev1.ReasonWaitingForCluster {
			return errf("%s", describe(c))
		}
		return nil
	})
	if n := len(fakeAPI(t, ns).Calls()); n != 0 {
		t.Fatalf("the operator called the Cast AI API %d times for a refused Cluster", n)
	}
	if h, err := env.History(ctx, ns, "castai-agent"); err != nil || len(h) != 0 {
		t.Fatalf("a release was made for a refused Cluster: %d revisions (%v)", len(h), err)
	}

	base := getCluster(t, ns)
	patch := client.MergeFrom(base.DeepCopy())
	base.Spec.HelmRepoURL = charts.URL()
	if err := k8s.Patch(ctx, base, patch); err != nil {
		t.Fatal(err)
	}
	waitAvailable(t, ns, "castai-agent", "0.1.0", 90*time.Second)
	if got := getCluster(t, ns); meta.FindStatusCondition(got.Status.Conditions, castwarev1.ConditionInsecureTransport) != nil {
		t.Fatalf("InsecureTransport set on a Cluster with a loopback repository: %+v", got.Status.Conditions)
	}
}

// TestAPIKeyStaysHome: through the API path, the operator never hands the API key to a host it was not
// configured with. A Cast AI URL that redirects every request to another host (another loopback port
// here) is not followed: the target never sees a request and the Cluster says why. A registered Cluster's
// apiUrl moved to a host that is not Cast AI's is refused before any call (the host is never dialled).
func TestAPIKeyStaysHome(t *testing.T) {
	ctx := context.Background()
	t.Run("redirect to another host", func(t *testing.T) {
		ns := newNamespace(t)
		startOperator(t, ns)
		var redirected atomic.Int64
		var target string
		redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			redirected.Add(1)
			http.Redirect(w, r, target+r.URL.RequestURI(), http.StatusTemporaryRedirect)
		}))
		t.Cleanup(redirector.Close)
		createCluster(t, ns, func(c *castwarev1.Cluster) {
			target = c.Spec.API.APIURL // the fake Cast AI API, which accepts this namespace's key
			c.Spec.API.APIURL = redirector.URL
		})
		eventually(t, 60*time.Second, "the redirect refused and explained", func() error {
			if redirected.Load() == 0 {
				return errf("no request reached the redirecting URL yet")
			}
			for _, c := range getCluster(t, ns).Status.Conditions {
				if strings.Contains(c.Message, "redirects to another host") {
					return nil
				}
			}
			return errf("conditions %+v", getCluster(t, ns).Status.Conditions)
		})
		if n := len(fakeAPI(t, ns).Calls()); n != 0 {
			t.Fatalf("the redirect target received %d requests (the API key followed the redirect)", n)
		}
	})
	t.Run("apiUrl moved after registration", func(t *testing.T) {
		ns := newNamespace(t)
		startOperator(t, ns)
		createCluster(t, ns)
		eventually(t, 60*time.Second, "registered and available", func() error {
			a := meta.FindStatusCondition(getCluster(t, ns).Status.Conditions, castwarev1.ConditionAvailable)
			if a == nil || a.Status != metav1.ConditionTrue {
				return errf("%+v", a)
			}
			return nil
		})
		cl := getCluster(t, ns)
		patch := client.MergeFrom(cl.DeepCopy())
		cl.Spec.API.APIURL = "https://api.castai.example.com" // TEST: never dialled, refused first
		if err := k8s.Patch(ctx, cl, patch); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "the move refused", func() error {
			a := meta.FindStatusCondition(getCluster(t, ns).Status.Conditions, castwarev1.ConditionAvailable)
			if a == nil || a.Reason != castwarev1.ReasonInvalidSpec || !strings.Contains(a.Message, "api.castai.example.com") {
				return errf("%+v", a)
			}
			return nil
		})
	})
}
