// Package demo is `make demo`: a local control plane (kube-apiserver, etcd, kube-controller-manager,
// kube-scheduler, kwok with fake nodes), the fake Cast AI API, a chart repository with the demo charts and
// two versions of the operator's chart, the operator's Helm release (its pod runs on kwok) and the operator
// itself (in the demo's process, as that pod) — plus a small console page on localhost that shows the
// operator and the components and enqueues real lifecycle actions (Update, Rollback, the operator's
// self-upgrade) the way Cast AI's console does.
package demo

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/castai"
	"github.com/castware-operator/castware-operator/internal/castai/fake"
	"github.com/castware-operator/castware-operator/internal/helm"
	"github.com/castware-operator/castware-operator/internal/selfupgrade"
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
	// Config reads the operator's own Helm release from Helm's storage (nil: no Operator widget).
	Config *rest.Config
	// OperatorRelease is the operator's Helm release in Namespace (default castware-operator).
	OperatorRelease string

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

// OperatorView is the Operator widget: the version the operator's release runs, the latest one Cast AI
// offers, and the state of a self-upgrade, all read from the cluster and the (fake) API.
type OperatorView struct {
	Release string `json:"release"`
	// Running is the chart version of the release's newest deployed revision (Revision).
	Running  string `json:"running"`
	Revision int    `json:"revision"`
	// Latest is Cast AI's latestVersion of castware-operator.
	Latest string `json:"latest"`
	// Reported is the version the operator last reported as running (ENABLE or UPDATE, status OK).
	Reported string `json:"reported"`
	// Phase and Message are the Cluster's status.operatorUpgrade; Upgrading while a phase is active.
	Phase     string `json:"phase"`
	Message   string `json:"message"`
	Upgrading bool   `json:"upgrading"`
	Error     string `json:"error,omitempty"`
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
	mux.HandleFunc("GET /api/operator", c.operator)
	mux.HandleFunc("POST /api/operator/update", c.updateOperator)
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
	writeJSON(w, http.StatusAccepted, c.send(id, a, view))
}

// send queues a in the API for the cluster and remembers it for the action list.
func (c *Console) send(clusterID string, a castai.Action, view ActionView) ActionView {
	view.ID = c.API.EnqueueAction(clusterID, a)
	c.mu.Lock()
	c.actions = append(c.actions, view)
	c.mu.Unlock()
	return view
}

func (c *Console) operatorRelease() string {
	if c.OperatorRelease == "" {
		return OperatorRelease
	}
	return c.OperatorRelease
}

// releaseVersion is a release's newest deployed revision and its chart version.
type releaseVersion struct {
	Version  string
	Revision int
	Err      error
}

// String is "<version> (revision <n>)", or why it is unknown.
func (v releaseVersion) String() string {
	switch {
	case v.Err != nil:
		return "release unreadable: " + v.Err.Error()
	case v.Revision == 0:
		return "release not deployed"
	}
	return fmt.Sprintf("%s (revision %d)", v.Version, v.Revision)
}

// readReleaseVersion reads a release's newest deployed revision from Helm's storage.
func readReleaseVersion(ctx context.Context, cfg *rest.Config, namespace, name string) releaseVersion {
	hist, err := helm.History(ctx, cfg, namespace, name)
	if err != nil {
		return releaseVersion{Err: err}
	}
	rel := helm.LastDeployed(hist)
	if rel == nil || rel.Chart == nil || rel.Chart.Metadata == nil {
		return releaseVersion{}
	}
	return releaseVersion{Version: rel.Chart.Metadata.Version, Revision: rel.Version}
}

func (c *Console) operator(w http.ResponseWriter, r *http.Request) {
	if c.Config == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "the console does not read the operator's release"})
		return
	}
	rv := readReleaseVersion(r.Context(), c.Config, c.Namespace, c.operatorRelease())
	v := OperatorView{Release: c.operatorRelease(), Running: rv.Version, Revision: rv.Revision}
	if rv.Err != nil {
		v.Error = rv.Err.Error()
	}
	if info, ok := c.API.Component(selfupgrade.ComponentName); ok {
		v.Latest = info.LatestVersion
	}
	cl := &castwarev1.Cluster{}
	if err := c.Client.Get(r.Context(), client.ObjectKey{Namespace: c.Namespace, Name: c.Cluster}, cl); err == nil {
		if st := cl.Status.OperatorUpgrade; st != nil {
			v.Phase, v.Message, v.Upgrading = string(st.Phase), st.Message, selfupgrade.Active(st.Phase)
		}
		v.Reported = c.reportedOperatorVersion(cl.ClusterID())
	}
	writeJSON(w, http.StatusOK, v)
}

// reportedOperatorVersion is the version the operator last told the API it runs ("" before any report).
func (c *Console) reportedOperatorVersion(clusterID string) string {
	if clusterID == "" {
		return ""
	}
	version := ""
	for _, r := range c.API.ActionResults(clusterID) {
		if r.Name == selfupgrade.ComponentName && r.Status == castai.StatusOK && (r.Action == castai.ActionEnable || r.Action == castai.ActionUpdate) {
			version = r.Version
		}
	}
	return version
}

// updateOperator queues what the Operator widget's Update queues: an upgrade of castware-operator to
// the latest version, which the operator carries out as a self-upgrade of its release.
func (c *Console) updateOperator(w http.ResponseWriter, r *http.Request) {
	id, err := c.clusterID(r)
	if err != nil {
		writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
		return
	}
	info, ok := c.API.Component(selfupgrade.ComponentName)
	if !ok || info.LatestVersion == "" {
		writeJSON(w, http.StatusConflict, map[string]string{"error": "the API publishes no latest version of " + selfupgrade.ComponentName})
		return
	}
	a := castai.Action{Upgrade: &castai.ChartAction{Component: selfupgrade.ComponentName, Version: info.LatestVersion, ReleaseName: c.operatorRelease()}}
	view := ActionView{Kind: "upgrade", Component: selfupgrade.ComponentName, Version: info.LatestVersion}
	writeJSON(w, http.StatusAccepted, c.send(id, a, view))
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
