package main

import (
	"bytes"
	"strings"
	"testing"

	"go.uber.org/zap/zapcore"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/castware-operator/castware-operator/internal/redact"
)

// TestKlogLinesAreRedacted: client-go and Helm's Kubernetes client log through klog; those lines must go
// through the operator's logger and its redaction like every other line.
func TestKlogLinesAreRedacted(t *testing.T) {
	const key = "klog-test-key-0123456789abcdef"
	redact.Add(key)
	var out bytes.Buffer
	zopts := zap.Options{TimeEncoder: zapcore.ISO8601TimeEncoder, DestWriter: redact.Writer(&out)}
	setupLogging(&zopts, nil)
	defer klog.ClearLogger()
	klog.InfoS("request failed", "body", `{"apiKey":"`+key+`"}`)
	klog.Errorf("rendered value %s rejected", key)
	klog.Flush()
	got := out.String()
	if !strings.Contains(got, "request failed") || !strings.Contains(got, "rendered value") {
		t.Fatalf("klog lines did not reach the operator's logger:\n%s", got)
	}
	if strings.Contains(got, key) || !strings.Contains(got, redact.Placeholder) {
		t.Fatalf("klog lines carry the key:\n%s", got)
	}
}
