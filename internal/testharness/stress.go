package testharness

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/client-go/tools/clientcmd"
)

// StressOptions says how hard Stress starves the operator.
type StressOptions struct {
	// CPU is the core the operator, kube-apiserver and etcd are pinned to, beside Spinners busy loops.
	CPU int
	// Spinners is the number of busy loops competing for CPU.
	Spinners int
	// MinDelay and MaxDelay bound the delay added to every chunk of bytes between the operator and
	// kube-apiserver, in each direction: writes land late and watch events reach the operator's cache late.
	MinDelay, MaxDelay time.Duration
}

// DefaultStress is the starvation of `make test-faults-stress`.
var DefaultStress = StressOptions{CPU: 0, Spinners: 2, MinDelay: 5 * time.Millisecond, MaxDelay: 60 * time.Millisecond}

// Stress starves the operator processes of a test the way a busy node and a slow control plane do, to
// reproduce on demand the windows that only show on a loaded machine: the operator reaches kube-apiserver
// through a loopback proxy that delays every chunk, and the operator, kube-apiserver and etcd share one core
// with busy loops.
type Stress struct {
	opts       StressOptions
	kubeconfig string
	ln         net.Listener
	stop       chan struct{}
	wg         sync.WaitGroup
}

// StartStress starts the proxy in front of e's kube-apiserver, pins kube-apiserver and etcd and starts the
// busy loops. Stop ends them.
func StartStress(e *Env, opts StressOptions) (*Stress, error) {
	if opts.MaxDelay < opts.MinDelay {
		return nil, fmt.Errorf("stress: MaxDelay %s < MinDelay %s", opts.MaxDelay, opts.MinDelay)
	}
	u, err := url.Parse(e.Config.Host)
	if err != nil {
		return nil, fmt.Errorf("stress: parse API server URL: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("stress: listen: %w", err)
	}
	s := &Stress{opts: opts, ln: ln, stop: make(chan struct{})}
	if s.kubeconfig, err = proxiedKubeconfig(e, ln.Addr().String()); err != nil {
		_ = ln.Close()
		return nil, err
	}
	s.wg.Add(1)
	go s.serve(u.Host)
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

// Kubeconfig is the admin kubeconfig through the delaying proxy.
func (s *Stress) Kubeconfig() string { return s.kubeconfig }

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
	_ = s.ln.Close()
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

func (s *Stress) serve(target string) {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go s.relay(c, target)
	}
}

func (s *Stress) relay(c net.Conn, target string) {
	defer s.wg.Done()
	up, err := net.DialTimeout("tcp", target, 10*time.Second)
	if err != nil {
		_ = c.Close()
		return
	}
	done := make(chan struct{}, 2)
	go func() { s.pump(up, c); done <- struct{}{} }()
	go func() { s.pump(c, up); done <- struct{}{} }()
	select {
	case <-done:
	case <-s.stop:
	}
	_ = c.Close()
	_ = up.Close()
	<-done
}

// pump copies src to dst, each chunk after a random delay within the bounds (in order: a later chunk never
// overtakes an earlier one).
func (s *Stress) pump(dst io.Writer, src io.Reader) {
	buf := make([]byte, 32<<10)
	span := int64(s.opts.MaxDelay - s.opts.MinDelay)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			d := s.opts.MinDelay
			if span > 0 {
				d += time.Duration(rand.Int64N(span + 1))
			}
			select {
			case <-time.After(d):
			case <-s.stop:
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

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
	cfg, err := clientcmd.LoadFromFile(e.KubeconfigPath)
	if err != nil {
		return "", fmt.Errorf("stress: read kubeconfig: %w", err)
	}
	for _, c := range cfg.Clusters {
		c.Server = "https://" + addr
	}
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

