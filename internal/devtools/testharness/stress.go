package testharness

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// StressOptions says how hard Stress starves the operator.
type StressOptions struct {
	// CPU is the core the operator, kube-apiserver and etcd are pinned to, beside Spinners busy loops.
	CPU int
	// Spinners is the number of busy loops competing for CPU.
	Spinners int
	// WatchLag delays every chunk of a watch stream by this much after kube-apiserver sent it: the
	// operator's cache learns of a write (its own included) late.
	WatchLag time.Duration
	// MinWriteDelay and MaxWriteDelay bound the delay before each write request reaches kube-apiserver.
	MinWriteDelay, MaxWriteDelay time.Duration
	// MaxReadDelay bounds the delay of each answer to a read (a GET that is not a watch) after
	// kube-apiserver gave it: what the operator read may have changed by the time it acts on it.
	MaxReadDelay time.Duration
	// ConflictRate is the share of castware status writes carrying a resourceVersion that are answered
	// 409 Conflict, as when another writer (the reconciler, the reporter) got there first.
	ConflictRate float64
}

// DefaultStress is the starvation of `make test-faults-stress`.
var DefaultStress = StressOptions{CPU: 0, Spinners: 2, WatchLag: 400 * time.Millisecond,
	MinWriteDelay: 10 * time.Millisecond, MaxWriteDelay: 150 * time.Millisecond, MaxReadDelay: 250 * time.Millisecond, ConflictRate: 0.3}

// Stress starves the operator processes of a test the way a busy node and a slow control plane do, to
// reproduce on demand the windows that only show on a loaded machine. The operator reaches kube-apiserver
// through a loopback proxy (plain HTTP on 127.0.0.1, forwarded with the harness admin's credentials) that
// lags watch streams, slows writes and answers some optimistic status writes with a conflict; the operator,
// kube-apiserver and etcd share one core with busy loops.
type Stress struct {
	opts       StressOptions
	kubeconfig string
	srv        *http.Server
	stop       chan struct{}
	wg         sync.WaitGroup
	conflicts  atomic.Int64
}

// StartStress starts the proxy in front of e's kube-apiserver, pins kube-apiserver and etcd and starts the
// busy loops. Stop ends them.
func StartStress(e *Env, opts StressOptions) (*Stress, error) {
	if opts.MaxWriteDelay < opts.MinWriteDelay {
		return nil, fmt.Errorf("stress: MaxWriteDelay %s < MinWriteDelay %s", opts.MaxWriteDelay, opts.MinWriteDelay)
	}
	s := &Stress{opts: opts, stop: make(chan struct{})}
	if err := s.serve(e); err != nil {
		return nil, err
	}
	for _, name := range []string{"kube-apiserver", "etcd"} {
		pid, _, err := controlPlaneProcess(name, func([]string) bool { return true })
		if err == nil {
			err = PinThreads(pid, opts.CPU)
		}
		if err != nil {
			s.Stop()
			return nil, fmt.Errorf("stress: pin %s: %w", name, err)
		}
	}
	for range opts.Spinners {
		s.wg.Add(1)
		go s.spin()
	}
	return s, nil
}

// Kubeconfig is a kubeconfig for the harness admin through the starving proxy.
func (s *Stress) Kubeconfig() string { return s.kubeconfig }

// Conflicts is the number of conflicts the proxy injected so far.
func (s *Stress) Conflicts() int64 { return s.conflicts.Load() }

// Command returns the command line that runs argv pinned to the stressed core.
func (s *Stress) Command(argv ...string) []string {
	return append([]string{"taskset", "-c", strconv.Itoa(s.opts.CPU)}, argv...)
}

// Stop ends the busy loops and the proxy (open connections are cut).
func (s *Stress) Stop() {
	select {
	case <-s.stop:
		return
	default:
	}
	close(s.stop)
	if s.srv != nil {
		_ = s.srv.Close()
	}
	s.wg.Wait()
}

func (s *Stress) spin() {
	defer s.wg.Done()
	runtime.LockOSThread() // the thread stays pinned and dies with the goroutine
	var set unix.CPUSet
	set.Set(s.opts.CPU)
	_ = unix.SchedSetaffinity(0, &set)
	for n := 0; ; n++ {
		if n%1_000_000 == 0 {
			select {
			case <-s.stop:
				return
			default:
			}
		}
	}
}

func (s *Stress) serve(e *Env) error {
	target, err := url.Parse(e.Config.Host)
	if err != nil {
		return fmt.Errorf("stress: parse API server URL: %w", err)
	}
	rt, err := rest.TransportFor(e.Config)
	if err != nil {
		return fmt.Errorf("stress: API server transport: %w", err)
	}
	proxy := &httputil.ReverseProxy{
		Rewrite:        func(r *httputil.ProxyRequest) { r.SetURL(target) },
		Transport:      rt,
		FlushInterval:  -1,
		ModifyResponse: s.lag,
		ErrorLog:       log.New(io.Discard, "", 0),
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("stress: listen: %w", err)
	}
	if s.kubeconfig, err = proxiedKubeconfig(e, ln.Addr().String()); err != nil {
		_ = ln.Close()
		return err
	}
	s.srv = &http.Server{Handler: s.handler(proxy), ReadHeaderTimeout: 30 * time.Second}
	s.wg.Add(1)
	go func() { defer s.wg.Done(); _ = s.srv.Serve(ln) }()
	return nil
}

// handler delays writes and answers some optimistic castware status writes with a conflict.
func (s *Stress) handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		if !s.sleep(randomDelay(s.opts.MinWriteDelay, s.opts.MaxWriteDelay)) {
			http.Error(w, "stress proxy stopping", http.StatusServiceUnavailable)
			return
		}
		if s.injectConflict(r) {
			s.conflicts.Add(1)
			writeConflict(w, r.URL.Path)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// randomDelay returns a delay in [lo, hi].
func randomDelay(lo, hi time.Duration) time.Duration {
	if span := int64(hi - lo); span > 0 {
		return lo + time.Duration(rand.Int64N(span+1))
	}
	return lo
}

// injectConflict decides whether r, a write, gets a conflict: only castware status writes that carry a
// resourceVersion precondition, the writes a real kube-apiserver can refuse that way.
func (s *Stress) injectConflict(r *http.Request) bool {
	if s.opts.ConflictRate <= 0 || !strings.Contains(r.URL.Path, "/castware.cast.ai/") || !strings.HasSuffix(r.URL.Path, "/status") {
		return false
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil {
		return false
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	return bytes.Contains(body, []byte(`"resourceVersion"`)) && rand.Float64() < s.opts.ConflictRate
}

func writeConflict(w http.ResponseWriter, path string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusConflict)
	_, _ = fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Operation cannot be fulfilled on %s: the object has been modified; please apply your changes to the latest version and try again","reason":"Conflict","code":409}`, path)
}

// lag makes the body of a watch response arrive WatchLag after kube-apiserver sent each chunk, and holds
// the answer to a read for up to MaxReadDelay.
func (s *Stress) lag(resp *http.Response) error {
	q := resp.Request.URL.Query()
	switch {
	case q.Get("watch") == "true" || q.Get("watch") == "1":
		if s.opts.WatchLag > 0 {
			resp.Body = newLaggedBody(resp.Body, s.opts.WatchLag, s.stop)
		}
	case resp.Request.Method == http.MethodGet:
		s.sleep(randomDelay(0, s.opts.MaxReadDelay))
	}
	return nil
}

func (s *Stress) sleep(d time.Duration) bool {
	select {
	case <-time.After(d):
		return true
	case <-s.stop:
		return false
	}
}

type stamped struct {
	b   []byte
	at  time.Time
	err error
}

// laggedBody hands out each chunk of its source no earlier than lag after it was read: a constant delay,
// not a throttle, and in order.
type laggedBody struct {
	src    io.ReadCloser
	chunks chan stamped
	stop   <-chan struct{}
	lag    time.Duration
	cur    []byte
	err    error
}

func newLaggedBody(src io.ReadCloser, lag time.Duration, stop <-chan struct{}) *laggedBody {
	b := &laggedBody{src: src, chunks: make(chan stamped, 1024), stop: stop, lag: lag}
	go b.fill()
	return b
}

func (b *laggedBody) fill() {
	defer close(b.chunks)
	for {
		buf := make([]byte, 32<<10)
		n, err := b.src.Read(buf)
		c := stamped{b: buf[:n], at: time.Now(), err: err}
		select {
		case b.chunks <- c:
		case <-b.stop:
			return
		}
		if err != nil {
			return
		}
	}
}

func (b *laggedBody) Read(p []byte) (int, error) {
	for len(b.cur) == 0 {
		if b.err != nil {
			return 0, b.err
		}
		c, ok := <-b.chunks
		if !ok {
			return 0, io.EOF
		}
		if wait := time.Until(c.at.Add(b.lag)); wait > 0 {
			select {
			case <-time.After(wait):
			case <-b.stop:
				return 0, io.ErrUnexpectedEOF
			}
		}
		b.cur, b.err = c.b, c.err
	}
	n := copy(p, b.cur)
	b.cur = b.cur[n:]
	return n, nil
}

func (b *laggedBody) Close() error { return b.src.Close() }

// PinThreads pins every thread of process pid to cpu (threads it starts later inherit the pinning).
func PinThreads(pid, cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	for range 2 { // a thread started during the first pass is caught by the second
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			return fmt.Errorf("threads of %d: %w", pid, err)
		}
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			if err := unix.SchedSetaffinity(tid, &set); err != nil && !errors.Is(err, unix.ESRCH) {
				return fmt.Errorf("pin thread %d: %w", tid, err)
			}
		}
	}
	return nil
}

func proxiedKubeconfig(e *Env, addr string) (string, error) {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["stressed"] = &clientcmdapi.Cluster{Server: "http://" + addr}
	cfg.AuthInfos["proxy"] = &clientcmdapi.AuthInfo{} // the proxy forwards as the harness admin
	cfg.Contexts["stressed"] = &clientcmdapi.Context{Cluster: "stressed", AuthInfo: "proxy"}
	cfg.CurrentContext = "stressed"
	path := filepath.Join(e.Dir, "kubeconfig-stressed")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return "", fmt.Errorf("stress: write kubeconfig: %w", err)
	}
	return path, nil
}

// StressFromEnv returns the stress options CASTWARE_FAULTS_STRESS asks for: unset or 0 is none, 1 the
// default starvation.
func StressFromEnv() (StressOptions, bool, error) {
	switch v := os.Getenv("CASTWARE_FAULTS_STRESS"); v {
	case "", "0":
		return StressOptions{}, false, nil
	case "1":
		return DefaultStress, true, nil
	default:
		return StressOptions{}, false, fmt.Errorf("CASTWARE_FAULTS_STRESS=%q: want 0 or 1", v)
	}
}
