package console

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/log"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/controllers"
	"github.com/castware-operator/castware-operator/internal/castai"
	castaifake "github.com/castware-operator/castware-operator/internal/castai/fake"
)

// TestReporterSendsARevisionOnce: a reconcile that read the Component before the reporter recorded a revision
// (the cache lags, or its fresh read came just before the write) reports the revision again; the reporter
// sends it once and records it in status. A reinstall that reuses the number is reported again.
func TestReporterSendsARevisionOnce(t *testing.T) {
	other := &castwarev1.Component{ObjectMeta: metav1.ObjectMeta{Name: "spot", Namespace: "ns", UID: "u2"},
		Spec: castwarev1.ComponentSpec{Component: "spot-handler", Cluster: "castai"}}
	const id = "6c1f3f0e-4a57-4d55-9a51-0f5b1b0c7e21"
	ctx, api, comp, c, conns := reporterSetup(t, id, func(b *fake.ClientBuilder) *fake.ClientBuilder {
		return b.WithObjects(other.DeepCopy())
	})
	r := NewReporter(&Reporter{Client: c, Writer: c, Conns: conns})
	go func() { _ = r.Start(ctx) }()

	okRev := func(rev int) controllers.Transition {
		return controllers.Transition{Action: "ENABLE", Status: "OK", ToVersion: "1.0.0", Revision: rev}
	}
	count := func(name, status string) int {
		n := 0
		for _, res := range api.ActionResults(id) {
			if res.Name == name && string(res.Status) == status {
				n++
			}
		}
		return n
	}
	sentinels := 0
	// drain queues a report of another Component and waits until Cast AI has it: every report queued before
	// it has been handled by then (one worker, in order).
	drain := func() {
		t.Helper()
		sentinels++
		r.ComponentTransition(ctx, other, controllers.Transition{Action: "UPDATE", Status: "ERROR", ToVersion: fmt.Sprint(sentinels), Message: "sentinel"})
		waitFor(t, ctx, "the sentinel report", func() error {
			if n := count("spot-handler", "ERROR"); n < sentinels {
				return fmt.Errorf("%d sentinels", n)
			}
			return nil
		})
	}

	r.ComponentTransition(ctx, comp, okRev(1))
	drain()
	waitFor(t, ctx, "revision 1 recorded in status", func() error {
		got := &castwarev1.Component{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(comp), got); err != nil {
			return err
		}
		if got.Status.LastReportedHelmRevision != 1 {
			return fmt.Errorf("lastReportedHelmRevision %d", got.Status.LastReportedHelmRevision)
		}
		return nil
	})
	r.ComponentTransition(ctx, comp, okRev(1)) // a reconcile that read status from before the write
	drain()
	if n := count("castai-agent", "OK"); n != 1 {
		t.Fatalf("revision 1 reported OK %d times, want once: %+v", n, api.ActionResults(id))
	}
	// Uninstalled and installed again: revision 1 is a new revision.
	r.ComponentTransition(ctx, comp, controllers.Transition{Action: "DISABLE", Status: "OK"})
	r.ComponentTransition(ctx, comp, controllers.Transition{Action: "ENABLE", Status: "PROGRESSING"})
	r.ComponentTransition(ctx, comp, okRev(1))
	drain()
	if n := count("castai-agent", "OK"); n != 3 { // ENABLE/OK, DISABLE/OK, ENABLE/OK
		t.Fatalf("%d OK reports after a reinstall, want 3: %+v", n, api.ActionResults(id))
	}
}

func waitFor(t *testing.T, ctx context.Context, what string, fn func() error) {
	t.Helper()
	var err error
	for ctx.Err() == nil {
		if err = fn(); err == nil {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("%s: %v", what, err)
}

// TestReporterRetriesTheRecordNotTheReport: when recording a sent OK report in status keeps conflicting (more
// conflicts than one write's retries), the record is retried until it is written, and the report is not
// sent again, also when a report that makes the ledger forget the revision came in between.
func TestReporterRetriesTheRecordNotTheReport(t *testing.T) {
	const id = "7d2a4b1e-5b68-4e66-8b62-1a6c2c1d8f32"
	var conflicts atomic.Int32
	ctx, api, comp, c, conns := reporterSetup(t, id, func(b *fake.ClientBuilder) *fake.ClientBuilder {
		return b.WithInterceptorFuncs(interceptor.Funcs{SubResourcePatch: func(ctx context.Context, cw client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			if conflicts.Add(1) <= 6 { // one write retries 4 times: this outlasts it
				return apierrors.NewConflict(schema.GroupResource{Group: "castware.cast.ai", Resource: "components"}, obj.GetName(), errors.New("injected"))
			}
			return cw.SubResource(sub).Patch(ctx, obj, patch, opts...)
		}})
	})
	r := NewReporter(&Reporter{Client: c, Writer: c, Conns: conns})
	go func() { _ = r.Start(ctx) }()

	r.ComponentTransition(ctx, comp, controllers.Transition{Action: "ENABLE", Status: "OK", ToVersion: "1.0.0", Revision: 1})
	r.ComponentTransition(ctx, comp, controllers.Transition{Action: "UPDATE", Status: "PROGRESSING", ToVersion: "1.1.0"})
	waitFor(t, ctx, "revision 1 recorded in status", func() error {
		got := &castwarev1.Component{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(comp), got); err != nil {
			return err
		}
		if got.Status.LastReportedHelmRevision != 1 {
			return fmt.Errorf("lastReportedHelmRevision %d after %d status patches", got.Status.LastReportedHelmRevision, conflicts.Load())
		}
		return nil
	})
	n := 0
	for _, res := range api.ActionResults(id) {
		if res.Status == "OK" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("revision 1 reported OK %d times, want once: %+v", n, api.ActionResults(id))
	}
}

// reporterSetup serves a fake Cast AI API with a registered cluster id and returns a context (logging to t,
// ended with the test), the API, a Component "agent", a fake client holding the Cluster and the Component
// (built further by build) and connections holding the Cluster's key.
func reporterSetup(t *testing.T, id string, build func(*fake.ClientBuilder) *fake.ClientBuilder) (context.Context, *castaifake.Server, *castwarev1.Component, client.Client, *Connections) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	ctx = log.IntoContext(ctx, testr.NewWithOptions(t, testr.Options{Verbosity: 1}))
	api := castaifake.NewServer(castaifake.WithKeys("key"))
	t.Cleanup(api.Close)
	api.AddCluster(castai.ExternalCluster{ID: id, Name: "reporter"})
	cl := &castwarev1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "castai", Namespace: "ns"},
		Spec: castwarev1.ClusterSpec{API: castwarev1.APISpec{APIURL: api.URL()}, Cluster: &castwarev1.ClusterMetadataSpec{ClusterID: id}}}
	comp := &castwarev1.Component{ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "ns", UID: "u1"},
		Spec: castwarev1.ComponentSpec{Component: "castai-agent", Cluster: "castai"}}
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = castwarev1.AddToScheme(s)
	c := build(fake.NewClientBuilder().WithScheme(s).WithObjects(cl, comp.DeepCopy()).WithStatusSubresource(&castwarev1.Component{})).Build()
	conns := NewConnections()
	if _, _, err := conns.SetKey(cl, "key"); err != nil {
		t.Fatal(err)
	}
	return ctx, api, comp, c, conns
}
