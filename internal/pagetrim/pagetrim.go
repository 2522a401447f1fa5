// Package pagetrim hands the operator binary's file-backed pages back to the kernel once a burst of work
// is over.
//
// A Go binary's code, read-only data and function tables are mapped from the executable. Starting up (every
// package's init) and a Helm install or upgrade (templates, kube clients, YAML and JSON codecs) touch most of
// them, and the kernel maps neighbouring pages in as well (fault-around), so after the first install about
// 50 MiB of the 65 MiB binary stays resident although an idle operator runs a small part of it: lease
// renewals, timers and the garbage collector. Once the process has been busy and is idle again, Trimmer asks
// the kernel to reclaim the binary's read-only mappings (madvise MADV_PAGEOUT); what the idle process still
// runs is faulted back in from the page cache, the rest costs nothing until the next burst.
//
// MADV_PAGEOUT never discards data: a page that was modified (none in a read-only mapping of a static
// binary) would be swapped out, not dropped. Kernels older than 5.4 do not know it; Trim then reports
// ErrUnsupported and the Trimmer stops trying.
package pagetrim

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// ErrUnsupported reports a kernel without MADV_PAGEOUT.
var ErrUnsupported = errors.New("madvise MADV_PAGEOUT is not supported by this kernel")

// Range is one mapping of the executable, [Start, End).
type Range struct {
	// Start and End are the mapping's first address and the address after its last byte.
	Start, End uintptr
}

// Len returns the size of the range in bytes.
func (r Range) Len() uintptr { return r.End - r.Start }

// ReadOnlyMappings parses /proc/<pid>/maps content and returns the mappings of path that are not writable.
func ReadOnlyMappings(maps io.Reader, path string) ([]Range, error) {
	var out []Range
	sc := bufio.NewScanner(maps)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		r, ok, err := parseMapsLine(sc.Text(), path)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, r)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read memory maps: %w", err)
	}
	return out, nil
}

// parseMapsLine reads one line of /proc/<pid>/maps: "start-end perms offset dev inode path".
func parseMapsLine(line, path string) (Range, bool, error) {
	f := strings.Fields(line)
	if len(f) < 6 || strings.Join(f[5:], " ") != path {
		return Range{}, false, nil
	}
	if len(f[1]) < 2 || f[1][1] != '-' { // writable (or malformed permissions): never touched
		return Range{}, false, nil
	}
	lo, hi, ok := strings.Cut(f[0], "-")
	if !ok {
		return Range{}, false, fmt.Errorf("memory maps line %q has no address range", line)
	}
	start, err1 := strconv.ParseUint(lo, 16, 64)
	end, err2 := strconv.ParseUint(hi, 16, 64)
	if err1 != nil || err2 != nil || end <= start {
		return Range{}, false, fmt.Errorf("memory maps line %q has a malformed address range", line)
	}
	return Range{Start: uintptr(start), End: uintptr(end)}, true, nil
}

// Trim asks the kernel to reclaim the resident pages of the executable's read-only mappings and returns how
// many bytes of mappings it covered.
func Trim() (uintptr, error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, fmt.Errorf("find the executable: %w", err)
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, fmt.Errorf("open memory maps: %w", err)
	}
	defer f.Close()
	ranges, err := ReadOnlyMappings(f, exe)
	if err != nil {
		return 0, err
	}
	var covered uintptr
	for _, r := range ranges {
		if err := madvise(r, unix.MADV_PAGEOUT); err != nil {
			if errors.Is(err, syscall.EINVAL) {
				return covered, ErrUnsupported
			}
			return covered, fmt.Errorf("madvise %#x-%#x: %w", r.Start, r.End, err)
		}
		covered += r.Len()
	}
	return covered, nil
}

// cpuTime returns the CPU time the process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Trimmer trims after every burst of work: when an interval that used at least Busy CPU time (or the
// start-up) is followed by one that used at most Idle.
type Trimmer struct {
	// Interval is how often the process's CPU time is sampled (default 30s).
	Interval time.Duration
	// Busy is the CPU time in one interval that counts as a burst of work (default 100ms).
	Busy time.Duration
	// Idle is the most CPU time an interval may use to count as idle (default 25ms).
	Idle time.Duration
}

// Decide is the Trimmer's policy: given whether a burst happened since the last trim and the CPU time of
// the last interval, it says whether to trim now and whether a burst is still pending.
func (t Trimmer) Decide(pending bool, used time.Duration) (trim, stillPending bool) {
	switch {
	case used >= t.busy():
		return false, true
	case pending && used <= t.idle():
		return true, false
	default:
		return false, pending
	}
}

func (t Trimmer) interval() time.Duration { return cmpOr(t.Interval, 30*time.Second) }
func (t Trimmer) busy() time.Duration     { return cmpOr(t.Busy, 100*time.Millisecond) }
func (t Trimmer) idle() time.Duration     { return cmpOr(t.Idle, 25*time.Millisecond) }

func cmpOr(v, def time.Duration) time.Duration {
	if v > 0 {
		return v
	}
	return def
}

// Start samples the CPU time every Interval and trims after each burst until ctx ends (a controller-runtime
// Runnable; it runs in every replica, leader or not).
func (t Trimmer) Start(ctx context.Context) error {
	logger := log.FromContext(ctx).WithName("pagetrim")
	tick := time.NewTicker(t.interval())
	defer tick.Stop()
	pending, last := true, cpuTime() // start-up touched every package's init
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		now := cpuTime()
		trim, still := t.Decide(pending, now-last)
		pending, last = still, now
		if !trim {
			continue
		}
		covered, err := Trim()
		if errors.Is(err, ErrUnsupported) {
			logger.Info("not trimming the binary's resident pages", "reason", err.Error())
			return nil
		}
		if err != nil {
			logger.Error(err, "trimming the binary's resident pages failed")
			continue
		}
		logger.V(1).Info("handed the binary's resident pages back after a burst of work", "mappedBytes", covered)
	}
}

// NeedLeaderElection is false: every replica keeps its own memory small.
func (Trimmer) NeedLeaderElection() bool { return false }
