package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// DefaultFilePoll is how often a FileSource looks at its files.
const DefaultFilePoll = 10 * time.Second

// FileSource serves the certificate pair in <dir>/tls.crt and <dir>/tls.key, written by someone else
// (cert-manager into a mounted Secret, OLM), and reloads it when the files change. Until they hold a usable
// pair (a Secret mounted before cert-manager filled it) it serves nothing and its readiness check fails,
// instead of the process exiting, so the pod becomes ready by itself once the certificate arrives.
type FileSource struct {
	dir      string
	interval time.Duration
	current  atomic.Pointer[tls.Certificate]
	loaded   atomic.Pointer[[]byte] // the certificate file content being served
	log      logr.Logger
}

// NewFileSource returns a FileSource for dir, polled every interval (0: DefaultFilePoll), and loads the pair
// once right away.
func NewFileSource(dir string, interval time.Duration) *FileSource {
	if interval <= 0 {
		interval = DefaultFilePoll
	}
	f := &FileSource{dir: dir, interval: interval, log: log.Log.WithName("webhook-certs").WithValues("dir", dir)}
	_ = f.Load()
	return f
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: every replica serves.
func (f *FileSource) NeedLeaderElection() bool { return false }

// Start reloads the pair whenever the files change, until ctx ends.
func (f *FileSource) Start(ctx context.Context) error {
	t := time.NewTicker(f.interval)
	defer t.Stop()
	for {
		if err := f.Load(); err != nil && f.current.Load() == nil {
			f.log.V(1).Info("no usable webhook certificate yet", "reason", err.Error())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Load reads the files and serves their pair when it changed and is usable; a broken pair keeps the previous
// one in service.
func (f *FileSource) Load() error {
	crt, err := os.ReadFile(filepath.Join(f.dir, KeyCert))
	if err != nil {
		return fmt.Errorf("read %s: %w", KeyCert, err)
	}
	key, err := os.ReadFile(filepath.Join(f.dir, KeyKey))
	if err != nil {
		return fmt.Errorf("read %s: %w", KeyKey, err)
	}
	if prev := f.loaded.Load(); prev != nil && bytes.Equal(*prev, crt) && f.current.Load() != nil {
		return nil
	}
	pair, err := tls.X509KeyPair(crt, key)
	if err != nil {
		return fmt.Errorf("parse the certificate pair: %w", err)
	}
	f.current.Store(&pair)
	f.loaded.Store(&crt)
	f.log.Info("serving webhook certificate", "serial", pair.Leaf.SerialNumber.String(), "notAfter", pair.Leaf.NotAfter.UTC().Format(time.RFC3339))
	return nil
}

// GetCertificate returns the pair being served (for tls.Config.GetCertificate).
func (f *FileSource) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if c := f.current.Load(); c != nil {
		return c, nil
	}
	return nil, fmt.Errorf("no webhook serving certificate in %s yet", f.dir)
}

// Checker is a readiness check: ready while a certificate that has not expired is served.
func (f *FileSource) Checker(*http.Request) error {
	c := f.current.Load()
	if c == nil {
		return fmt.Errorf("no webhook serving certificate in %s yet", f.dir)
	}
	if c.Leaf != nil && time.Now().After(c.Leaf.NotAfter) {
		return fmt.Errorf("the webhook serving certificate expired at %s", c.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}
