package testharness

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// OperatorProcess is the operator running as its own process, as it does in a cluster (benchmarks and
// fault-injection tests kill, restart and measure it).
type OperatorProcess struct {
	cmd *exec.Cmd
	// MetricsAddr and ProbeAddr are the loopback addresses of its metrics and health endpoints.
	MetricsAddr, ProbeAddr string
	// LogPath is the file its output goes to.
	LogPath string

	exited chan struct{}
}

// FreeAddr returns a free loopback address.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// BuildOperator compiles the operator binary the way `make build` does, into dir.
func BuildOperator(ctx context.Context, dir string) (string, error) {
	out := filepath.Join(dir, "castware-operator")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", out, ".")
	cmd.Dir = RepoRoot()
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build the operator: %v\n%s", err, b)
	}
	return out, nil
}

// OperatorConfig says how to run the operator process.
type OperatorConfig struct {
	// Binary is the operator binary (BuildOperator).
	Binary string
	// Kubeconfig is the identity it runs as.
	Kubeconfig string
	// Namespace is the namespace it manages.
	Namespace string
	// LogDir receives operator.log.
	LogDir string
	// Env is extra environment (KEY=value).
	Env []string
	// Args are extra flags (e.g. --ready-timeout=20s); they come after the harness's own, so they win.
	Args []string
	// Wrap, when set, turns the operator's command line into the one to run (Stress.Command pins it to a core).
	Wrap func(argv ...string) []string
}

// StartOperator starts the operator process and waits until its readiness probe answers.
func StartOperator(ctx context.Context, c OperatorConfig) (*OperatorProcess, error) {
	bin, kubeconfig, namespace, logDir, env := c.Binary, c.Kubeconfig, c.Namespace, c.LogDir, c.Env
	metrics, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	probe, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(logDir, "operator.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	// Plain-HTTP metrics, so Metric can read them; a test of the secure endpoint passes --metrics-secure=true.
	args := append([]string{"--namespace=" + namespace, "--leader-elect", "--metrics-bind-address=" + metrics, "--metrics-secure=false",
		"--health-probe-bind-address=" + probe, "--watches-file=" + filepath.Join(RepoRoot(), "watches.yaml")}, c.Args...)
	argv := append([]string{bin}, args...)
	if c.Wrap != nil {
		argv = c.Wrap(argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(append(os.Environ(), "KUBECONFIG="+kubeconfig, "POD_NAMESPACE="+namespace), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the operator: %w", err)
	}
	p := &OperatorProcess{cmd: cmd, MetricsAddr: metrics, ProbeAddr: probe, LogPath: logPath, exited: make(chan struct{})}
	if r, err := getReaper(); err == nil {
		r.track(cmd.Process.Pid)
	}
	go func() { _ = cmd.Wait(); _ = logf.Close(); close(p.exited) }()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			return nil, fmt.Errorf("the operator exited during start-up (log: %s)", logPath)
		default:
		}
		if resp, err := http.Get("http://" + probe + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		select {
		case <-ctx.Done():
			p.Stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	p.Stop()
	return nil, fmt.Errorf("the operator did not become ready within 2 minutes (log: %s)", logPath)
}

// Pid is the process ID.
func (p *OperatorProcess) Pid() int { return p.cmd.Process.Pid }

// Exited is closed when the process has ended.
func (p *OperatorProcess) Exited() <-chan struct{} { return p.exited }

// Stop stops the process gracefully (SIGTERM), killing it after 15 seconds.
func (p *OperatorProcess) Stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
	if r, err := getReaper(); err == nil {
		r.untrack(p.cmd.Process.Pid)
	}
}

// Kill kills the process at once (SIGKILL), as a crash or an OOM kill would.
func (p *OperatorProcess) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
	if r, err := getReaper(); err == nil {
		r.untrack(p.cmd.Process.Pid)
	}
}

// CPUSeconds is the process's user+system CPU time.
func (p *OperatorProcess) CPUSeconds() (float64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	s := string(raw)
	fields := strings.Fields(s[strings.LastIndex(s, ")")+2:])
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / 100, nil // USER_HZ is 100 on Linux
}

// RSSBytes is the process's resident set size.
func (p *OperatorProcess) RSSBytes() (float64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "VmRSS:") {
			fs := strings.Fields(sc.Text())
			kb, err := strconv.ParseFloat(fs[1], 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("VmRSS not found")
}

// MemoryBreakdown returns the process's resident memory split as /proc/<pid>/smaps_rollup reports it
// (Rss, Anonymous, and file-backed pages such as the binary's code), in bytes.
func (p *OperatorProcess) MemoryBreakdown() (map[string]float64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", p.cmd.Process.Pid))
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(raw), "\n") {
		fs := strings.Fields(line)
		if len(fs) == 3 && fs[2] == "kB" {
			v, err := strconv.ParseFloat(fs[1], 64)
			if err == nil {
				out[strings.TrimSuffix(fs[0], ":")] = v * 1024
			}
		}
	}
	return out, nil
}

// Metric reads one value from the operator's plain-HTTP Prometheus endpoint (summing series whose labels
// contain match).
func (p *OperatorProcess) Metric(name, match string) (float64, error) {
	resp, err := http.Get("http://" + p.MetricsAddr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	total, found := 0.0, false
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "#") || !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		if rest != "" && rest[0] != ' ' && rest[0] != '{' {
			continue
		}
		if match != "" && !strings.Contains(rest, match) {
			continue
		}
		fs := strings.Fields(line)
		v, err := strconv.ParseFloat(fs[len(fs)-1], 64)
		if err == nil {
			total += v
			found = true
		}
	}
	if !found {
		return 0, fmt.Errorf("metric %s not found", name)
	}
	return total, nil
}
