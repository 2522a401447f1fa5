// Package fake is an in-memory Cast AI API server that speaks the protocol of package
// castai (same paths, verbs and JSON), for tests and the local demo. It records every call,
// long-polls lifecycle actions and injects faults. Production code never imports it.
package fake

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/castware-operator/castware-operator/internal/castai"
)

// DefaultAPIKey is the only valid key of a server built without WithKeys.
const DefaultAPIKey = "fake-castai-api-key-0123456789abcdef"

// Option configures a Server.
type Option func(*Server)

// WithKeys sets the valid API keys (default: DefaultAPIKey).
func WithKeys(keys ...string) Option { return func(s *Server) { s.setKeys(keys) } }

// WithHold sets how long a poll with no pending action is held open (default 0: answer
// at once). A client wait hint (castai.PollWaitHeader) shortens it.
func WithHold(d time.Duration) Option { return func(s *Server) { s.hold = d } }

// WithAddr sets the listen address of Start (default "127.0.0.1:0").
func WithAddr(addr string) Option { return func(s *Server) { s.addr = addr } }

// WithOrganizationID sets the organization of registered clusters (default: a random UUID).
func WithOrganizationID(id string) Option { return func(s *Server) { s.orgID = id } }

// WithCatalog seeds the component catalog served by getByName (default: empty).
func WithCatalog(infos ...castai.ComponentInfo) Option {
	return func(s *Server) {
		for _, i := range infos {
			s.components[i.Name] = i
		}
	}
}

// DefaultCatalog returns the documented components with the newest published versions
// known to this project (castai-agent, spot-handler, cluster-controller, castware-operator).
func DefaultCatalog() []castai.ComponentInfo {
	return []castai.ComponentInfo{
		{ID: "6f0b3c4e-0000-4000-8000-000000000001", Name: "castai-agent", HelmChart: "castai-agent",
			LatestVersion: "0.161.1", ReleaseName: "castai-agent", Dependencies: []string{}},
		{ID: "6f0b3c4e-0000-4000-8000-000000000002", Name: "spot-handler", HelmChart: "castai-spot-handler",
			LatestVersion: "0.35.5", ReleaseName: "castai-spot-handler", Dependencies: []string{}},
		{ID: "6f0b3c4e-0000-4000-8000-000000000003", Name: "cluster-controller", HelmChart: "castai-cluster-controller",
			LatestVersion: "0.92.14", ReleaseName: "castai-cluster-controller", Dependencies: []string{"castai-agent"}},
		{ID: "6f0b3c4e-0000-4000-8000-000000000004", Name: "castware-operator", HelmChart: "castware-operator",
			LatestVersion: "0.10.1", ReleaseName: "castware-operator", Dependencies: []string{}},
	}
}

// Call is one recorded request.
type Call struct {
	Time      time.Time
	Method    string
	Path      string
	RawQuery  string
	Status    int
	Duration  time.Duration
	KeyValid  bool
	UserAgent string
	// Fault is true when an injected fault produced (or delayed) the answer.
	Fault bool
	// BodyDigest identifies the request body (hex of the first 8 bytes of its SHA-256; "" without a body):
	// the retries of one call carry the same digest.
	BodyDigest string
	// Abandoned is true when the client gave up (timeout, closed connection) before the answer was
	// written: the server may have acted on a request the client will send again.
	Abandoned bool
}

// Fault makes matching requests misbehave; faults are checked in order, before auth.
type Fault struct {
	// PathContains selects requests whose path contains it ("" matches every path).
	PathContains string
	// Method selects requests with this method ("" matches every method).
	Method string
	// Status is the status to answer with (0: 200 with MalformedJSON, else normal handling).
	Status int
	// Delay is waited before answering (or before normal handling when Status is 0).
	Delay time.Duration
	// MalformedJSON answers with a truncated JSON body.
	MalformedJSON bool
	// RetryAfter, when > 0, is sent as the answer's Retry-After header (whole seconds, rounded up).
	RetryAfter time.Duration
	// Count is how many requests the fault applies to (0: until ClearFaults).
	Count int
}

// Ack is one recorded acknowledgement.
type Ack struct {
	ActionID string
	Action   castai.Action
	// Error is the error the operator reported, nil for success.
	Error *string
	Time  time.Time
}

// RegisteredCluster is a cluster known to the fake.
type RegisteredCluster struct {
	castai.ExternalCluster
	// Request is the last registration request for this cluster.
	Request castai.RegisterClusterRequest
	// Registrations counts register calls that answered with this cluster.
	Registrations int
}

type upgradeBlock struct{ component, version, reason string }

type faultState struct {
	Fault
	left int
}

// Server is the fake API. Its methods are safe for concurrent use.
type Server struct {
	addr  string
	hold  time.Duration
	orgID string

	mu          sync.Mutex
	keys        map[string]bool
	clusters    map[string]*RegisteredCluster
	clusterKeys map[string]string // registration identity -> cluster ID
	components  map[string]castai.ComponentInfo
	queues      map[string][]castai.Action
	acked       map[string]map[string]bool
	acks        map[string][]Ack
	results     map[string][]castai.ActionResult
	blocks      []upgradeBlock
	logs        map[string][]castai.LogBatch
	calls       []Call
	faults      []*faultState
	wake        chan struct{}
	held        int

	closed    chan struct{}
	closeOnce sync.Once
	ts        *httptest.Server
}

// New builds a server that is not listening yet: use it as an http.Handler or call Start.
func New(opts ...Option) *Server {
	s := &Server{
		addr:        "127.0.0.1:0",
		orgID:       newUUID(),
		keys:        map[string]bool{DefaultAPIKey: true},
		clusters:    map[string]*RegisteredCluster{},
		clusterKeys: map[string]string{},
		components:  map[string]castai.ComponentInfo{},
		queues:      map[string][]castai.Action{},
		acked:       map[string]map[string]bool{},
		acks:        map[string][]Ack{},
		results:     map[string][]castai.ActionResult{},
		logs:        map[string][]castai.LogBatch{},
		wake:        make(chan struct{}),
		closed:      make(chan struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// NewServer builds a server and starts it on WithAddr (default 127.0.0.1:0); it panics
// when it cannot listen, like httptest.NewServer.
func NewServer(opts ...Option) *Server {
	s := New(opts...)
	if err := s.Start(); err != nil {
		panic(fmt.Sprintf("fake castai: %v", err))
	}
	return s
}

// Start listens on the configured address and serves in the background.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ts != nil {
		return fmt.Errorf("already started at %s", s.ts.URL)
	}
	l, err := net.Listen("tcp", s.addr)
	if err != nil {
		return err
	}
	ts := httptest.NewUnstartedServer(s)
	ts.Listener.Close()
	ts.Listener = l
	ts.Start()
	s.ts = ts
	return nil
}

// URL returns the base URL ("http://127.0.0.1:port"), or "" before Start.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ts == nil {
		return ""
	}
	return s.ts.URL
}

// Addr returns the listen address ("127.0.0.1:port"), or "" before Start.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ts == nil {
		return ""
	}
	return s.ts.Listener.Addr().String()
}

// Close releases held polls and stops the server; it is safe to call more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closed) })
	s.mu.Lock()
	ts := s.ts
	s.mu.Unlock()
	if ts != nil {
		ts.Close()
	}
}

func (s *Server) setKeys(keys []string) {
	s.keys = map[string]bool{}
	for _, k := range keys {
		if k = strings.TrimSpace(k); k != "" {
			s.keys[k] = true
		}
	}
}

// SetKeys replaces the valid API keys (key rotation).
func (s *Server) SetKeys(keys ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setKeys(keys)
}

// SetHold changes the long-poll hold of later polls.
func (s *Server) SetHold(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hold = d
}

// OrganizationID returns the organization of registered clusters.
func (s *Server) OrganizationID() string { return s.orgID }

// AddCluster makes a cluster known without a register call (ID required; name optional).
func (s *Server) AddCluster(c castai.ExternalCluster) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ensureCluster(c.ID, c.Name)
	rc := s.clusters[c.ID]
	if c.Status != "" {
		rc.Status = c.Status
	}
	if c.AgentStatus != "" {
		rc.AgentStatus = c.AgentStatus
	}
}

func (s *Server) ensureCluster(id, name string) *RegisteredCluster {
	rc, ok := s.clusters[id]
	if !ok {
		now := time.Now().UTC()
		rc = &RegisteredCluster{ExternalCluster: castai.ExternalCluster{
			ID: id, OrganizationID: s.orgID, CreatedAt: &now, Status: "connecting", AgentStatus: "waiting",
		}}
		s.clusters[id] = rc
	}
	if name != "" {
		rc.Name = name
	}
	return rc
}

// Cluster returns a known cluster.
func (s *Server) Cluster(id string) (RegisteredCluster, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rc, ok := s.clusters[id]
	if !ok {
		return RegisteredCluster{}, false
	}
	return *rc, true
}

// Clusters returns the known clusters, ordered by ID.
func (s *Server) Clusters() []RegisteredCluster {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]RegisteredCluster, 0, len(s.clusters))
	for _, rc := range s.clusters {
		out = append(out, *rc)
	}
	slices.SortFunc(out, func(a, b RegisteredCluster) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// SetComponent adds or replaces a catalog entry served by getByName.
func (s *Server) SetComponent(info castai.ComponentInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.components[info.Name] = info
}

// Component returns a catalog entry.
func (s *Server) Component(name string) (castai.ComponentInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	info, ok := s.components[name]
	return info, ok
}

// RemoveComponent deletes a catalog entry (getByName then answers 404).
func (s *Server) RemoveComponent(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.components, name)
}

// EnqueueAction queues an action for a cluster and wakes held polls. It fills an empty ID
// (random UUID) and a zero CreateTime, and returns the ID.
func (s *Server) EnqueueAction(clusterID string, a castai.Action) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a.ID == "" {
		a.ID = newUUID()
	}
	if a.CreateTime.IsZero() {
		a.CreateTime = time.Now().UTC()
	}
	s.queues[clusterID] = append(s.queues[clusterID], a)
	close(s.wake)
	s.wake = make(chan struct{})
	return a.ID
}

// EnqueueActions queues several actions at once, in the given order (so one poll delivers them together,
// e.g. out of createTime order), and returns their IDs. Empty IDs and zero CreateTimes are filled as by
// EnqueueAction.
func (s *Server) EnqueueActions(clusterID string, actions ...castai.Action) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, len(actions))
	for i, a := range actions {
		if a.ID == "" {
			a.ID = newUUID()
		}
		if a.CreateTime.IsZero() {
			a.CreateTime = time.Now().UTC()
		}
		s.queues[clusterID] = append(s.queues[clusterID], a)
		ids[i] = a.ID
	}
	close(s.wake)
	s.wake = make(chan struct{})
	return ids
}

// Redeliver queues an action that was already acknowledged again, as an API that lost the acknowledgement
// would deliver it a second time. It reports false when the action was never acknowledged.
func (s *Server) Redeliver(clusterID, actionID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.acks[clusterID] {
		if a.ActionID == actionID {
			s.queues[clusterID] = append(s.queues[clusterID], a.Action)
			close(s.wake)
			s.wake = make(chan struct{})
			return true
		}
	}
	return false
}

// PendingActions returns the unacknowledged actions of a cluster, oldest first.
func (s *Server) PendingActions(clusterID string) []castai.Action {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.queues[clusterID])
}

// Acks returns the acknowledgements of a cluster in arrival order.
func (s *Server) Acks(clusterID string) []Ack {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.acks[clusterID])
}

// HeldPolls returns how many polls are waiting for an action right now.
func (s *Server) HeldPolls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held
}

// ActionResults returns the results recorded for a cluster in arrival order.
func (s *Server) ActionResults(clusterID string) []castai.ActionResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.results[clusterID])
}

// BlockUpgrade makes validateUpgrade refuse component (at targetVersion, or any version
// when targetVersion is "") with reason.
func (s *Server) BlockUpgrade(component, targetVersion, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.blocks = append(s.blocks, upgradeBlock{component: component, version: targetVersion, reason: reason})
}

// AllowUpgrades removes every upgrade block.
func (s *Server) AllowUpgrades() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.blocks = nil
}

// Logs returns the log batches shipped for a cluster.
func (s *Server) Logs(clusterID string) []castai.LogBatch {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.logs[clusterID])
}

// Calls returns every recorded request, oldest first.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// CallCount returns how many recorded requests have a path containing sub.
func (s *Server) CallCount(sub string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		if strings.Contains(c.Path, sub) {
			n++
		}
	}
	return n
}

// ResetCalls forgets the recorded requests.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = nil
}

// WaitFor polls cond (every few milliseconds, without holding the server lock) until it
// is true or ctx is done.
func (s *Server) WaitFor(ctx context.Context, cond func(*Server) bool) error {
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for {
		if cond(s) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("fake castai: condition not met: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// InjectFault adds a fault; faults are matched in the order they were added.
func (s *Server) InjectFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &faultState{Fault: f, left: f.Count})
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// newUUID returns a random version 4 UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// writeJSON answers with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// errorBody is the API's error shape.
type errorBody struct {
	Message         string                  `json:"message"`
	FieldViolations []castai.FieldViolation `json:"fieldViolations"`
}

// writeError answers with the API's error shape.
func writeError(w http.ResponseWriter, status int, msg string, violations ...castai.FieldViolation) {
	if violations == nil {
		violations = []castai.FieldViolation{}
	}
	writeJSON(w, status, errorBody{Message: msg, FieldViolations: violations})
}
