package certs

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func writePair(t *testing.T, dir string, crt, key []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, KeyCert), crt, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, KeyKey), key, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestFileSource: a mounted Secret that is still empty is waited for (not ready, no certificate, no exit);
// the pair is served once written, a renewal is picked up, and a broken pair keeps the previous one.
func TestFileSource(t *testing.T) {
	now := time.Now()
	ca, err := newCA(now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	issue := func() *pair {
		p, err := ca.issue([]string{"svc.ns.svc"}, nil, now, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	dir := t.TempDir()
	writePair(t, dir, nil, nil) // cert-manager has not filled the Secret yet
	fs := NewFileSource(dir, 10*time.Millisecond)
	if fs.Checker(nil) == nil {
		t.Fatal("ready without a certificate")
	}
	if _, err := fs.GetCertificate(nil); err == nil {
		t.Fatal("served a certificate from empty files")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = fs.Start(ctx) }()

	first := issue()
	writePair(t, dir, first.certPEM, first.keyPEM)
	waitServing(t, fs, first)
	second := issue()
	writePair(t, dir, second.certPEM, second.keyPEM)
	waitServing(t, fs, second)
	writePair(t, dir, []byte("garbage"), second.keyPEM)
	if err := fs.Load(); err == nil {
		t.Fatal("a broken pair loaded")
	}
	waitServing(t, fs, second)
	if err := fs.Checker(nil); err != nil {
		t.Fatalf("not ready while serving: %v", err)
	}
}

func waitServing(t *testing.T, fs *FileSource, want *pair) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		c, err := fs.GetCertificate(nil)
		if err == nil && c.Leaf != nil && c.Leaf.Equal(want.leaf) {
			return
		}
		select {
		case <-deadline:
			t.Fatalf("not serving the expected certificate (err %v)", err)
		case <-tick.C:
		}
	}
}
