// Package demo is `make demo`: a local control plane (kube-apiserver, etcd, kube-controller-manager,
// kube-scheduler, kwok with fake nodes), the fake Cast AI API, a chart repository with the demo charts,
// and the operator — plus a small console page on localhost that lists components and enqueues real
// lifecycle actions (Update, Rollback) the way Cast AI's console does.
package demo

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/castai"
	"github.com/castware-operator/castware-operator/internal/castai/fake"
)

//go:embed page.html
var page []byte

// Console is the demo's console page: what Cast AI's console shows about a cluster's components, with
// buttons that queue real lifecycle actions in the (fake) Cast AI API.
type Console struct {
	// Client reads Components and the Cluster.
	Client client.Reader
	// API is the fake Cast AI API: latest versions come from its catalog, actions go to its queue.
	API *fake.Server
	// Namespace and Cluster name the Cluster resource.
	Namespace, Cluster string

	mu      sync.Mutex
	actions []ActionView
}

// ComponentView is one row of the console.
type ComponentView struct {
	Name        string `json:"name"`
	Component   string `json:"component"`
	Wanted      string `json:"wanted"`
	Running     string `json:"running"`
	Latest      string `json:"latest"`
	Available   string `json:"available"`
	Progressing string `json:"progressing"`
	Reason      string `json:"reason"`
	Message     string `json:"message"`
	Revision    int    `json:"revision"`
}

// ActionView is an action the console queued, with its acknowledgement once the operator sent it.
type ActionView struct {
	ID        string `json:"id"`
	Kind      string `json:"kind"`
	Component string `json:"component"`
	Version   string `json:"version,omitempty"`
	Acked     bool   `json:"acked"`
	Error     string `json:"error,omitempty"`
}

// Handler serves the page and its JSON API.
func (c *Console) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(page)
	})
	mux.HandleFunc("GET /api/cluster", c.cluster)
	mux.HandleFunc("GET /api/components", c.components)
	mux.HandleFunc("GET /api/actions", c.listActions)
	mux.HandleFunc("POST /api/components/{name}/update", c.update)
	mux.HandleFunc("POST /api/components/{name}/rollback", c.rollback)
	return mux
}

func (c *Console) clusterID(r *http.Request) (string, error) {
	cl := &castwarev1.Cluster{}
	if err := c.Client.Get(r.Context(), client.ObjectKey{Namespace: c.Namespace, Name: c.Cluster}, cl); err != nil {
		return "", err
	}
	if cl.ClusterID() == "" {
		return "", fmt.Errorf("cluster %s is not registered yet", c.Cluster)
	}
	return cl.ClusterID(), nil
}

func (c *Console) cluster(w http.ResponseWriter, r *http.Request) {
	cl := &castwarev1.Cluster{}
	if err := c.Client.Get(r.Context(), client.ObjectKey{Namespace: c.Namespace, Name: c.Cluster}, cl); err != nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
		return
	}
	avail := meta.FindStatusCondition(cl.Status.Conditions, castwarev1.ConditionAvailable)
	out := map[string]string{"name": cl.Name, "clusterID": cl.ClusterID(), "phase": cl.Status.Phase, "provider": cl.Spec.Provider}
	if avail != nil {
		out["available"], out["message"] = string(avail.Status), avail.Message
	}
	writeJSON(w, http.StatusOK, out)
}

func (c *Console) components(w http.ResponseWriter, r *http.Request) {
	list := &castwarev1.ComponentList{}
	if err := c.Client.List(r.Context(), list, client.InNamespace(c.Namespace)); err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	latest := map[string]string{}
	for _, info := range c.catalog() {
		latest[info.Name] = info.LatestVersion
	}
	out := []ComponentView{}
	for _, comp := range list.Items {
		v := ComponentView{Name: comp.Name, Component: comp.Spec.Component, Wanted: comp.Spec.Version, Running: comp.Status.CurrentVersion,
			Latest: latest[comp.Spec.Component], Revision: comp.Status.Revision}
		if a := meta.FindStatusCondition(comp.Status.Conditions, castwarev1.ConditionAvailable); a != nil {
			v.Available = string(a.Status)
		}
		if p := meta.FindStatusCondition(comp.Status.Conditions, castwarev1.ConditionProgressing); p != nil {
			v.Progressing, v.Reason, v.Message = string(p.Status), p.Reason, p.Message
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	writeJSON(w, http.StatusOK, out)
}

func (c *Console) catalog() []castai.ComponentInfo {
	var out []castai.ComponentInfo
	for _, name := range []string{"castai-agent", "spot-handler", "cluster-controller", "castware-operator"} {
		if info, ok := c.API.Component(name); ok {
			out = append(out, info)
		}
	}
	return out
}

func (c *Console) update(w http.ResponseWriter, r *http.Request) {
	c.enqueue(w, r, func(comp *castwarev1.Component, latest string) (castai.Action, ActionView) {
		a := castai.Action{Upgrade: &castai.ChartAction{Component: comp.Spec.Component, Version: latest, ReleaseName: comp.Status.ReleaseName}}
		return a, ActionView{Kind: "upgrade", Component: comp.Spec.Component, Version: latest}
	})
}

func (c *Console) rollback(w http.ResponseWriter, r *http.Request) {
	c.enqueue(w, r, func(comp *castwarev1.Component, _ string) (castai.Action, ActionView) {
		return castai.Action{Rollback: &castai.ComponentTarget{Component: comp.Spec.Component}}, ActionView{Kind: "rollback", Component: comp.Spec.Component}
	})
}

func (c *Console) enqueue(w http.ResponseWriter, r *http.Request, build func(*castwarev1.Component, string) (castai.Action, ActionView)) {
	id, err := c.clusterID(r)
	if err != nil {
		writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
		return
	}
	comp := &castwarev1.Component{}
	if err := c.Client.Get(r.Context(), client.ObjectKey{Namespace: c.Namespace, Name: r.PathValue("name")}, comp); err != nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
		return
	}
	latest := ""
	if info, ok := c.API.Component(comp.Spec.Component); ok {
		latest = info.LatestVersion
	}
	a, view := build(comp, latest)
	view.ID = c.API.EnqueueAction(id, a)
	c.mu.Lock()
	c.actions = append(c.actions, view)
	c.mu.Unlock()
	writeJSON(w, http.StatusAccepted, view)
}

func (c *Console) listActions(w http.ResponseWriter, r *http.Request) {
	id, _ := c.clusterID(r)
	acks := map[string]*string{}
	for _, a := range c.API.Acks(id) {
		acks[a.ActionID] = a.Error
	}
	c.mu.Lock()
	out := make([]ActionView, len(c.actions))
	copy(out, c.actions)
	c.mu.Unlock()
	for i := range out {
		if e, ok := acks[out[i].ID]; ok {
			out[i].Acked = true
			if e != nil {
				out[i].Error = *e
			}
		}
	}
	// Newest first.
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	writeJSON(w, http.StatusOK, out)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v)
}
