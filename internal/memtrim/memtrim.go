// Package memtrim returns the pages of the operator's own binary that start-up touched (package
// initialisers, scheme registrations, Helm and Kubernetes client libraries) to the kernel once the
// operator runs, so its resident set reflects what it keeps using. The pages are clean and backed by the
// executable: the kernel pages back in, on demand, the few that steady-state code needs.
package memtrim

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// madvPageout is MADV_PAGEOUT (Linux 5.4+): reclaim the range now.
const madvPageout = 21

// Result says what one trim did.
type Result struct {
	// Mappings is how many executable mappings were advised.
	Mappings int
	// Bytes is their total size.
	Bytes int64
}

// Trim advises the kernel to page out every mapping of the running executable. It is safe to call at any
// time: pages needed later fault back in from the file.
func Trim() (Result, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return Result{}, fmt.Errorf("find the executable: %w", err)
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return Result{}, err
	}
	defer f.Close()
	var res Result
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[5] != exe || strings.Contains(fields[1], "w") {
			continue // only read-only or executable mappings of the binary: never data we wrote
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		b := unsafe.Slice((*byte)(unsafe.Pointer(uintptr(start))), int(end-start))
		if err := unix.Madvise(b, madvPageout); err != nil {
			return res, fmt.Errorf("madvise %s: %w", fields[0], err)
		}
		res.Mappings++
		res.Bytes += int64(end - start)
	}
	return res, sc.Err()
}

// Runnable trims once after delay (when start-up work is done) and then every interval.
type Runnable struct {
	// Delay before the first trim (default 30s).
	Delay time.Duration
	// Interval between trims (default 30m; 0 keeps the default).
	Interval time.Duration
	// Log reports each trim (optional).
	Log func(msg string, keysAndValues ...any)
}

// Start implements manager.Runnable.
func (r Runnable) Start(ctx context.Context) error {
	delay, interval := r.Delay, r.Interval
	if delay <= 0 {
		delay = 30 * time.Second
	}
	if interval <= 0 {
		interval = 30 * time.Minute
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		res, err := Trim()
		if r.Log != nil {
			if err != nil {
				r.Log("trimming the binary's resident pages failed", "error", err.Error())
			} else {
				r.Log("returned the binary's start-up pages to the kernel", "mappings", res.Mappings, "bytes", res.Bytes)
			}
		}
		t.Reset(interval)
	}
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: every replica trims its own memory.
func (Runnable) NeedLeaderElection() bool { return false }
