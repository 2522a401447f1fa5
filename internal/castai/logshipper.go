package castai

import (
	"context"
	"errors"
	"maps"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of the LogShipper options.
const (
	DefaultLogBatchSize     = 100
	DefaultLogFlushInterval = 10 * time.Second
)

// reservedLogFields are set by the ingestion side and stripped from shipped entries.
var reservedLogFields = []string{"cluster_id", "component", "component_version", "component_timestamp", "alert_group"}

// ShipperOption configures a LogShipper.
type ShipperOption func(*LogShipper)

// WithBatchSize ships as soon as n entries are pending (default 100).
func WithBatchSize(n int) ShipperOption { return func(s *LogShipper) { s.batchSize = n } }

// WithFlushInterval ships pending entries at least this often (default 10s).
func WithFlushInterval(d time.Duration) ShipperOption {
	return func(s *LogShipper) { s.interval = d }
}

// WithBufferSize bounds the entries waiting to be shipped; more are dropped (default
// 2*batch size+1).
func WithBufferSize(n int) ShipperOption { return func(s *LogShipper) { s.bufSize = n } }

// WithMinLevel drops entries below level (default LogLevelDebug: ship everything).
func WithMinLevel(l LogLevel) ShipperOption { return func(s *LogShipper) { s.minLevel = l } }

// WithStaticFields adds fields (e.g. provider) to every entry unless the entry sets them.
func WithStaticFields(f map[string]string) ShipperOption {
	return func(s *LogShipper) { s.static = maps.Clone(f) }
}

// WithShipTimeout bounds one ShipLogs call of a flush (default: the client's timeout).
func WithShipTimeout(d time.Duration) ShipperOption { return func(s *LogShipper) { s.shipTimeout = d } }

// withTicker injects the flush tick channel (tests).
func withTicker(ch <-chan time.Time) ShipperOption { return func(s *LogShipper) { s.tick = ch } }

// ShipperStats counts what a LogShipper did.
type ShipperStats struct {
	// Enqueued counts entries accepted by Log.
	Enqueued uint64
	// Dropped counts entries lost to a full buffer, a failed batch, or a call after Stop.
	Dropped uint64
	// Shipped counts entries the API accepted.
	Shipped uint64
	// Batches counts successful ShipLogs calls.
	Batches uint64
	// FailedBatches counts ShipLogs calls that failed (their entries are dropped).
	FailedBatches uint64
}

// LogShipper batches log entries and ships them with Client.ShipLogs, best effort: Log
// never blocks, a full buffer drops entries, a failed batch is dropped. Nothing is shipped
// until SetClusterID. The API key never leaves in a shipped entry (see ShipLogs).
// Do not feed the shipper with the logs of its own client, or a failing API loops.
type LogShipper struct {
	client      *Client
	batchSize   int
	interval    time.Duration
	bufSize     int
	minLevel    LogLevel
	static      map[string]string
	shipTimeout time.Duration
	tick        <-chan time.Time

	in        chan LogEntry
	flushReq  chan chan error
	stopReq   chan context.Context
	done      chan struct{}
	startOnce sync.Once
	stopOnce  sync.Once
	stopped   atomic.Bool
	clusterID atomic.Pointer[string]

	enqueued, dropped, shipped, batches, failed atomic.Uint64
}

// NewLogShipper builds a shipper for client; call Start to run it and Stop to end it.
func NewLogShipper(client *Client, opts ...ShipperOption) *LogShipper {
	s := &LogShipper{
		client:    client,
		batchSize: DefaultLogBatchSize,
		interval:  DefaultLogFlushInterval,
		minLevel:  LogLevelDebug,
		flushReq:  make(chan chan error),
		stopReq:   make(chan context.Context),
		done:      make(chan struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	if s.batchSize < 1 {
		s.batchSize = DefaultLogBatchSize
	}
	if s.interval <= 0 {
		s.interval = DefaultLogFlushInterval
	}
	if s.bufSize < 1 {
		s.bufSize = 2*s.batchSize + 1
	}
	if s.shipTimeout <= 0 && client != nil {
		s.shipTimeout = client.timeout
	}
	s.in = make(chan LogEntry, s.bufSize)
	return s
}

// SetClusterID sets the cluster the logs belong to; entries wait until it is set.
func (s *LogShipper) SetClusterID(id string) { s.clusterID.Store(&id) }

func (s *LogShipper) cluster() string {
	if p := s.clusterID.Load(); p != nil {
		return *p
	}
	return ""
}

// Log queues e without blocking; it reports false when e was filtered or dropped.
func (s *LogShipper) Log(e LogEntry) bool {
	if e.Level.rank() < s.minLevel.rank() {
		return false
	}
	if s.stopped.Load() {
		s.dropped.Add(1)
		return false
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	select {
	case s.in <- e:
		s.enqueued.Add(1)
		return true
	default:
		s.dropped.Add(1)
		return false
	}
}

// Start runs the shipping loop in a goroutine; later calls do nothing.
func (s *LogShipper) Start() {
	s.startOnce.Do(func() { go s.loop() })
}

// Flush ships what is pending now and returns the error of the ship, if any.
func (s *LogShipper) Flush(ctx context.Context) error {
	reply := make(chan error, 1)
	select {
	case s.flushReq <- reply:
	case <-s.done:
		return errors.New("castai: log shipper stopped")
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stop ends the loop after a final flush bounded by ctx. It is safe to call more than once.
func (s *LogShipper) Stop(ctx context.Context) error {
	s.Start() // a never-started shipper still flushes what it buffered
	s.stopOnce.Do(func() {
		s.stopped.Store(true)
		select {
		case s.stopReq <- ctx:
		case <-s.done:
		}
	})
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stats returns the shipper's counters.
func (s *LogShipper) Stats() ShipperStats {
	return ShipperStats{
		Enqueued:      s.enqueued.Load(),
		Dropped:       s.dropped.Load(),
		Shipped:       s.shipped.Load(),
		Batches:       s.batches.Load(),
		FailedBatches: s.failed.Load(),
	}
}

func (s *LogShipper) loop() {
	defer close(s.done)
	tick := s.tick
	if tick == nil {
		t := time.NewTicker(s.interval)
		defer t.Stop()
		tick = t.C
	}
	var pending []LogEntry
	add := func(e LogEntry) {
		pending = append(pending, s.prepare(e))
		if over := len(pending) - s.bufSize; over > 0 { // no cluster ID yet: keep the newest
			pending = append(pending[:0], pending[over:]...)
			s.dropped.Add(uint64(over))
		}
	}
	for {
		select {
		case e := <-s.in:
			add(e)
			if len(pending) >= s.batchSize && s.cluster() != "" {
				pending = s.ship(context.Background(), pending)
			}
		case <-tick:
			pending = s.ship(context.Background(), pending)
		case reply := <-s.flushReq:
			s.drain(add)
			var err error
			pending, err = s.shipAll(context.Background(), pending)
			reply <- err
		case ctx := <-s.stopReq:
			s.drain(add)
			_, _ = s.shipAll(ctx, pending)
			return
		}
	}
}

// drain hands everything queued in the channel to add.
func (s *LogShipper) drain(add func(LogEntry)) {
	for {
		select {
		case e := <-s.in:
			add(e)
		default:
			return
		}
	}
}

// shipAll ships pending in batches; it returns what is left (all of it without a cluster ID).
func (s *LogShipper) shipAll(ctx context.Context, pending []LogEntry) ([]LogEntry, error) {
	if s.cluster() == "" {
		return pending, nil
	}
	var firstErr error
	for len(pending) > 0 {
		before := s.failed.Load()
		pending = s.ship(ctx, pending)
		if s.failed.Load() != before && firstErr == nil {
			firstErr = errors.New("castai: shipping logs failed")
		}
	}
	return pending, firstErr
}

// ship sends up to one batch from the head of pending and returns the rest.
func (s *LogShipper) ship(ctx context.Context, pending []LogEntry) []LogEntry {
	id := s.cluster()
	if id == "" || len(pending) == 0 {
		return pending
	}
	n := min(len(pending), s.batchSize)
	batch := append([]LogEntry(nil), pending[:n]...)
	rest := append(pending[:0], pending[n:]...)
	sctx, cancel := context.WithTimeout(ctx, s.shipTimeout)
	err := s.client.ShipLogs(sctx, id, LogBatch{Entries: batch})
	cancel()
	if err != nil {
		s.failed.Add(1)
		s.dropped.Add(uint64(n))
	} else {
		s.batches.Add(1)
		s.shipped.Add(uint64(n))
	}
	return rest
}

// prepare strips reserved fields and adds static ones.
func (s *LogShipper) prepare(e LogEntry) LogEntry {
	if len(e.Fields) == 0 && len(s.static) == 0 {
		return e
	}
	f := make(map[string]string, len(e.Fields)+len(s.static))
	for k, v := range s.static {
		f[k] = v
	}
	for k, v := range e.Fields {
		f[k] = v
	}
	for _, k := range reservedLogFields {
		delete(f, k)
	}
	e.Fields = f
	return e
}
