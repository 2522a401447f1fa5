package testharness

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// PIDDir is where every harness records the PIDs it started (one file per test process), so .ci/run can
// kill leftovers of a test binary that was killed before it could clean up.
func PIDDir() string { return filepath.Join(os.TempDir(), "castware-test-pids") }

// reaper kills the processes a test binary started when that binary dies, however it dies: a shell
// child blocks reading a pipe only the test binary holds open; when the pipe closes (the binary exited
// or was SIGKILLed) the shell kills every PID listed in the file.
type reaper struct {
	mu      sync.Mutex
	pidFile string
	pids    map[int]bool
	pipe    *os.File
	cmd     *exec.Cmd
}

var (
	globalReaper     *reaper
	globalReaperOnce sync.Once
	globalReaperErr  error
)

func getReaper() (*reaper, error) {
	globalReaperOnce.Do(func() {
		if err := os.MkdirAll(PIDDir(), 0o755); err != nil {
			globalReaperErr = err
			return
		}
		r := &reaper{pidFile: filepath.Join(PIDDir(), strconv.Itoa(os.Getpid())+".pids"), pids: map[int]bool{}}
		if err := os.WriteFile(r.pidFile, nil, 0o644); err != nil {
			globalReaperErr = err
			return
		}
		pr, pw, err := os.Pipe()
		if err != nil {
			globalReaperErr = err
			return
		}
		script := fmt.Sprintf(`cat >/dev/null; for p in $(cat %q 2>/dev/null); do kill -9 "$p" 2>/dev/null; done; rm -f %q`, r.pidFile, r.pidFile)
		cmd := exec.Command("/bin/sh", "-c", script)
		cmd.Stdin = pr
		if err := cmd.Start(); err != nil {
			globalReaperErr = fmt.Errorf("start reaper: %w", err)
			return
		}
		_ = pr.Close()
		r.pipe, r.cmd = pw, cmd
		go func() { _ = cmd.Wait() }()
		globalReaper = r
	})
	return globalReaper, globalReaperErr
}

func (r *reaper) track(pid int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pids[pid] = true
	r.write()
}

func (r *reaper) untrack(pid int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.pids, pid)
	r.write()
}

func (r *reaper) write() {
	var b strings.Builder
	for p := range r.pids {
		fmt.Fprintf(&b, "%d\n", p)
	}
	_ = os.WriteFile(r.pidFile, []byte(b.String()), 0o644)
}

// childPIDs lists the direct children of this process.
func childPIDs() []int {
	var out []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", os.Getpid()))
	for _, t := range tasks {
		raw, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(raw)) {
			if p, err := strconv.Atoi(f); err == nil {
				out = append(out, p)
			}
		}
	}
	return out
}

// trackChildrenNamed records every child process whose command name is one of names.
func (r *reaper) trackChildrenNamed(names ...string) {
	for _, pid := range childPIDs() {
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err != nil {
			continue
		}
		c := strings.TrimSpace(string(comm))
		for _, n := range names {
			if strings.HasPrefix(n, c) || c == n {
				r.track(pid)
			}
		}
	}
}
