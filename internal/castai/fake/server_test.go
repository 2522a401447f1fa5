package fake_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/castware-operator/castware-operator/internal/castai"
	"github.com/castware-operator/castware-operator/internal/castai/fake"
)

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// instantSleep is a castai.SleepFunc that does not wait.
func instantSleep(ctx context.Context, _ time.Duration) error { return ctx.Err() }

// setup starts a fake and a client with an instant backoff.
func setup(t *testing.T, fopts []fake.Option, copts ...castai.Option) (*fake.Server, *castai.Client) {
	t.Helper()
	srv := fake.NewServer(fopts...)
	t.Cleanup(srv.Close)
	c, err := castai.New(srv.URL(), castai.StaticKey(fake.DefaultAPIKey),
		append([]castai.Option{castai.WithSleep(instantSleep), castai.WithVersion("v0.1.0")}, copts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return srv, c
}

// register registers an EKS cluster and returns its ID.
func register(t *testing.T, c *castai.Client, name string) string {
	t.Helper()
	resp, err := c.RegisterCluster(t.Context(), castai.RegisterClusterRequest{
		Name: name, EKS: &castai.EKSParams{ClusterName: name, Region: "eu-west-1", AccountID: "123456789012"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return resp.ID
}

func deadline(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestRegisterAndGetCluster(t *testing.T) {
	srv, c := setup(t, nil)
	ctx := t.Context()

	id := register(t, c, "prod")
	if !uuidV4.MatchString(id) {
		t.Fatalf("id %q is not a UUID v4", id)
	}
	if again := register(t, c, "prod"); again != id {
		t.Fatalf("re-registration gave %q, want %q (idempotent)", again, id)
	}
	if other := register(t, c, "staging"); other == id {
		t.Fatal("a different cluster got the same id")
	}
	resp, err := c.RegisterCluster(ctx, castai.RegisterClusterRequest{ID: "11111111-2222-4333-8444-555555555555",
		GKE: &castai.GKEParams{Region: "europe-west1", ProjectID: "p", ClusterName: "g", Location: "europe-west1-b"}, Name: "g"})
	if err != nil || resp.ID != "11111111-2222-4333-8444-555555555555" || resp.OrganizationID != srv.OrganizationID() {
		t.Fatalf("register with id: %+v, %v", resp, err)
	}

	rc, ok := srv.Cluster(id)
	if !ok || rc.Registrations != 2 || rc.Request.CastwareInstallMethod != castai.CastwareInstallMethodOperator ||
		rc.Request.ID != castai.ZeroUUID || rc.Request.EKS.AccountID != "123456789012" {
		t.Fatalf("stored cluster = %+v", rc)
	}
	got, err := c.GetCluster(ctx, id)
	if err != nil || got.ID != id || got.Name != "prod" || got.OrganizationID != srv.OrganizationID() || got.CreatedAt == nil {
		t.Fatalf("GetCluster = %+v, %v", got, err)
	}
	if _, err := c.GetCluster(ctx, "00000000-0000-4000-8000-000000000000"); !castai.IsNotFound(err) {
		t.Fatalf("unknown cluster: %v", err)
	}
	if len(srv.Clusters()) != 3 {
		t.Fatalf("clusters = %d", len(srv.Clusters()))
	}
}

func TestRegisterValidation(t *testing.T) {
	srv, c := setup(t, nil)
	_, err := c.RegisterCluster(t.Context(), castai.RegisterClusterRequest{EKS: &castai.EKSParams{ClusterName: "x"}})
	var ae *castai.APIError
	if !errors.As(err, &ae) || ae.StatusCode != 400 || len(ae.FieldViolations) == 0 || ae.FieldViolations[0].Field != "eks" {
		t.Fatalf("err = %v", err)
	}
	if srv.CallCount("external-clusters") != 1 {
		t.Fatal("a 400 must not be retried")
	}
}

func TestGetComponentByName(t *testing.T) {
	srv, c := setup(t, []fake.Option{fake.WithCatalog(fake.DefaultCatalog()...)})
	ctx := t.Context()
	info, err := c.GetComponentByName(ctx, "spot-handler")
	if err != nil {
		t.Fatal(err)
	}
	if info.HelmChart != "castai-spot-handler" || info.ReleaseName != "castai-spot-handler" || info.LatestVersion == "" {
		t.Fatalf("info = %+v", info)
	}
	for range 5 {
		if _, err := c.GetComponentByName(ctx, "spot-handler"); err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.CallCount("getByName"); n != 1 {
		t.Fatalf("getByName requests = %d, want 1 (cached)", n)
	}

	srv.SetComponent(castai.ComponentInfo{Name: "spot-handler", HelmChart: "castai-spot-handler", LatestVersion: "9.9.9"})
	c.InvalidateComponentCache("spot-handler")
	if info, _ := c.GetComponentByName(ctx, "spot-handler"); info.LatestVersion != "9.9.9" {
		t.Fatalf("after invalidation: %+v", info)
	}

	_, err = c.GetComponentByName(ctx, "evictor")
	if !castai.IsNotFound(err) || !errors.Is(err, castai.ErrNotFound) {
		t.Fatalf("unknown component: %v", err)
	}
	srv.RemoveComponent("castai-agent")
	if _, err := c.GetComponentByName(ctx, "castai-agent"); !castai.IsNotFound(err) {
		t.Fatalf("removed component: %v", err)
	}
}

func TestPollAckRedelivery(t *testing.T) {
	srv, c := setup(t, nil)
	ctx := t.Context()
	id := register(t, c, "prod")

	a1 := srv.EnqueueAction(id, castai.Action{Install: &castai.ChartAction{Component: "castai-agent", Version: "1.0.0",
		ValuesOverrides: map[string]string{"a.b": "c"}}})
	a2 := srv.EnqueueAction(id, castai.Action{Upgrade: &castai.ChartAction{Component: "spot-handler", Version: "2.0.0", ReleaseName: "castai-spot-handler"}})
	a3 := srv.EnqueueAction(id, castai.Action{Uninstall: &castai.ComponentTarget{Component: "cluster-controller"}})

	acts, err := c.PollActions(ctx, id, castai.PollOptions{MaxActions: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(acts) != 2 || acts[0].ID != a1 || acts[1].ID != a2 {
		t.Fatalf("first poll = %+v", acts)
	}
	if acts[0].Kind() != castai.ActionKindInstall || acts[0].Install.ValuesOverrides["a.b"] != "c" || acts[0].CreateTime.IsZero() {
		t.Fatalf("install action = %+v", acts[0])
	}
	if err := c.AckAction(ctx, id, a1, nil); err != nil {
		t.Fatal(err)
	}
	// a2 was not acked: it comes back first, followed by a3.
	acts, err = c.PollActions(ctx, id, castai.PollOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(acts) != 2 || acts[0].ID != a2 || acts[1].ID != a3 {
		t.Fatalf("second poll = %+v", acts)
	}
	if err := c.AckAction(ctx, id, a2, errors.New("component not found")); err != nil {
		t.Fatal(err)
	}
	if err := c.AckAction(ctx, id, a2, errors.New("component not found")); err != nil {
		t.Fatalf("a repeated ack must be idempotent: %v", err)
	}
	if err := c.AckAction(ctx, id, "no-such-action", nil); !castai.IsNotFound(err) {
		t.Fatalf("unknown action ack: %v", err)
	}
	acks := srv.Acks(id)
	if len(acks) != 2 || acks[0].ActionID != a1 || acks[0].Error != nil ||
		acks[1].ActionID != a2 || acks[1].Error == nil || *acks[1].Error != "component not found" {
		t.Fatalf("acks = %+v", acks)
	}
	if p := srv.PendingActions(id); len(p) != 1 || p[0].ID != a3 {
		t.Fatalf("pending = %+v", p)
	}
	if _, err := c.PollActions(ctx, "00000000-0000-4000-8000-00000000dead", castai.PollOptions{}); !castai.IsNotFound(err) {
		t.Fatalf("poll of unknown cluster: %v", err)
	}
}

func TestLongPollWakesOnEnqueue(t *testing.T) {
	srv, c := setup(t, []fake.Option{fake.WithHold(10 * time.Minute)})
	id := register(t, c, "prod")
	ctx := deadline(t)

	type result struct {
		acts []castai.Action
		err  error
		took time.Duration
	}
	done := make(chan result, 1)
	go func() {
		start := time.Now()
		acts, err := c.PollActions(ctx, id, castai.PollOptions{})
		done <- result{acts, err, time.Since(start)}
	}()
	if err := srv.WaitFor(ctx, func(s *fake.Server) bool { return s.HeldPolls() == 1 }); err != nil {
		t.Fatal(err)
	}
	srv.EnqueueAction("some-other-cluster", castai.Action{Rollback: &castai.ComponentTarget{Component: "x"}})
	want := srv.EnqueueAction(id, castai.Action{Rollback: &castai.ComponentTarget{Component: "castai-agent"}})
	r := <-done
	if r.err != nil || len(r.acts) != 1 || r.acts[0].ID != want || r.acts[0].Kind() != castai.ActionKindRollback {
		t.Fatalf("poll = %+v, %v", r.acts, r.err)
	}
	if r.took > 5*time.Second {
		t.Fatalf("poll took %v: it was not woken by the enqueue", r.took)
	}
	if srv.HeldPolls() != 0 {
		t.Fatal("poll still counted as held")
	}
}

func TestLongPollClientGoesAwayAndWaitHint(t *testing.T) {
	srv, c := setup(t, []fake.Option{fake.WithHold(10 * time.Minute)})
	id := register(t, c, "prod")

	// The client cancels: the held poll ends and is recorded.
	pctx, cancel := context.WithCancel(deadline(t))
	done := make(chan error, 1)
	go func() {
		_, err := c.PollActions(pctx, id, castai.PollOptions{})
		done <- err
	}()
	ctx := deadline(t)
	if err := srv.WaitFor(ctx, func(s *fake.Server) bool { return s.HeldPolls() == 1 }); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled poll: %v", err)
	}
	if err := srv.WaitFor(ctx, func(s *fake.Server) bool { return s.HeldPolls() == 0 && s.CallCount(":poll") == 1 }); err != nil {
		t.Fatal(err)
	}

	// A wait hint shortens the hold: an empty answer, not an error.
	acts, err := c.PollActions(ctx, id, castai.PollOptions{Wait: 20 * time.Millisecond})
	if err != nil || len(acts) != 0 {
		t.Fatalf("hinted poll = %+v, %v", acts, err)
	}

	// Close releases a held poll.
	go func() {
		_, err := c.PollActions(ctx, id, castai.PollOptions{})
		done <- err
	}()
	if err := srv.WaitFor(ctx, func(s *fake.Server) bool { return s.HeldPolls() == 1 }); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("Close did not release the held poll")
	}
}

func TestRecordActionResult(t *testing.T) {
	srv, c := setup(t, nil)
	id := register(t, c, "prod")
	res := castai.ActionResult{Name: "castai-agent", Action: castai.ActionUpdate, CurrentVersion: "1.0.0", Version: "1.1.0",
		Status: castai.StatusProgressing, ReleaseName: "castai-agent", Message: "upgrading",
		ImageVersions: map[string]string{"agent": "v1.1.0"}, ComponentParams: map[string]string{"extendedPermissions": "false"}}
	if err := c.RecordActionResult(t.Context(), id, res); err != nil {
		t.Fatal(err)
	}
	got := srv.ActionResults(id)
	if len(got) != 1 || got[0].Version != "1.1.0" || got[0].Status != castai.StatusProgressing ||
		got[0].ImageVersions["agent"] != "v1.1.0" || got[0].ComponentParams["extendedPermissions"] != "false" {
		t.Fatalf("results = %+v", got)
	}

	// The fake enforces the enums on the wire.
	req, _ := http.NewRequest(http.MethodPost, srv.URL()+"/cluster-management/v1/clusters/"+id+"/components:recordActionResult",
		strings.NewReader(`{"name":"x","action":"INSTALL","status":"FINE"}`))
	req.Header.Set("X-API-Key", fake.DefaultAPIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !bytes.Contains(body, []byte(`"fieldViolations"`)) || !bytes.Contains(body, []byte(`"action"`)) {
		t.Fatalf("invalid result: %d %s", resp.StatusCode, body)
	}
}

func TestValidateUpgrade(t *testing.T) {
	srv, c := setup(t, nil)
	id := register(t, c, "prod")
	ctx := t.Context()
	srv.BlockUpgrade("cluster-controller", "", "extended permissions required")
	srv.BlockUpgrade("castai-agent", "2.0.0", "2.0.0 is broken")
	tests := []struct {
		component, version string
		allowed            bool
		reason             string
	}{
		{"cluster-controller", "1.0.0", false, "extended permissions required"},
		{"castai-agent", "2.0.0", false, "2.0.0 is broken"},
		{"castai-agent", "2.0.1", true, ""},
		{"spot-handler", "1.0.0", true, ""},
	}
	for _, tt := range tests {
		r, err := c.ValidateUpgrade(ctx, id, tt.component, tt.version)
		if err != nil || r.Allowed != tt.allowed || r.BlockReason != tt.reason {
			t.Fatalf("%s@%s: %+v, %v", tt.component, tt.version, r, err)
		}
	}
	srv.AllowUpgrades()
	if r, err := c.ValidateUpgrade(ctx, id, "cluster-controller", "1.0.0"); err != nil || !r.Allowed {
		t.Fatalf("after AllowUpgrades: %+v, %v", r, err)
	}
}

func TestServerErrorBurstRetriedWithBackoff(t *testing.T) {
	srv := fake.NewServer(fake.WithCatalog(fake.DefaultCatalog()...))
	t.Cleanup(srv.Close)
	// Real (tiny) backoff so that the gaps show in the call log.
	c, err := castai.New(srv.URL(), castai.StaticKey(fake.DefaultAPIKey), castai.WithBackoff(10*time.Millisecond, 40*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	srv.InjectFault(fake.Fault{PathContains: "getByName", Status: 503, Count: 2})
	srv.InjectFault(fake.Fault{PathContains: "getByName", Status: 500, Count: 1})
	info, err := c.GetComponentByName(t.Context(), "castai-agent")
	if err != nil || info.Name != "castai-agent" {
		t.Fatalf("after 5xx burst: %+v, %v", info, err)
	}
	calls := srv.Calls()
	wantStatus := []int{503, 503, 500, 200}
	if len(calls) != len(wantStatus) {
		t.Fatalf("calls = %+v", calls)
	}
	for i, call := range calls {
		if call.Status != wantStatus[i] || call.Fault != (i < 3) || !call.KeyValid {
			t.Fatalf("call %d = %+v", i, call)
		}
	}
	// Delay before attempt n+1 is drawn from [d/2, d] with d = 10ms, 20ms, 40ms.
	for i, minGap := range []time.Duration{5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond} {
		gap := calls[i+1].Time.Sub(calls[i].Time)
		if gap < minGap {
			t.Fatalf("gap before attempt %d = %v, want >= %v", i+2, gap, minGap)
		}
	}
	if st := c.Stats()[castai.EndpointGetComponentByName]; st.Retries != 3 || st.Attempts != 4 || st.Errors != 0 {
		t.Fatalf("stats = %+v", st)
	}

	// A burst longer than the attempts fails with the last status.
	srv.InjectFault(fake.Fault{PathContains: "/v1/me", Status: 502})
	_, err = c.Me(t.Context())
	if castai.StatusCode(err) != 502 || srv.CallCount("/v1/me") != castai.DefaultMaxAttempts {
		t.Fatalf("err = %v, calls = %d", err, srv.CallCount("/v1/me"))
	}
	srv.ClearFaults()
	if _, err := c.Me(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestTimeoutFaultRetried(t *testing.T) {
	srv, c := setup(t, nil, castai.WithTimeout(50*time.Millisecond))
	srv.InjectFault(fake.Fault{PathContains: "/v1/me", Delay: time.Minute, Count: 1})
	if _, err := c.Me(t.Context()); err != nil {
		t.Fatalf("a slow first answer must be retried: %v", err)
	}
	// The abandoned first attempt is recorded when its handler sees the client gone, which can come after
	// the retry's answer: wait for it, then check nothing more came.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := srv.WaitFor(ctx, func(s *fake.Server) bool { return s.CallCount("/v1/me") >= 2 }); err != nil {
		t.Fatalf("calls = %d: %v", srv.CallCount("/v1/me"), err)
	}
	if n := srv.CallCount("/v1/me"); n != 2 {
		t.Fatalf("calls = %d", n)
	}
}

func TestUnauthorizedNotRetried(t *testing.T) {
	srv, _ := setup(t, nil)
	c, err := castai.New(srv.URL(), castai.StaticKey("wrong-key-0123456789"), castai.WithSleep(instantSleep))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Me(t.Context())
	if !castai.IsUnauthorized(err) {
		t.Fatalf("err = %v", err)
	}
	calls := srv.Calls()
	if len(calls) != 1 || calls[0].KeyValid || calls[0].Status != 401 {
		t.Fatalf("calls = %+v", calls)
	}
	if strings.Contains(err.Error(), "wrong-key-0123456789") {
		t.Fatalf("error leaks the key: %v", err)
	}
}

func TestMalformedJSON(t *testing.T) {
	srv, c := setup(t, nil)
	id := register(t, c, "prod")
	srv.InjectFault(fake.Fault{PathContains: ":poll", MalformedJSON: true, Count: 1})
	_, err := c.PollActions(t.Context(), id, castai.PollOptions{})
	if !errors.Is(err, castai.ErrMalformedResponse) || !strings.Contains(err.Error(), "PollActions") {
		t.Fatalf("err = %v", err)
	}
	if _, err := c.PollActions(t.Context(), id, castai.PollOptions{}); err != nil {
		t.Fatalf("after the fault: %v", err)
	}
	srv.InjectFault(fake.Fault{PathContains: "getByName", Status: 500, MalformedJSON: true, Count: 1})
	srv.SetComponent(castai.ComponentInfo{Name: "x"})
	if _, err := c.GetComponentByName(t.Context(), "x"); err != nil {
		t.Fatalf("a 500 with a garbage body is retried: %v", err)
	}
}

// rotatingKey is the operator-like KeySource: it returns whatever the Secret holds now.
type rotatingKey struct {
	mu  sync.Mutex
	key string
}

func (r *rotatingKey) APIKey(context.Context) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.key, nil
}

func (r *rotatingKey) set(k string) { r.mu.Lock(); r.key = k; r.mu.Unlock() }

func TestKeyRotation(t *testing.T) {
	const oldKey, newKey = "old-key-aaaaaaaaaaaa", "new-key-bbbbbbbbbbbb"
	srv := fake.NewServer(fake.WithKeys(oldKey))
	t.Cleanup(srv.Close)
	keys := &rotatingKey{key: oldKey}
	c, err := castai.New(srv.URL(), keys, castai.WithSleep(instantSleep))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := c.Me(ctx); err != nil {
		t.Fatal(err)
	}
	srv.SetKeys(newKey) // the key is rotated in Cast AI
	_, err = c.Me(ctx)
	if !castai.IsUnauthorized(err) {
		t.Fatalf("old key after rotation: %v", err)
	}
	keys.set("  " + newKey + "\n") // the Secret is updated (with stray whitespace)
	if _, err := c.Me(ctx); err != nil {
		t.Fatalf("same client after rotation: %v", err)
	}
	calls := srv.Calls()
	if len(calls) != 3 || !calls[0].KeyValid || calls[1].KeyValid || !calls[2].KeyValid {
		t.Fatalf("calls = %+v", calls)
	}
	keys.set("")
	if _, err := c.Me(ctx); !errors.Is(err, castai.ErrNoAPIKey) || len(srv.Calls()) != 3 {
		t.Fatalf("empty key: %v (calls %d)", err, len(srv.Calls()))
	}
}

func TestNoKeyMaterialInErrorsOrLogs(t *testing.T) {
	const key = "super-secret-key-XYZ-123456"
	srv := fake.NewServer(fake.WithKeys(key))
	t.Cleanup(srv.Close)
	c, err := castai.New(srv.URL(), castai.StaticKey(key), castai.WithSleep(instantSleep), castai.WithTimeout(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	id := register(t, c, "prod")

	var errs []error
	collect := func(err error) {
		if err == nil {
			t.Fatal("scenario did not fail")
		}
		errs = append(errs, err)
	}
	_, err = c.GetComponentByName(ctx, "missing")
	collect(err)
	_, err = c.GetCluster(ctx, "not-a-cluster")
	collect(err)
	collect(c.AckAction(ctx, id, "nope", errors.New("failed with "+key)))
	srv.InjectFault(fake.Fault{PathContains: "/v1/me", Status: 503})
	_, err = c.Me(ctx)
	collect(err)
	srv.ClearFaults()
	srv.InjectFault(fake.Fault{PathContains: "/v1/me", MalformedJSON: true})
	_, err = c.Me(ctx)
	collect(err)
	srv.ClearFaults()
	srv.InjectFault(fake.Fault{PathContains: "/v1/me", Delay: time.Minute})
	_, err = c.Me(ctx)
	collect(err)
	srv.ClearFaults()
	srv.SetKeys("another-key-entirely-000")
	_, err = c.Me(ctx)
	collect(err)
	srv.SetKeys(key)
	for _, e := range errs {
		if strings.Contains(e.Error(), key) {
			t.Fatalf("error leaks the key: %v", e)
		}
	}

	// Shipped logs never carry the key either.
	shipper := castai.NewLogShipper(c, castai.WithBatchSize(10), castai.WithStaticFields(map[string]string{"provider": "eks"}))
	shipper.SetClusterID(id)
	shipper.Start()
	shipper.Log(castai.LogEntry{Level: castai.LogLevelInfo, Message: "using key " + key})
	shipper.Log(castai.LogEntry{Level: castai.LogLevelError, Message: "failed", Fields: map[string]string{"api_key": key, "url": "x?k=" + key}})
	if err := shipper.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	batches := srv.Logs(id)
	if len(batches) != 1 || len(batches[0].Entries) != 2 || batches[0].Version != "castware-operator/dev" {
		t.Fatalf("batches = %+v", batches)
	}
	for _, e := range batches[0].Entries {
		if strings.Contains(e.Message, key) || e.Fields["provider"] != "eks" {
			t.Fatalf("entry = %+v", e)
		}
		for k, v := range e.Fields {
			if strings.Contains(k, key) || strings.Contains(v, key) {
				t.Fatalf("field %s=%s leaks the key", k, v)
			}
		}
	}
}

func TestCallLogAndWaitFor(t *testing.T) {
	srv, c := setup(t, nil)
	if _, err := c.Me(t.Context()); err != nil {
		t.Fatal(err)
	}
	calls := srv.Calls()
	if len(calls) != 1 {
		t.Fatalf("calls = %+v", calls)
	}
	call := calls[0]
	if call.Method != "GET" || call.Path != "/v1/me" || call.Status != 200 || !call.KeyValid ||
		call.UserAgent != "castware-operator/v0.1.0" || call.Time.IsZero() || call.Duration < 0 {
		t.Fatalf("call = %+v", call)
	}
	srv.ResetCalls()
	if srv.CallCount("") != 0 {
		t.Fatal("ResetCalls kept calls")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if err := srv.WaitFor(ctx, func(*fake.Server) bool { return false }); err == nil {
		t.Fatal("WaitFor of a false condition returned nil")
	}
}

func TestHandlerWithoutListening(t *testing.T) {
	srv := fake.New()
	if srv.URL() != "" || srv.Addr() != "" {
		t.Fatal("URL before Start")
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if !strings.HasPrefix(srv.Addr(), "127.0.0.1:") || srv.URL() != "http://"+srv.Addr() {
		t.Fatalf("URL %q Addr %q", srv.URL(), srv.Addr())
	}
	if err := srv.Start(); err == nil {
		t.Fatal("second Start succeeded")
	}
	resp, err := http.Get(srv.URL() + "/v2/unknown")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("unauthenticated request: %d", resp.StatusCode)
	}
}
