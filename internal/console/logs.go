package console

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/castware-operator/castware-operator/internal/castai"
)

// LogSink is a zap core that ships the operator's own logs to Cast AI (the console shows them), the way
// the documented operator does. Nothing is shipped until a Cluster is registered; shipping is best effort
// (a bounded buffer, never blocking a log call) and the API key is redacted from every entry.
type LogSink struct {
	level  zapcore.Level
	fields []zapcore.Field
	state  *sinkState
}

type sinkState struct {
	mu      sync.RWMutex
	shipper *castai.LogShipper
	cluster string
}

var _ zapcore.Core = (*LogSink)(nil)

// NewLogSink returns a sink shipping entries at level and above (info by default in main).
func NewLogSink(level zapcore.Level) *LogSink {
	return &LogSink{level: level, state: &sinkState{}}
}

// Attach starts shipping to a registered cluster through client (replacing an earlier target).
func (s *LogSink) Attach(client *castai.Client, clusterID, provider string) {
	st := s.state
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.shipper != nil && st.cluster == clusterID {
		return
	}
	old := st.shipper
	sh := castai.NewLogShipper(client, castai.WithStaticFields(map[string]string{"provider": provider}))
	sh.SetClusterID(clusterID)
	sh.Start()
	st.shipper, st.cluster = sh, clusterID
	if old != nil {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = old.Stop(ctx)
		}()
	}
}

// Stop flushes and stops shipping.
func (s *LogSink) Stop(ctx context.Context) error {
	st := s.state
	st.mu.Lock()
	sh := st.shipper
	st.shipper = nil
	st.mu.Unlock()
	if sh == nil {
		return nil
	}
	return sh.Stop(ctx)
}

// Enabled implements zapcore.Core.
func (s *LogSink) Enabled(l zapcore.Level) bool { return l >= s.level }

// With implements zapcore.Core.
func (s *LogSink) With(fields []zapcore.Field) zapcore.Core {
	return &LogSink{level: s.level, fields: append(append([]zapcore.Field{}, s.fields...), fields...), state: s.state}
}

// Check implements zapcore.Core.
func (s *LogSink) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if s.Enabled(e.Level) {
		return ce.AddCore(e, s)
	}
	return ce
}

// Write implements zapcore.Core: the entry is queued for shipping, never blocking.
func (s *LogSink) Write(e zapcore.Entry, fields []zapcore.Field) error {
	st := s.state
	st.mu.RLock()
	sh := st.shipper
	st.mu.RUnlock()
	if sh == nil {
		return nil
	}
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range s.fields {
		f.AddTo(enc)
	}
	for _, f := range fields {
		f.AddTo(enc)
	}
	out := make(map[string]string, len(enc.Fields)+1)
	for k, v := range enc.Fields {
		out[k] = fmt.Sprint(v)
	}
	if e.LoggerName != "" {
		out["logger"] = e.LoggerName
	}
	sh.Log(castai.LogEntry{Level: logLevel(e.Level), Message: e.Message, Time: e.Time, Fields: out})
	return nil
}

// Sync implements zapcore.Core.
func (s *LogSink) Sync() error { return nil }

func logLevel(l zapcore.Level) castai.LogLevel {
	switch {
	case l >= zapcore.FatalLevel:
		return castai.LogLevelFatal
	case l >= zapcore.ErrorLevel:
		return castai.LogLevelError
	case l >= zapcore.WarnLevel:
		return castai.LogLevelWarning
	case l >= zapcore.InfoLevel:
		return castai.LogLevelInfo
	}
	return castai.LogLevelDebug
}
