package console

import (
	"context"
	"errors"
	"sync"

	"k8s.io/apimachinery/pkg/types"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/castai"
)

// ErrKeyNotLoaded means the Cluster's API key has not been read yet (its Cluster was not reconciled since
// the operator started).
var ErrKeyNotLoaded = errors.New("the Cluster's API key has not been read yet")

// Connections hands out one Cast AI API client per Cluster. The API key is pushed in by the Cluster
// reconcile (which reads the Secret on every change of it), so a rotated key is used from the next
// request on, without a restart and without reading the Secret per request.
type Connections struct {
	opts []castai.Option

	mu    sync.Mutex
	conns map[types.NamespacedName]*conn
}

type conn struct {
	apiURL string
	client *castai.Client
	key    *memKey
}

// memKey is a castai.KeySource holding the latest key read from the Cluster's Secret.
type memKey struct {
	mu  sync.RWMutex
	key string
}

func (k *memKey) APIKey(context.Context) (string, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.key == "" {
		return "", ErrKeyNotLoaded
	}
	return k.key, nil
}

func (k *memKey) set(key string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	changed := k.key != key
	k.key = key
	return changed
}

// NewConnections returns a client factory; opts apply to every client (timeouts, user agent, ...).
func NewConnections(opts ...castai.Option) *Connections {
	return &Connections{opts: opts, conns: map[types.NamespacedName]*conn{}}
}

// SetKey records the Cluster's current API key and returns its client. It reports whether the key changed.
func (c *Connections) SetKey(cl *castwarev1.Cluster, key string) (*castai.Client, bool, error) {
	cn, err := c.get(cl)
	if err != nil {
		return nil, false, err
	}
	return cn.client, cn.key.set(key), nil
}

// For returns the Cluster's client (its key must have been set by SetKey, else calls fail with ErrKeyNotLoaded).
func (c *Connections) For(cl *castwarev1.Cluster) (*castai.Client, error) {
	cn, err := c.get(cl)
	if err != nil {
		return nil, err
	}
	return cn.client, nil
}

func (c *Connections) get(cl *castwarev1.Cluster) (*conn, error) {
	key := types.NamespacedName{Namespace: cl.Namespace, Name: cl.Name}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cn, ok := c.conns[key]; ok && cn.apiURL == cl.Spec.API.APIURL {
		return cn, nil
	}
	mk := &memKey{}
	if old, ok := c.conns[key]; ok {
		mk.set(old.key.key) // the API URL changed; the Secret did not
	}
	client, err := castai.New(cl.Spec.API.APIURL, mk, c.opts...)
	if err != nil {
		return nil, err
	}
	cn := &conn{apiURL: cl.Spec.API.APIURL, client: client, key: mk}
	c.conns[key] = cn
	return cn, nil
}

// Forget drops a Cluster's client (its Cluster was deleted).
func (c *Connections) Forget(key types.NamespacedName) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.conns, key)
}

// Stats sums the API call statistics of every client (for metrics and benchmarks).
func (c *Connections) Stats() map[castai.Endpoint]castai.EndpointStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[castai.Endpoint]castai.EndpointStats{}
	for _, cn := range c.conns {
		for ep, st := range cn.client.Stats() {
			sum := out[ep]
			sum.Calls += st.Calls
			sum.Attempts += st.Attempts
			sum.Retries += st.Retries
			sum.Errors += st.Errors
			sum.CacheHits += st.CacheHits
			out[ep] = sum
		}
	}
	return out
}
