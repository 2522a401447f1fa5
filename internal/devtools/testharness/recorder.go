package testharness

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"sync"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// ProxiedRequest is one request a RecordingProxy forwarded.
type ProxiedRequest struct {
	// At is when the request reached the proxy.
	At time.Time
	// Method and Path are the request's.
	Method, Path string
	// Status is kube-apiserver's answer (502 when it could not be reached).
	Status int
}

// RecordingProxy forwards to this Env's kube-apiserver as the harness admin and records every request, so
// a fault test knows exactly what one operator process sent (the process gets the proxy's Kubeconfig).
type RecordingProxy struct {
	// Kubeconfig points at the proxy.
	Kubeconfig string

	srv    *http.Server
	mu     sync.Mutex
	reqs   []ProxiedRequest
	before func(method, path string)
}

// Before registers fn, called with each request before it is forwarded (it may block to hold the request
// while the test injects a fault); nil removes it.
func (p *RecordingProxy) Before(fn func(method, path string)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.before = fn
}

// StartRecordingProxy starts a RecordingProxy on a loopback port; name tells its kubeconfig apart.
func (e *Env) StartRecordingProxy(name string) (*RecordingProxy, error) {
	target, err := url.Parse(e.Config.Host)
	if err != nil {
		return nil, fmt.Errorf("recording proxy: parse API server URL: %w", err)
	}
	rt, err := rest.TransportFor(e.Config)
	if err != nil {
		return nil, fmt.Errorf("recording proxy: API server transport: %w", err)
	}
	p := &RecordingProxy{}
	proxy := &httputil.ReverseProxy{
		Rewrite:       func(r *httputil.ProxyRequest) { r.SetURL(target) },
		Transport:     rt,
		FlushInterval: -1,
		ErrorLog:      log.New(io.Discard, "", 0),
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("recording proxy: listen: %w", err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["recorded"] = &clientcmdapi.Cluster{Server: "http://" + ln.Addr().String()}
	cfg.AuthInfos["proxy"] = &clientcmdapi.AuthInfo{} // the proxy forwards as the harness admin
	cfg.Contexts["recorded"] = &clientcmdapi.Context{Cluster: "recorded", AuthInfo: "proxy"}
	cfg.CurrentContext = "recorded"
	p.Kubeconfig = filepath.Join(e.Dir, "kubeconfig-recorded-"+name)
	if err := clientcmd.WriteToFile(*cfg, p.Kubeconfig); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("recording proxy: write kubeconfig: %w", err)
	}
	p.srv = &http.Server{Handler: p.record(proxy), ReadHeaderTimeout: 30 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

func (p *RecordingProxy) record(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		at := time.Now()
		p.mu.Lock()
		before := p.before
		p.mu.Unlock()
		if before != nil {
			before(r.Method, r.URL.Path)
		}
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		p.mu.Lock()
		p.reqs = append(p.reqs, ProxiedRequest{At: at, Method: r.Method, Path: r.URL.Path, Status: sw.status})
		p.mu.Unlock()
	})
}

// Requests returns the requests forwarded so far (a watch is listed once it ends).
func (p *RecordingProxy) Requests() []ProxiedRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]ProxiedRequest(nil), p.reqs...)
}

// Close stops the proxy.
func (p *RecordingProxy) Close() { _ = p.srv.Close() }

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) { w.status = code; w.ResponseWriter.WriteHeader(code) }

// Flush passes streaming (watch) responses through.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
