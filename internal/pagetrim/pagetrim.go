// Package pagetrim hands the operator binary's file-backed pages back to the kernel once a burst of work
// is over.
//
// A Go binary's code, read-only data and function tables are mapped from the executable. Starting up (every
// package's init) and a Helm install or upgrade (templates, kube clients, YAML and JSON codecs) touch most of
// them, and the kernel maps neighbouring pages in as well (fault-around), so after the first install about
// 50 MiB of the 65 MiB binary stays resident although an idle operator runs a small part of it: lease
// renewals, timers and the garbage collector. When those pages have grown well past what the idle process
// keeps, and no burst of work is going on, Trimmer asks the kernel to reclaim the binary's read-only
// mappings (madvise MADV_PAGEOUT); what the process still runs is faulted back in from the page cache, the
// rest costs nothing until the next burst.
//
// MADV_PAGEOUT never discards data: a page that was modified would be swapped out, not dropped. That
// matters: MADV_DONTNEED, cheaper, crashed a cgo-linked test binary at once, whose read-only mappings hold
// relocated pages (RELRO) that it reverted to the file's contents. Kernels older than 5.4 do not know it; Trim then reports
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

// Trimmer trims whenever the binary's resident pages have grown by more than Slack since the last trim
// left them, and the process is not in the middle of a burst of work (less than Busy CPU time in the last
// interval). Slack is larger than what an idle operator touches again (lease renewals, polls, timers: about
// 15 MiB), so an idle process is not trimmed over and over; a Helm install or upgrade touches far more.
type Trimmer struct {
	// Interval is how often the process's CPU time and resident file-backed pages are sampled (default 30s).
	Interval time.Duration
	// Busy is the CPU time in one interval that means a burst of work is going on (default 250ms).
	Busy time.Duration
	// Slack is how far the file-backed pages may grow over what the last trim left (default 20 MiB).
	Slack int64
}

// Sample is what the Trimmer reads every interval.
type Sample struct {
	// CPU is the CPU time the process used in the interval.
	CPU time.Duration
	// File is the process's resident file-backed (and shared) memory in bytes.
	File int64
}

// Decide is the Trimmer's policy: given what the last trim left resident (0 at start, when start-up has
// touched every package's init) and the last sample, it says whether to trim now.
func (t Trimmer) Decide(floor int64, s Sample) bool {
	return s.CPU < t.busy() && s.File > floor+t.slack()
}

func (t Trimmer) interval() time.Duration { return cmpOr(t.Interval, 30*time.Second) }
func (t Trimmer) busy() time.Duration     { return cmpOr(t.Busy, 250*time.Millisecond) }
func (t Trimmer) slack() int64 {
	if t.Slack > 0 {
		return t.Slack
	}
	return 20 << 20
}

func cmpOr(v, def time.Duration) time.Duration {
	if v > 0 {
		return v
	}
	return def
}

// Start samples every Interval and trims as Decide says until ctx ends (a controller-runtime Runnable; it
// runs in every replica, leader or not).
func (t Trimmer) Start(ctx context.Context) error {
	logger := log.FromContext(ctx).WithName("pagetrim")
	tick := time.NewTicker(t.interval())
	defer tick.Stop()
	floor, last := int64(0), cpuTime()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		now := cpuTime()
		file, err := residentFile()
		if err != nil {
			logger.Info("not trimming the binary's resident pages", "reason", err.Error())
			return nil
		}
		trim := t.Decide(floor, Sample{CPU: now - last, File: file})
		last = now
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
		if floor, err = residentFile(); err != nil {
			floor = 0
		}
		logger.V(1).Info("handed the binary's resident pages back", "residentBytes", file, "leftBytes", floor, "mappedBytes", covered)
	}
}

// residentFile returns the process's resident shared memory (file-backed pages and shared memory) in bytes,
// from /proc/self/statm.
func residentFile() (int64, error) {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, fmt.Errorf("read memory statistics: %w", err)
	}
	return parseStatmShared(string(data), int64(os.Getpagesize()))
}

// parseStatmShared reads the third field of /proc/<pid>/statm (resident shared pages) as bytes.
func parseStatmShared(statm string, pageSize int64) (int64, error) {
	f := strings.Fields(statm)
	if len(f) < 3 {
		return 0, fmt.Errorf("memory statistics %q have fewer than 3 fields", statm)
	}
	pages, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil || pages < 0 {
		return 0, fmt.Errorf("memory statistics %q: malformed shared page count", statm)
	}
	return pages * pageSize, nil
}

// NeedLeaderElection is false: every replica keeps its own memory small.
func (Trimmer) NeedLeaderElection() bool { return false }
