package integration

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/operator"
)

// requestLog counts the requests an operator sends kube-apiserver, by "METHOD path?labelSelector".
type requestLog struct {
	mu   sync.Mutex
	seen []string
}

func (l *requestLog) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		line := req.Method + " " + req.URL.Path
		if sel := req.URL.Query().Get("labelSelector"); sel != "" {
			line += "?labelSelector=" + sel
		}
		l.mu.Lock()
		l.seen = append(l.seen, line)
		l.mu.Unlock()
		return rt.RoundTrip(req)
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// since returns the requests logged after the first n, and how many there are now.
func (l *requestLog) since(n int) ([]string, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.seen[n:]...), len(l.seen)
}

// TestUnchangedSecretsAndReleasesAreNotReadAgain: the Cluster is reconciled again and again (the migration
// scan's interval is short), yet while the API-key Secret and the operator's own release stay unchanged the
// operator reads neither again: no Secret GET or LIST, no discovery request. A rotated key is still picked up
// at once, from the Secret informer's event.
func TestUnchangedSecretsAndReleasesAreNotReadAgain(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	createCluster(t, ns)
	reqs := &requestLog{}
	cfg := rest.CopyConfig(env.Config)
	cfg.Wrap(reqs.wrap)
	runOperatorOn(t, ctx, cfg, ns, withMigration(t), func(o *operator.Options) {
		o.Migration.ScanInterval = 300 * time.Millisecond
		o.CastAI.OperatorRelease = "castware-operator"
	})
	waitClusterAvailable(t, ns)

	keyReads := func(lines []string) (scans int, reads []string) {
		for _, l := range lines {
			switch {
			case strings.HasPrefix(l, "GET /apis/apps/v1/namespaces/"+ns+"/"):
				scans++ // the scan looks for unlabelled workloads by name
			case l == "GET /version", strings.Contains(l, "/namespaces/"+ns+"/secrets"):
				reads = append(reads, l)
			}
		}
		sort.Strings(reads)
		return scans, reads
	}
	// Settled once a window of several scans holds none of the reads (registration and the first scans
	// read everything once).
	eventually(t, time.Minute, "scans without Secret or release reads", func() error {
		_, from := reqs.since(0)
		time.Sleep(3 * time.Second) // the window observed
		lines, _ := reqs.since(from)
		scans, reads := keyReads(lines)
		if scans < 3 || len(reads) > 0 {
			return fmt.Errorf("%d scan reads and %d Secret/release reads in 3 s: %v", scans, len(reads), reads)
		}
		return nil
	})
	// The memory follows the Secret: a rotated (here: rejected) key reaches the Cast AI API.
	sec := &corev1.Secret{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "castware-api-key"}, sec); err != nil {
		t.Fatal(err)
	}
	base := sec.DeepCopy()
	sec.Data = map[string][]byte{"API_KEY": []byte("rotated-" + apiKeyFor(ns))}
	if err := k8s.Patch(ctx, sec, client.MergeFrom(base)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "rotated key used", func() error {
		cl := &castwarev1.Cluster{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "castai"}, cl); err != nil {
			return err
		}
		if c := clusterCondition(cl, castwarev1.ConditionAvailable); c.Status != metav1.ConditionFalse {
			return fmt.Errorf("Available=%s/%s: %s", c.Status, c.Reason, c.Message)
		}
		return nil
	})
}
