package castai

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// logSink is a test server that stores shipped batches and can fail on demand.
type logSink struct {
	mu      sync.Mutex
	batches []LogBatch
	raw     []string
	paths   []string
	fail    bool
	got     chan struct{}
}

func newLogSink() *logSink { return &logSink{got: make(chan struct{}, 100)} }

func (s *logSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	fail := s.fail
	if !fail {
		var b LogBatch
		_ = json.Unmarshal(body, &b)
		s.batches = append(s.batches, b)
		s.raw = append(s.raw, string(body))
		s.paths = append(s.paths, r.URL.Path)
	}
	s.mu.Unlock()
	if fail {
		w.WriteHeader(http.StatusInternalServerError)
	} else {
		_, _ = io.WriteString(w, `{}`)
	}
	s.got <- struct{}{}
}

func (s *logSink) snapshot() ([]LogBatch, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]LogBatch(nil), s.batches...), append([]string(nil), s.raw...)
}

func TestShipLogsRedactsAndFormats(t *testing.T) {
	sink := newLogSink()
	c, _ := newTestClient(t, sink, WithVersion("0.3.0"))
	err := c.ShipLogs(t.Context(), "c1", LogBatch{Entries: []LogEntry{
		{Level: LogLevelError, Message: "calling API with key " + testKey, Time: time.Unix(1, 0).UTC(),
			Fields: map[string]string{"header": "X-API-Key: " + testKey, "apiKey": "whatever", "component": "agent", testKey: "v"}},
		{Message: "defaults"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	batches, raw := sink.snapshot()
	if len(batches) != 1 {
		t.Fatalf("batches = %d", len(batches))
	}
	if strings.Contains(raw[0], testKey) {
		t.Fatalf("shipped body contains the key: %s", raw[0])
	}
	b := batches[0]
	if b.Version != "castware-operator/v0.3.0" {
		t.Fatalf("version = %q", b.Version)
	}
	if sink.paths[0] != "/v1/clusters/c1/components/castware-operator/logs" {
		t.Fatalf("path = %q", sink.paths[0])
	}
	e := b.Entries[0]
	if e.Level != LogLevelError || e.Fields["apiKey"] != redactedMark || e.Fields["component"] != "agent" ||
		!strings.Contains(e.Fields["header"], redactedMark) {
		t.Fatalf("entry = %+v", e)
	}
	if d := b.Entries[1]; d.Level != LogLevelInfo || d.Time.IsZero() {
		t.Fatalf("defaults not applied: %+v", d)
	}
}

func TestShipLogsSingleAttempt(t *testing.T) {
	sink := newLogSink()
	sink.fail = true
	c, rec := newTestClient(t, sink)
	if err := c.ShipLogs(t.Context(), "c1", LogBatch{Entries: []LogEntry{{Message: "x"}}}); err == nil {
		t.Fatal("want error")
	}
	if len(rec.get()) != 0 {
		t.Fatal("log shipping must not retry")
	}
	if err := c.ShipLogs(t.Context(), "c1", LogBatch{}); err != nil {
		t.Fatalf("empty batch: %v", err)
	}
}

func TestLogShipperBatching(t *testing.T) {
	sink := newLogSink()
	c, _ := newTestClient(t, sink)
	tick := make(chan time.Time)
	s := NewLogShipper(c, WithBatchSize(3), withTicker(tick),
		WithStaticFields(map[string]string{"provider": "eks"}), WithMinLevel(LogLevelInfo))
	s.Start()
	ctx := t.Context()

	// Nothing ships without a cluster ID, even past the batch size.
	for i := range 4 {
		s.Log(LogEntry{Level: LogLevelInfo, Message: "early " + string(rune('a'+i)),
			Fields: map[string]string{"cluster_id": "spoofed", "k": "v"}})
	}
	if s.Log(LogEntry{Level: LogLevelDebug, Message: "filtered"}) {
		t.Fatal("debug entry accepted below min level")
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if b, _ := sink.snapshot(); len(b) != 0 {
		t.Fatalf("shipped %d batches before SetClusterID", len(b))
	}

	s.SetClusterID("c1")
	tick <- time.Now() // interval flush: ships one batch of 3
	<-sink.got
	s.Log(LogEntry{Level: LogLevelWarning, Message: "size"})  // pending 2
	s.Log(LogEntry{Level: LogLevelWarning, Message: "size2"}) // pending 3: size flush
	<-sink.got
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	batches, _ := sink.snapshot()
	var msgs []string
	for _, b := range batches {
		if len(b.Entries) > 3 {
			t.Fatalf("batch of %d entries exceeds batch size", len(b.Entries))
		}
		for _, e := range b.Entries {
			msgs = append(msgs, e.Message)
			if e.Fields["provider"] != "eks" {
				t.Fatalf("static field missing: %+v", e)
			}
			if _, ok := e.Fields["cluster_id"]; ok {
				t.Fatalf("reserved field shipped: %+v", e)
			}
		}
	}
	if got := strings.Join(msgs, ","); got != "early a,early b,early c,early d,size,size2" {
		t.Fatalf("shipped %q", got)
	}
	st := s.Stats()
	if st.Shipped != 6 || st.Enqueued != 6 || st.Dropped != 0 {
		t.Fatalf("stats = %+v", st)
	}
	if s.Log(LogEntry{Message: "late"}) {
		t.Fatal("Log accepted an entry after Stop")
	}
	if err := s.Stop(ctx); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
}

func TestLogShipperDropsWhenFull(t *testing.T) {
	sink := newLogSink()
	c, _ := newTestClient(t, sink)
	s := NewLogShipper(c, WithBatchSize(2), WithBufferSize(3), WithFlushInterval(time.Hour))
	// Not started: the channel holds 3 entries, the rest are dropped without blocking.
	accepted := 0
	for range 10 {
		if s.Log(LogEntry{Message: "m"}) {
			accepted++
		}
	}
	if accepted != 3 || s.Stats().Dropped != 7 {
		t.Fatalf("accepted = %d, stats = %+v", accepted, s.Stats())
	}
	s.SetClusterID("c1")
	if err := s.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Shipped != 3 || st.Batches != 2 {
		t.Fatalf("final flush: stats = %+v", st)
	}
}

func TestLogShipperFailedBatchDropped(t *testing.T) {
	sink := newLogSink()
	sink.fail = true
	c, _ := newTestClient(t, sink)
	s := NewLogShipper(c, WithBatchSize(5), WithFlushInterval(time.Hour))
	s.SetClusterID("c1")
	s.Start()
	s.Log(LogEntry{Message: "a"})
	if err := s.Flush(t.Context()); err == nil {
		t.Fatal("want flush error")
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.FailedBatches != 1 || st.Dropped != 1 || st.Shipped != 0 {
		t.Fatalf("stats = %+v", st)
	}
}
