// Command castware-demo runs `make demo`: a local control plane, a fake Cast AI API, the demo charts and
// the operator, with a console page on localhost. Ctrl-C stops everything it started.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/castware-operator/castware-operator/internal/devtools/demo"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8090", "where the console page listens")
	nodes := flag.Int("nodes", 3, "fake nodes")
	logFile := flag.String("log", "", "operator log file (default: a file in the temp directory)")
	flag.Parse()
	path := *logFile
	if path == "" {
		path = fmt.Sprintf("%s/castware-demo-%d.log", os.TempDir(), os.Getpid())
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer f.Close()
	ctrl.SetLogger(zap.New(zap.WriteTo(f)))
	fmt.Printf("operator logs: %s\n", path)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := demo.Run(ctx, demo.Options{Addr: *addr, Nodes: *nodes}); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}
