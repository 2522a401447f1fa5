// Package memlimit holds the Go runtime to a share of the container's memory limit (a soft limit, as
// GOMEMLIMIT sets it), so the garbage collector works harder before the kernel's OOM killer acts.
package memlimit

import (
	"fmt"
	"runtime/debug"
	"strconv"
	"strings"
)

// EnvLimit names the variable that carries the container's memory limit in bytes; the chart sets it from
// the downward API (resourceFieldRef limits.memory), which turns any quantity ("240Mi", "0.25Gi") into bytes.
const EnvLimit = "CONTAINER_MEMORY_LIMIT"

// Percent is the share of the container limit the Go runtime is held to: the rest is for the binary's
// file-backed pages, goroutine stacks and memory the runtime does not count.
const Percent = 90

// FromEnv returns the soft limit to set: Percent of $CONTAINER_MEMORY_LIMIT. It is 0 when GOMEMLIMIT is
// set (the runtime has applied it already, and it wins) or when no container limit is given.
func FromEnv(getenv func(string) string) (int64, error) {
	if strings.TrimSpace(getenv("GOMEMLIMIT")) != "" {
		return 0, nil
	}
	raw := strings.TrimSpace(getenv(EnvLimit))
	if raw == "" {
		return 0, nil
	}
	limit, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || limit <= 0 {
		return 0, fmt.Errorf("%s=%q is not a positive number of bytes", EnvLimit, raw)
	}
	return limit / 100 * Percent, nil
}

// Apply sets the runtime's soft memory limit from FromEnv and returns it (0: left as it was).
func Apply(getenv func(string) string) (int64, error) {
	limit, err := FromEnv(getenv)
	if err != nil || limit == 0 {
		return 0, err
	}
	debug.SetMemoryLimit(limit)
	return limit, nil
}
