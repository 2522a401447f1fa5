// Command castware-bench runs `make bench` and prints its table (also written as JSON and a PNG chart).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/castware-operator/castware-operator/internal/devtools/bench"
)

func main() {
	scale := 1.0
	if v := os.Getenv("BENCH_SCALE"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 {
			fmt.Fprintf(os.Stderr, "BENCH_SCALE=%q is not a positive number\n", v)
			os.Exit(2)
		}
		scale = f
	}
	idle := flag.Duration("idle", 3*time.Minute, "steady-state window of each Cast AI API mode (holding, answering at once)")
	out := flag.String("results", "", "directory for results.json and memory.png (default docs/bench)")
	md := flag.String("markdown", "", "the Markdown report (default docs/benchmarks.md)")
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.WriteTo(devNull{})))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if _, err := bench.Run(ctx, bench.Options{Scale: scale, Idle: *idle, ResultsDir: *out, Markdown: *md}); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type devNull struct{}

func (devNull) Write(p []byte) (int, error) { return len(p), nil }
