package testharness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
)

// Control-plane faults for the fault-injection tests: a kube-apiserver restart and an etcd pause, done to
// the processes of this Env while everything else keeps running.

// controlPlaneProcess finds a direct child of this process by command name whose arguments satisfy match,
// and returns its PID and command line.
func controlPlaneProcess(name string, match func(args []string) bool) (int, []string, error) {
	for _, pid := range childPIDs() {
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err != nil || strings.TrimSpace(string(comm)) != name {
			continue
		}
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
		if match(args) {
			return pid, args, nil
		}
	}
	return 0, nil, fmt.Errorf("no %s process of this control plane found", name)
}

func flagValue(args []string, name string) string {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
	}
	return ""
}

// apiServerProcess returns the PID and command line of this Env's kube-apiserver (the one serving Config.Host).
func (e *Env) apiServerProcess() (int, []string, error) {
	u, err := url.Parse(e.Config.Host)
	if err != nil {
		return 0, nil, fmt.Errorf("parse API server URL: %w", err)
	}
	return controlPlaneProcess("kube-apiserver", func(args []string) bool { return flagValue(args, "secure-port") == u.Port() })
}

// EtcdPID returns the PID of this Env's etcd (the one its kube-apiserver stores into).
func (e *Env) EtcdPID() (int, error) {
	_, apiArgs, err := e.apiServerProcess()
	if err != nil {
		return 0, err
	}
	servers := flagValue(apiArgs, "etcd-servers")
	pid, _, err := controlPlaneProcess("etcd", func(args []string) bool {
		return servers != "" && flagValue(args, "listen-client-urls") == servers
	})
	return pid, err
}

// RestartAPIServer restarts kube-apiserver the way a control-plane upgrade or a crash of its pod does: it is
// stopped with SIGTERM (SIGKILL after 30 s) and started again with the same command line, so it serves on the
// same port with the same certificates and the same etcd. It returns once the new process answers /readyz,
// with how long the API was unavailable.
func (e *Env) RestartAPIServer(ctx context.Context) (time.Duration, error) {
	pid, args, err := e.apiServerProcess()
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return 0, fmt.Errorf("stop kube-apiserver: %w", err)
	}
	if err := waitGone(ctx, pid, 30*time.Second); err != nil {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		if err := waitGone(ctx, pid, 10*time.Second); err != nil {
			return 0, fmt.Errorf("kube-apiserver %d does not stop: %w", pid, err)
		}
	}
	var logs io.Writer = io.Discard
	if os.Getenv("CASTWARE_TEST_LOGS") == "1" {
		logs = os.Stderr
	}
	if err := e.StartProcess(logs, args[0], args[1:]...); err != nil {
		return 0, fmt.Errorf("start kube-apiserver again: %w", err)
	}
	if err := e.waitReady(ctx, 2*time.Minute); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// waitGone waits until process pid no longer exists (it was reaped).
func waitGone(ctx context.Context, pid int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return Poll(ctx, 20*time.Millisecond, func() error {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return nil
		}
		return fmt.Errorf("process %d still running", pid)
	})
}

// waitReady polls the API server's /readyz until it answers 200.
func (e *Env) waitReady(ctx context.Context, timeout time.Duration) error {
	hc, err := rest.HTTPClientFor(e.Config)
	if err != nil {
		return fmt.Errorf("http client for the API server: %w", err)
	}
	hc.Timeout = 2 * time.Second
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := Poll(ctx, 100*time.Millisecond, func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(e.Config.Host, "/")+"/readyz", nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz: %s", resp.Status)
		}
		return nil
	}); err != nil {
		return fmt.Errorf("kube-apiserver not ready: %w", err)
	}
	return nil
}

// PauseEtcd freezes etcd (SIGSTOP), as a stalled disk or a paused VM would: every API request that reads or
// writes storage hangs until resume (SIGCONT) is called. Call resume exactly once; it is safe to defer.
func (e *Env) PauseEtcd() (resume func() error, err error) {
	pid, err := e.EtcdPID()
	if err != nil {
		return nil, err
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		return nil, fmt.Errorf("pause etcd: %w", err)
	}
	resumed := false
	return func() error {
		if resumed {
			return nil
		}
		resumed = true
		if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
			return fmt.Errorf("resume etcd: %w", err)
		}
		return nil
	}, nil
}

// StopAPIServer stops kube-apiserver with SIGKILL, as a crash of its node would, and returns once the
// process is gone; start runs it again with the same command line and returns once it answers /readyz.
// Call start exactly once.
func (e *Env) StopAPIServer(ctx context.Context) (start func(context.Context) error, err error) {
	pid, args, err := e.apiServerProcess()
	if err != nil {
		return nil, err
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return nil, fmt.Errorf("kill kube-apiserver: %w", err)
	}
	if err := waitGone(ctx, pid, 30*time.Second); err != nil {
		return nil, fmt.Errorf("kube-apiserver %d does not stop: %w", pid, err)
	}
	return func(ctx context.Context) error {
		var logs io.Writer = io.Discard
		if os.Getenv("CASTWARE_TEST_LOGS") == "1" {
			logs = os.Stderr
		}
		if err := e.StartProcess(logs, args[0], args[1:]...); err != nil {
			return fmt.Errorf("start kube-apiserver again: %w", err)
		}
		return e.waitReady(ctx, 2*time.Minute)
	}, nil
}
