package console

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/castware-operator/castware-operator/internal/castai"
	"github.com/castware-operator/castware-operator/internal/castai/fake"
)

func TestLogSinkShipsToTheRegisteredCluster(t *testing.T) {
	srv := fake.NewServer()
	defer srv.Close()
	srv.AddCluster(castai.ExternalCluster{ID: "11111111-2222-4333-8444-555555555555", Name: "c"})
	client, err := castai.New(srv.URL(), castai.StaticKey(fake.DefaultAPIKey), castai.WithVersion("v1.2.3"))
	if err != nil {
		t.Fatal(err)
	}
	sink := NewLogSink(zapcore.InfoLevel)
	logger := zap.New(zapcore.NewTee(zapcore.NewNopCore(), sink)).Named("setup").With(zap.String("namespace", "castai-agent"))
	logger.Info("before registration: not shipped")
	sink.Attach(client, "11111111-2222-4333-8444-555555555555", "eks")
	logger.Debug("below the level: not shipped")
	logger.Info("reconciled", zap.Int("revision", 3))
	logger.Error("upgrade failed, key " + fake.DefaultAPIKey + " rejected")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := sink.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	var entries []castai.LogEntry
	for _, b := range srv.Logs("11111111-2222-4333-8444-555555555555") {
		entries = append(entries, b.Entries...)
	}
	if len(entries) != 2 {
		t.Fatalf("shipped %d entries, want 2: %+v", len(entries), entries)
	}
	if e := entries[0]; e.Message != "reconciled" || e.Level != castai.LogLevelInfo || e.Fields["revision"] != "3" || e.Fields["namespace"] != "castai-agent" ||
		e.Fields["logger"] != "setup" || e.Fields["provider"] != "eks" {
		t.Fatalf("entry = %+v", e)
	}
	if e := entries[1]; e.Level != castai.LogLevelError || strings.Contains(e.Message, fake.DefaultAPIKey) {
		t.Fatalf("error entry = %+v (the key must be redacted)", e)
	}
}
