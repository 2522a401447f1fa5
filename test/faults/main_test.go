// Package faults is the fault-injection suite (`make test-faults`): the operator runs as its own process,
// as in a cluster, against its own control plane (so kube-apiserver can be restarted and etcd paused
// without disturbing other test packages), a fake Cast AI API and a chart repository, and each case injects
// one fault: the operator SIGKILLed in the middle of a Helm operation, kube-apiserver restarted, etcd
// frozen, the leader of two replicas killed, the Cast AI API failing, the chart repository failing, hostile
// resources, hand-made drift. Every case asserts that the components keep running, that no Helm release is
// left broken (no pending-* revision), that no console action is lost or applied twice, and that the
// operator converges afterwards, without crashing.
//
// With CASTWARE_RELIABILITY_DOC=<file> set, a complete passing run writes the table of faults, what the
// operator did and how long it took to converge to that file (`make reliability-doc` regenerates
// docs/reliability.md).
package faults

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/castware-operator/castware-operator/internal/devtools/testharness"
)

var (
	env         *testharness.Env
	charts      *testharness.ChartServer
	k8s         client.Client
	operatorBin string
	// stress starves the operator processes (CASTWARE_FAULTS_STRESS=1, make test-faults-stress); nil otherwise.
	stress *testharness.Stress
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctrl.SetLogger(zap.New(zap.WriteTo(discard{})))
	var err error
	env, err = testharness.Start(testharness.Options{Kwok: true, Nodes: 2})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start control plane:", err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop control plane:", err)
		}
	}()
	k8s = env.Client
	charts, err = testharness.NewChartServer(testharness.ChartsDir(), filepath.Join("testdata", "charts"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "chart server:", err)
		return 1
	}
	defer charts.Close()
	binDir, err := os.MkdirTemp("", "castware-faults-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(binDir)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if operatorBin, err = testharness.BuildOperator(ctx, binDir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := env.AddNode(ctx, "gate-open", map[string]string{gateLabel: gateOpen}); err != nil {
		fmt.Fprintln(os.Stderr, "gate node:", err)
		return 1
	}
	if opts, on, err := testharness.StressFromEnv(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	} else if on {
		if stress, err = testharness.StartStress(env, opts); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer stress.Stop()
		fmt.Fprintf(os.Stderr, "stress: operators, kube-apiserver and etcd on CPU %d with %d busy loops; watches %s late, writes %s-%s late, reads up to %s late, %.0f%% of optimistic castware status writes refused with a conflict\n",
			opts.CPU, opts.Spinners, opts.WatchLag, opts.MinWriteDelay, opts.MaxWriteDelay, opts.MaxReadDelay, 100*opts.ConflictRate)
		defer func() { fmt.Fprintf(os.Stderr, "stress: %d conflicts injected\n", stress.Conflicts()) }()
	}
	code := m.Run()
	if path := os.Getenv("CASTWARE_RELIABILITY_DOC"); path != "" && code == 0 {
		if err := writeReport(path); err != nil {
			fmt.Fprintln(os.Stderr, "write the reliability report:", err)
			return 1
		}
	}
	return code
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
