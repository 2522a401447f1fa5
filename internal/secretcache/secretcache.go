// Package secretcache serves repeated reads of the few Secrets the operator reads whole (the API key, the
// copies dependents expect) from memory for as long as the manager's metadata informer shows them
// unchanged. Secrets are not in the manager's object cache, so without it every Cluster reconcile read
// them from kube-apiserver again, even when nothing had changed.
package secretcache

import (
	"context"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Reader is a client.Reader that reads Secrets from Live once per resourceVersion that Meta (a reader of
// the metadata informer, e.g. the manager's cache) reports; every other read goes to Live.
type Reader struct {
	// Meta reads PartialObjectMetadata Secrets from an informer; nil turns the memory off.
	Meta client.Reader
	// Live reads from kube-apiserver.
	Live client.Reader

	mu   sync.Mutex
	seen map[types.NamespacedName]*corev1.Secret // nil: read as not found
}

var _ client.Reader = (*Reader)(nil)

// New returns a Reader over meta and live.
func New(meta, live client.Reader) *Reader { return &Reader{Meta: meta, Live: live} }

// Get implements client.Reader.
func (r *Reader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	sec, ok := obj.(*corev1.Secret)
	if !ok || r.Meta == nil || len(opts) > 0 {
		return r.Live.Get(ctx, key, obj, opts...)
	}
	if kept, ok := r.kept(ctx, key); ok {
		if kept == nil {
			return apierrors.NewNotFound(corev1.Resource("secrets"), key.Name)
		}
		kept.DeepCopyInto(sec)
		return nil
	}
	err := r.Live.Get(ctx, key, sec)
	switch {
	case apierrors.IsNotFound(err):
		r.keep(key, nil)
	case err != nil:
		r.forget(key)
	default:
		r.keep(key, sec)
	}
	return err
}

// List implements client.Reader; lists are never kept.
func (r *Reader) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	return r.Live.List(ctx, list, opts...)
}

// kept returns what the last read found (nil: not found) when the informer still agrees: the same
// resourceVersion, or still no such Secret. ok is false when Live must be asked.
func (r *Reader) kept(ctx context.Context, key types.NamespacedName) (sec *corev1.Secret, ok bool) {
	r.mu.Lock()
	prev, seen := r.seen[key]
	r.mu.Unlock()
	if !seen {
		return nil, false
	}
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	err := r.Meta.Get(ctx, key, m)
	switch {
	case prev == nil:
		return nil, apierrors.IsNotFound(err)
	case err != nil || m.ResourceVersion != prev.ResourceVersion:
		return nil, false
	}
	return prev, true
}

func (r *Reader) keep(key types.NamespacedName, sec *corev1.Secret) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen == nil {
		r.seen = map[types.NamespacedName]*corev1.Secret{}
	}
	if sec != nil {
		sec = sec.DeepCopy()
	}
	r.seen[key] = sec
}

func (r *Reader) forget(key types.NamespacedName) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.seen, key)
}
