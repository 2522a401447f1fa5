package console

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/log"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/helm"
)

// ownRevision is the operator release's newest revision as last read, with the stamp of the Secrets it
// was read from (helm.ReleaseStamp).
type ownRevision struct {
	stamp  string
	read   bool
	latest *helm.Revision
}

// operatorRevision returns the newest revision of the operator's own release (nil when there is none or
// it cannot be read). Reading a release costs kube-apiserver a discovery request and a Secret list, so
// with ReleaseMeta set it is read again only when the Secrets holding its revisions changed.
func (r *Registrar) operatorRevision(ctx context.Context, cl *castwarev1.Cluster) *helm.Revision {
	if r.Engine == nil || r.OperatorRelease == "" {
		return nil
	}
	ns := r.operatorNamespace(cl)
	stamp, stamped := "", false
	if r.ReleaseMeta != nil {
		s, err := helm.ReleaseStamp(ctx, r.ReleaseMeta, ns, r.OperatorRelease)
		stamp, stamped = s, err == nil
		r.mu.Lock()
		own := r.own
		r.mu.Unlock()
		if stamped && own.read && own.stamp == stamp {
			return own.latest
		}
	}
	owner := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: r.OperatorRelease}}
	st, err := r.Engine.Observe(ctx, owner, r.OperatorRelease)
	if err != nil {
		log.FromContext(ctx).V(1).Info("cannot read the operator's own release", "release", r.OperatorRelease, "error", err.Error())
		return nil
	}
	latest := helm.Summarize(st.Latest)
	if stamped {
		r.mu.Lock()
		r.own = ownRevision{stamp: stamp, read: true, latest: latest}
		r.mu.Unlock()
	}
	return latest
}
