package fake

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/castware-operator/castware-operator/internal/castai"
)

// statusRecorder captures the status written by a handler.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

// WriteHeader records the first status written.
func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

// Write records an implicit 200.
func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// ServeHTTP implements the API: it records the call, applies faults, checks the key and
// routes the request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w}
	key := strings.TrimSpace(r.Header.Get("X-API-Key"))
	s.mu.Lock()
	keyValid := s.keys[key]
	s.mu.Unlock()
	faulted := false
	body, _ := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	r.Body = io.NopCloser(bytes.NewReader(body))
	digest := ""
	if len(body) > 0 {
		sum := sha256.Sum256(body)
		digest = hex.EncodeToString(sum[:8])
	}
	defer func() {
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		s.mu.Lock()
		s.calls = append(s.calls, Call{
			Time: start, Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
			Status: status, Duration: time.Since(start), KeyValid: keyValid,
			UserAgent: r.UserAgent(), Fault: faulted, BodyDigest: digest, Abandoned: r.Context().Err() != nil,
		})
		s.mu.Unlock()
	}()

	if f, ok := s.matchFault(r); ok {
		faulted = true
		if f.Delay > 0 {
			t := time.NewTimer(f.Delay)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			case <-s.closed:
				t.Stop()
				return
			}
		}
		if f.RetryAfter > 0 {
			rec.Header().Set("Retry-After", strconv.Itoa(int((f.RetryAfter+time.Second-1)/time.Second)))
		}
		switch {
		case f.MalformedJSON:
			status := f.Status
			if status == 0 {
				status = http.StatusOK
			}
			rec.Header().Set("Content-Type", "application/json")
			rec.WriteHeader(status)
			_, _ = io.WriteString(rec, `{"actions": [{"id": "truncated`)
			return
		case f.Status != 0:
			writeError(rec, f.Status, fmt.Sprintf("injected fault: %s", http.StatusText(f.Status)))
			return
		}
	}

	if !keyValid {
		writeError(rec, http.StatusUnauthorized, "Unauthorized: invalid or missing API key")
		return
	}
	s.route(rec, r)
}

// matchFault returns the first fault matching r and consumes one of its uses.
func (s *Server) matchFault(r *http.Request) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if !strings.Contains(r.URL.Path, f.PathContains) || (f.Method != "" && f.Method != r.Method) {
			continue
		}
		if f.Count > 0 {
			f.left--
			if f.left <= 0 {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			}
		}
		return f.Fault, true
	}
	return Fault{}, false
}

// route dispatches an authenticated request.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	p := strings.Trim(r.URL.Path, "/")
	seg := strings.Split(p, "/")
	method := func(m string) bool {
		if r.Method != m {
			writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed on "+r.URL.Path)
			return false
		}
		return true
	}
	switch {
	case p == "v1/me":
		if method(http.MethodGet) {
			writeJSON(w, http.StatusOK, castai.Me{ID: "fake-user", Username: "fake@castware.local"})
		}
	case p == "v1/kubernetes/external-clusters":
		if method(http.MethodPost) {
			s.register(w, r)
		}
	case len(seg) == 4 && strings.HasPrefix(p, "v1/kubernetes/external-clusters/"):
		if method(http.MethodGet) {
			s.getCluster(w, seg[3])
		}
	case p == "cluster-management/v1/components:getByName":
		if method(http.MethodGet) {
			s.getByName(w, r)
		}
	case len(seg) == 5 && strings.HasPrefix(p, "cluster-management/v1/clusters/"):
		id := seg[3]
		switch seg[4] {
		case "components:recordActionResult":
			if method(http.MethodPost) && s.knownCluster(w, id) {
				s.recordResult(w, r, id)
			}
		case "components:validateUpgrade":
			if method(http.MethodPost) && s.knownCluster(w, id) {
				s.validateUpgrade(w, r, id)
			}
		case "lifecycle-actions:poll":
			if method(http.MethodGet) && s.knownCluster(w, id) {
				s.poll(w, r, id)
			}
		default:
			writeError(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path)
		}
	case len(seg) == 6 && strings.HasPrefix(p, "cluster-management/v1/clusters/") &&
		seg[4] == "lifecycle-actions" && strings.HasSuffix(seg[5], ":ack"):
		if method(http.MethodPost) && s.knownCluster(w, seg[3]) {
			s.ack(w, r, seg[3], strings.TrimSuffix(seg[5], ":ack"))
		}
	case len(seg) == 6 && seg[0] == "v1" && seg[1] == "clusters" && seg[3] == "components" && seg[5] == "logs":
		if method(http.MethodPost) && s.knownCluster(w, seg[2]) {
			s.shipLogs(w, r, seg[2])
		}
	default:
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path)
	}
}

func (s *Server) knownCluster(w http.ResponseWriter, id string) bool {
	s.mu.Lock()
	_, ok := s.clusters[id]
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "cluster "+id+" not found")
	}
	return ok
}

// decode reads a JSON body, answering 400 when it is not valid.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err == nil {
		err = json.Unmarshal(body, v)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid request body: "+err.Error())
		return false
	}
	return true
}

func violation(field, desc string) castai.FieldViolation {
	return castai.FieldViolation{Field: field, Description: desc}
}

func (s *Server) register(w http.ResponseWriter, r *http.Request) {
	var req castai.RegisterClusterRequest
	if !decode(w, r, &req) {
		return
	}
	var vs []castai.FieldViolation
	provider := req.Provider()
	var identity string
	switch provider {
	case "eks":
		if req.EKS.ClusterName == "" || req.EKS.Region == "" || req.EKS.AccountID == "" {
			vs = append(vs, violation("eks", "clusterName, region and accountId are required"))
		}
		identity = fmt.Sprintf("eks/%s/%s/%s", req.EKS.AccountID, req.EKS.Region, req.EKS.ClusterName)
	case "gke":
		if req.GKE.ClusterName == "" || req.GKE.ProjectID == "" || req.GKE.Region == "" || req.GKE.Location == "" {
			vs = append(vs, violation("gke", "region, projectId, clusterName and location are required"))
		}
		identity = fmt.Sprintf("gke/%s/%s/%s/%s", req.GKE.ProjectID, req.GKE.Region, req.GKE.Location, req.GKE.ClusterName)
	case "aks":
		if req.AKS.Region == "" || req.AKS.NodeResourceGroup == "" || req.AKS.SubscriptionID == "" {
			vs = append(vs, violation("aks", "region, nodeResourceGroup and subscriptionId are required"))
		}
		identity = fmt.Sprintf("aks/%s/%s/%s", req.AKS.SubscriptionID, req.AKS.NodeResourceGroup, req.AKS.Region)
	default:
		vs = append(vs, violation("eks|gke|aks", "exactly one provider block is required"))
	}
	if req.ID == "" {
		vs = append(vs, violation("id", "required (zero UUID for a new cluster)"))
	}
	if len(vs) > 0 {
		writeError(w, http.StatusBadRequest, "invalid cluster registration", vs...)
		return
	}
	identity += "/" + req.Name

	s.mu.Lock()
	id := req.ID
	if id == castai.ZeroUUID {
		if known, ok := s.clusterKeys[identity]; ok {
			id = known
		} else {
			id = newUUID()
		}
	}
	s.clusterKeys[identity] = id
	rc := s.ensureCluster(id, req.Name)
	rc.Request = req
	rc.Registrations++
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, castai.RegisterClusterResponse{ID: id, OrganizationID: s.orgID})
}

func (s *Server) getCluster(w http.ResponseWriter, id string) {
	s.mu.Lock()
	rc, ok := s.clusters[id]
	var c castai.ExternalCluster
	if ok {
		c = rc.ExternalCluster
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "cluster "+id+" not found")
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *Server) getByName(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("name")
	if name == "" {
		writeError(w, http.StatusBadRequest, "name is required", violation("name", "required"))
		return
	}
	s.mu.Lock()
	info, ok := s.components[name]
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "component "+name+" not found")
		return
	}
	if info.Dependencies == nil {
		info.Dependencies = []string{}
	}
	writeJSON(w, http.StatusOK, info)
}

func (s *Server) recordResult(w http.ResponseWriter, r *http.Request, id string) {
	var res castai.ActionResult
	if !decode(w, r, &res) {
		return
	}
	var vs []castai.FieldViolation
	if res.Name == "" {
		vs = append(vs, violation("name", "required"))
	}
	if !res.Action.Valid() {
		vs = append(vs, violation("action", fmt.Sprintf("invalid value %q", res.Action)))
	}
	if !res.Status.Valid() {
		vs = append(vs, violation("status", fmt.Sprintf("invalid value %q", res.Status)))
	}
	if len(vs) > 0 {
		writeError(w, http.StatusBadRequest, "invalid action result", vs...)
		return
	}
	s.mu.Lock()
	s.results[id] = append(s.results[id], res)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, struct{}{})
}

func (s *Server) validateUpgrade(w http.ResponseWriter, r *http.Request, id string) {
	var req castai.ValidateUpgradeRequest
	if !decode(w, r, &req) {
		return
	}
	if req.ComponentName == "" {
		writeError(w, http.StatusBadRequest, "invalid request", violation("component_name", "required"))
		return
	}
	if req.ClusterID != "" && req.ClusterID != id {
		writeError(w, http.StatusBadRequest, "invalid request", violation("cluster_id", "does not match the path"))
		return
	}
	resp := castai.ValidateUpgradeResponse{Allowed: true}
	s.mu.Lock()
	for _, b := range s.blocks {
		if b.component == req.ComponentName && (b.version == "" || b.version == req.TargetVersion) {
			resp = castai.ValidateUpgradeResponse{Allowed: false, BlockReason: b.reason}
			break
		}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, resp)
}

// poll answers pending actions at once, or holds the request until one is enqueued, the
// hold ends, the client goes away or the server closes.
func (s *Server) poll(w http.ResponseWriter, r *http.Request, id string) {
	maxActions := 10
	if v := r.URL.Query().Get("max_actions"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, "invalid max_actions", violation("max_actions", "positive integer"))
			return
		}
		maxActions = n
	}
	s.mu.Lock()
	hold := s.hold
	s.mu.Unlock()
	if hint, err := time.ParseDuration(r.Header.Get(castai.PollWaitHeader)); err == nil && hint >= 0 && hint < hold {
		hold = hint
	}
	deadline := time.NewTimer(hold)
	defer deadline.Stop()
	holding := false
	defer func() {
		if holding {
			s.mu.Lock()
			s.held--
			s.mu.Unlock()
		}
	}()
	for {
		s.mu.Lock()
		q := s.queues[id]
		wake := s.wake
		var out []castai.Action
		if len(q) > 0 {
			out = slices.Clone(q[:min(len(q), maxActions)])
		}
		if len(out) == 0 && hold > 0 && !holding {
			holding = true
			s.held++
		}
		s.mu.Unlock()
		if len(out) > 0 || hold <= 0 {
			if out == nil {
				out = []castai.Action{}
			}
			writeJSON(w, http.StatusOK, castai.PollResponse{Actions: out})
			return
		}
		select {
		case <-wake:
		case <-deadline.C:
			writeJSON(w, http.StatusOK, castai.PollResponse{Actions: []castai.Action{}})
			return
		case <-r.Context().Done():
			return
		case <-s.closed:
			writeJSON(w, http.StatusOK, castai.PollResponse{Actions: []castai.Action{}})
			return
		}
	}
}

func (s *Server) ack(w http.ResponseWriter, r *http.Request, clusterID, actionID string) {
	var req castai.AckRequest
	if !decode(w, r, &req) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queues[clusterID]
	i := slices.IndexFunc(q, func(a castai.Action) bool { return a.ID == actionID })
	if i < 0 {
		if s.acked[clusterID][actionID] {
			writeJSON(w, http.StatusOK, struct{}{}) // a retried ack is idempotent
			return
		}
		writeError(w, http.StatusNotFound, "action "+actionID+" not found")
		return
	}
	a := q[i]
	s.queues[clusterID] = slices.Delete(slices.Clone(q), i, i+1)
	if s.acked[clusterID] == nil {
		s.acked[clusterID] = map[string]bool{}
	}
	s.acked[clusterID][actionID] = true
	s.acks[clusterID] = append(s.acks[clusterID], Ack{ActionID: actionID, Action: a, Error: req.Error, Time: time.Now()})
	writeJSON(w, http.StatusOK, struct{}{})
}

func (s *Server) shipLogs(w http.ResponseWriter, r *http.Request, id string) {
	var b castai.LogBatch
	if !decode(w, r, &b) {
		return
	}
	if !strings.HasPrefix(b.Version, "castware-operator/") {
		writeError(w, http.StatusBadRequest, "invalid log batch", violation("version", `want "castware-operator/<version>"`))
		return
	}
	s.mu.Lock()
	s.logs[id] = append(s.logs[id], b)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, struct{}{})
}
