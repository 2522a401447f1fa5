package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/castai"
	"github.com/castware-operator/castware-operator/internal/castai/fake"
	"github.com/castware-operator/castware-operator/internal/testharness"
)

// Options configure a benchmark run.
type Options struct {
	// Scale multiplies the cluster sizes of the memory measurement (default 1: 0, 5,000 and 20,000 pods).
	Scale float64
	// Idle is the steady-state window (default 5m).
	Idle time.Duration
	// Out receives progress and the table (default os.Stdout).
	Out io.Writer
	// ResultsDir receives results.json and memory.png (default docs/bench in the repository).
	ResultsDir string
	// Markdown receives the table with the machine it ran on (default docs/benchmarks.md in the repository).
	Markdown string
}

// Namespace is where the operator runs, as in a real install.
const Namespace = "castai-agent"

// components the benchmark installs: name → (chart, start version, upgrade version).
var components = []struct{ name, chart, release, from, to string }{
	{"castai-agent", "castai-agent", "castai-agent", "0.161.0", "0.161.1"},
	{"spot-handler", "castai-spot-handler", "castai-spot-handler", "0.35.4", "0.35.5"},
	{"cluster-controller", "castai-cluster-controller", "cluster-controller", "0.92.13", "0.92.14"},
}

type run struct {
	opts  Options
	out   io.Writer
	env   *testharness.Env
	repo  *testharness.ChartServer
	api   *fake.Server
	op    *testharness.OperatorProcess
	audit string
	res   *Result
	dir   string
	id    string
	// floorIndex and floorArchives are the chart downloads of the helm CLI floor (not the operator's).
	floorIndex, floorArchives int
}

func (r *run) logf(format string, args ...any) {
	fmt.Fprintf(r.out, "  · "+format+"\n", args...)
}

// Run runs the benchmark and returns its result (also printed and written to ResultsDir).
func Run(ctx context.Context, opts Options) (*Result, error) {
	if opts.Scale <= 0 {
		opts.Scale = 1
	}
	if opts.Idle <= 0 {
		opts.Idle = 5 * time.Minute
	}
	if opts.Out == nil {
		opts.Out = os.Stdout
	}
	if opts.ResultsDir == "" {
		opts.ResultsDir = filepath.Join(testharness.RepoRoot(), "docs", "bench")
	}
	if opts.Markdown == "" {
		opts.Markdown = filepath.Join(testharness.RepoRoot(), "docs", "benchmarks.md")
	}
	dir, err := os.MkdirTemp("", "castware-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	r := &run{opts: opts, out: opts.Out, dir: dir, res: &Result{Machine: machine(), Scale: opts.Scale, Started: time.Now().UTC()}}
	start := time.Now()
	fmt.Fprintf(r.out, "castware-operator benchmark (scale %.2g, idle window %s) on %s\n", opts.Scale, opts.Idle, r.res.Machine.String())
	if err := r.setUp(ctx); err != nil {
		return nil, err
	}
	defer r.tearDown()
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"install latency (operator vs helm CLI)", r.installLatency},
		{"console action latency", r.actionLatency},
		{"idle cost", r.idleCost},
		{"memory as the cluster grows", r.memory},
	}
	for _, s := range steps {
		fmt.Fprintf(r.out, "▶ %s\n", s.name)
		if err := s.fn(ctx); err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
	}
	r.chartCost()
	r.res.Duration = time.Since(start).Round(time.Second).String()
	fmt.Fprintln(r.out)
	fmt.Fprint(r.out, r.res.Table())
	if err := r.res.Write(opts.ResultsDir, opts.Markdown); err != nil {
		return r.res, err
	}
	fmt.Fprintf(r.out, "\nresults: %s, %s/results.json, %s/memory.png (%s)\n", opts.Markdown, opts.ResultsDir, opts.ResultsDir, r.res.Duration)
	return r.res, nil
}

func (r *run) setUp(ctx context.Context) error {
	policy, auditLog, err := writeAuditPolicy(r.dir)
	if err != nil {
		return err
	}
	r.audit = auditLog
	bin, err := testharness.BuildOperator(ctx, r.dir)
	if err != nil {
		return err
	}
	r.logf("operator built")
	r.env, err = testharness.Start(testharness.Options{Kwok: true, Nodes: 3, APIServerFlags: map[string]string{
		"audit-policy-file": policy, "audit-log-path": auditLog, "audit-log-format": "json", "audit-log-mode": "batch",
		"audit-log-batch-max-wait": "1s",
	}})
	if err != nil {
		return err
	}
	r.logf("control plane up (etcd, kube-apiserver with audit log, kcm, scheduler, kwok, 3 nodes)")
	if r.repo, err = testharness.NewChartServer(filepath.Join(testharness.RepoRoot(), "helm-charts", "demo")); err != nil {
		return err
	}
	var catalog []castai.ComponentInfo
	for i, c := range components {
		catalog = append(catalog, castai.ComponentInfo{ID: fmt.Sprintf("00000000-0000-4000-8000-00000000000%d", i+1), Name: c.name, HelmChart: c.chart,
			LatestVersion: c.to, ReleaseName: c.release, Dependencies: []string{}})
	}
	r.api = fake.New(fake.WithCatalog(catalog...), fake.WithHold(10*time.Minute))
	if err := r.api.Start(); err != nil {
		return err
	}
	kc, err := r.env.AddUser(OperatorUser, "system:masters")
	if err != nil {
		return err
	}
	if err := r.createBase(ctx); err != nil {
		return err
	}
	env := []string{"EKS_ACCOUNT_ID=123456789012", "EKS_REGION=eu-central-1", "EKS_CLUSTER_NAME=bench"}
	t0 := time.Now()
	if r.op, err = testharness.StartOperator(ctx, testharness.OperatorConfig{Binary: bin, Kubeconfig: kc, Namespace: Namespace, LogDir: r.dir, Env: env}); err != nil {
		return err
	}
	r.res.add(Row{Group: "start", Metric: "operator process ready (healthz)", Value: secs(time.Since(t0)), Unit: "s"})
	t0 = time.Now()
	if err := r.wait(ctx, 2*time.Minute, "cluster registered", func() (bool, error) {
		cl := &castwarev1.Cluster{}
		if err := r.env.Client.Get(ctx, client.ObjectKey{Namespace: Namespace, Name: "castai"}, cl); err != nil {
			return false, err
		}
		r.id = cl.ClusterID()
		return r.id != "" && meta.IsStatusConditionTrue(cl.Status.Conditions, castwarev1.ConditionAvailable), nil
	}); err != nil {
		return err
	}
	r.res.add(Row{Group: "start", Metric: "cluster registered with the Cast AI API", Value: secs(time.Since(t0)), Unit: "s", Reference: "0.9 s"})
	r.logf("operator running as its own process (pid %d), cluster %s registered", r.op.Pid(), r.id)
	return nil
}

func (r *run) tearDown() {
	if r.op != nil {
		r.op.Stop()
	}
	if r.api != nil {
		r.api.Close()
	}
	if r.repo != nil {
		r.repo.Close()
	}
	if r.env != nil {
		_ = r.env.Stop()
	}
}

// createBase creates what the operator's chart creates: namespace, API-key Secret, Cluster.
func (r *run) createBase(ctx context.Context) error {
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: castwarev1.DefaultAPIKeySecret, Namespace: Namespace}, StringData: map[string]string{castwarev1.APIKeySecretKey: fake.DefaultAPIKey}},
		&castwarev1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "castai", Namespace: Namespace}, Spec: castwarev1.ClusterSpec{
			Provider: "eks", APIKeySecret: castwarev1.DefaultAPIKeySecret, API: castwarev1.APISpec{APIURL: r.api.URL()},
			HelmRepoURL: r.repo.URL(), MigrationMode: castwarev1.MigrationModeWrite}},
	}
	for _, o := range objs {
		if err := r.env.Client.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	return nil
}

// wait polls cond every 50ms until it is true or the timeout passes.
func (r *run) wait(ctx context.Context, timeout time.Duration, what string, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last error: %v)", what, ctx.Err(), last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func secs(d time.Duration) float64 { return float64(d.Milliseconds()) / 1000 }

// componentsState reports whether every benchmark Component is Available at its wanted version.
func (r *run) componentsReady(ctx context.Context, version func(string) string) (bool, error) {
	for _, c := range components {
		comp := &castwarev1.Component{}
		if err := r.env.Client.Get(ctx, client.ObjectKey{Namespace: Namespace, Name: c.name}, comp); err != nil {
			return false, err
		}
		if comp.Status.CurrentVersion != version(c.name) || !meta.IsStatusConditionTrue(comp.Status.Conditions, castwarev1.ConditionAvailable) ||
			meta.IsStatusConditionTrue(comp.Status.Conditions, castwarev1.ConditionProgressing) {
			return false, nil
		}
	}
	return true, nil
}

// installLatency: Components created → all Available (pods Ready), against the helm CLI installing the
// same charts with --wait, back to back.
func (r *run) installLatency(ctx context.Context) error {
	// The floor first: the helm CLI, in its own namespace.
	helmNS := "bench-helm"
	if err := r.env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: helmNS}}); err != nil {
		return err
	}
	if err := r.env.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "castware-api-key", Namespace: helmNS}, StringData: map[string]string{"API_KEY": "x"}}); err != nil {
		return err
	}
	sets := map[string][]string{
		"castai-agent":       {"apiURL=" + r.api.URL(), "apiKeySecretRef=castware-api-key", "provider=eks", "createNamespace=false"},
		"spot-handler":       {"apiKeySecretRef=castware-api-key", "castai.apiURL=" + r.api.URL(), "castai.clusterID=" + r.id, "castai.provider=aws"},
		"cluster-controller": {"castai.apiURL=" + r.api.URL(), "castai.clusterID=" + r.id, "castai.apiKeySecretRef=castware-api-key"},
	}
	t0 := time.Now()
	for _, c := range components {
		args := []string{"upgrade", "--install", c.release, fmt.Sprintf("%s/charts/%s-%s.tgz", r.repo.URL(), c.chart, c.from), "-n", helmNS, "--wait", "--timeout", "5m"}
		for _, s := range sets[c.name] {
			args = append(args, "--set", s)
		}
		if out, err := r.env.Helm(ctx, args...); err != nil {
			return fmt.Errorf("helm CLI floor: %v\n%s", err, out)
		}
	}
	helmTime := time.Since(t0)
	r.floorIndex, r.floorArchives = r.repo.Requests("index.yaml"), r.repo.Requests(".tgz")
	r.logf("helm CLI: 3 installs with --wait in %.2fs", secs(helmTime))

	t0 = time.Now()
	for _, c := range components {
		comp := &castwarev1.Component{ObjectMeta: metav1.ObjectMeta{Name: c.name, Namespace: Namespace},
			Spec: castwarev1.ComponentSpec{Component: c.name, Cluster: "castai", Enabled: true, Version: c.from}}
		if err := r.env.Client.Create(ctx, comp); err != nil {
			return err
		}
	}
	from := func(name string) string {
		for _, c := range components {
			if c.name == name {
				return c.from
			}
		}
		return ""
	}
	if err := r.wait(ctx, 5*time.Minute, "components Available", func() (bool, error) { return r.componentsReady(ctx, from) }); err != nil {
		return err
	}
	opTime := time.Since(t0)
	r.logf("operator: 3 Components Available (pods Ready) in %.2fs", secs(opTime))
	r.res.add(Row{Group: "install", Metric: "3 components installed, pods Ready: helm CLI (--wait, back to back)", Value: secs(helmTime), Unit: "s"})
	r.res.add(Row{Group: "install", Metric: "3 components installed, pods Ready: operator", Value: secs(opTime), Unit: "s", Reference: "2.1 s for 2, pods not awaited"})
	r.res.add(Row{Group: "install", Metric: "install latency ratio operator / helm CLI", Value: secs(opTime) / secs(helmTime), Unit: "×", Target: "≤ 1.2"})
	return nil
}

// actionLatency: an upgrade action queued in the fake API → Component upgrade started → Available.
func (r *run) actionLatency(ctx context.Context) error {
	var started, available []time.Duration
	before := r.api.CallCount("")
	for _, c := range components {
		t0 := time.Now()
		r.api.EnqueueAction(r.id, castai.Action{Upgrade: &castai.ChartAction{Component: c.name, Version: c.to, ReleaseName: c.release}})
		var tStart time.Duration
		if err := r.wait(ctx, time.Minute, "upgrade started", func() (bool, error) {
			comp := &castwarev1.Component{}
			if err := r.env.Client.Get(ctx, client.ObjectKey{Namespace: Namespace, Name: c.name}, comp); err != nil {
				return false, err
			}
			if comp.Spec.Version == c.to {
				tStart = time.Since(t0)
				return true, nil
			}
			return false, nil
		}); err != nil {
			return err
		}
		if err := r.wait(ctx, 5*time.Minute, "upgrade Available", func() (bool, error) {
			comp := &castwarev1.Component{}
			if err := r.env.Client.Get(ctx, client.ObjectKey{Namespace: Namespace, Name: c.name}, comp); err != nil {
				return false, err
			}
			return comp.Status.CurrentVersion == c.to && meta.IsStatusConditionTrue(comp.Status.Conditions, castwarev1.ConditionAvailable) &&
				!meta.IsStatusConditionTrue(comp.Status.Conditions, castwarev1.ConditionProgressing), nil
		}); err != nil {
			return err
		}
		started = append(started, tStart)
		available = append(available, time.Since(t0))
		r.logf("%s: upgrade started after %.3fs, Available after %.2fs", c.name, secs(tStart), secs(time.Since(t0)))
	}
	if err := r.wait(ctx, time.Minute, "actions acknowledged", func() (bool, error) { return len(r.api.PendingActions(r.id)) == 0, nil }); err != nil {
		return err
	}
	calls := r.api.CallCount("") - before
	r.res.add(Row{Group: "actions", Metric: "console action queued → Component upgrade started (max of 3)", Value: secs(maxDur(started)), Unit: "s", Target: "< 2 s", Reference: "≤ 30 s (poll interval)"})
	r.res.add(Row{Group: "actions", Metric: "console action queued → upgraded and Available, pods Ready (max of 3)", Value: secs(maxDur(available)), Unit: "s"})
	r.res.add(Row{Group: "actions", Metric: "Cast AI API calls per action (poll, ack, reports)", Value: float64(calls) / float64(len(components)), Unit: "calls"})
	return nil
}

func maxDur(ds []time.Duration) time.Duration {
	m := time.Duration(0)
	for _, d := range ds {
		if d > m {
			m = d
		}
	}
	return m
}

// idleCost measures a steady-state window with the 3 components installed.
func (r *run) idleCost(ctx context.Context) error {
	// Let the last reports and status writes settle.
	settle := 20 * time.Second
	r.logf("settling %s, then observing %s of steady state", settle, r.opts.Idle)
	if !sleepCtx(ctx, settle) {
		return ctx.Err()
	}
	cpu0, err := r.op.CPUSeconds()
	if err != nil {
		return err
	}
	calls0 := r.api.Calls()
	idx0, tgz0 := r.repo.Requests("index.yaml"), r.repo.Requests(".tgz")
	from := time.Now()
	if !sleepCtx(ctx, r.opts.Idle) {
		return ctx.Err()
	}
	to := time.Now()
	cpu1, err := r.op.CPUSeconds()
	if err != nil {
		return err
	}
	// The audit log is written in batches; give the last batch time to land.
	if !sleepCtx(ctx, 3*time.Second) {
		return ctx.Err()
	}
	total, by, err := auditCounts(r.audit, from, to)
	if err != nil {
		return err
	}
	minutes := to.Sub(from).Minutes()
	var apiCalls int
	byPath := map[string]int{}
	for _, c := range r.api.Calls()[len(calls0):] {
		if c.Time.Before(to) {
			apiCalls++
			byPath[shortPath(c.Path)]++
		}
	}
	lease := by["update leases"] + by["get leases"]
	r.res.IdleKubeRequests = by
	r.res.IdleAPICalls = byPath
	r.res.add(Row{Group: "idle", Metric: "kube-apiserver requests by the operator per minute (all)", Value: float64(total) / minutes, Unit: "/min"})
	r.res.add(Row{Group: "idle", Metric: "  of which leader-election lease renewals", Value: float64(lease) / minutes, Unit: "/min"})
	r.res.add(Row{Group: "idle", Metric: "kube-apiserver requests per component per minute", Value: float64(total) / minutes / float64(len(components)), Unit: "/min", Target: "≤ 1"})
	r.res.add(Row{Group: "idle", Metric: "Cast AI API calls per minute (long-polled)", Value: float64(apiCalls) / minutes, Unit: "/min", Target: "≤ 2", Reference: "6.5–8 /min"})
	r.res.add(Row{Group: "idle", Metric: "CPU seconds per minute", Value: (cpu1 - cpu0) / minutes, Unit: "s/min", Target: "≤ 0.07", Reference: "0.15 s/min"})
	r.res.add(Row{Group: "charts", Metric: "chart repository requests while idle (index, archives)", Value: float64(r.repo.Requests("index.yaml") - idx0 + r.repo.Requests(".tgz") - tgz0), Unit: "requests"})
	r.logf("idle: %d kube requests (%s), %d Cast AI calls, %.3f CPU s", total, topCounts(by, 6), apiCalls, cpu1-cpu0)
	return nil
}

func shortPath(p string) string {
	for _, s := range []string{"lifecycle-actions:poll", ":ack", "recordActionResult", "getByName", "/logs", "external-clusters", "/v1/me"} {
		if strings.Contains(p, s) {
			return s
		}
	}
	return p
}

func topCounts(m map[string]int, n int) string {
	type kv struct {
		k string
		v int
	}
	var l []kv
	for k, v := range m {
		l = append(l, kv{k, v})
	}
	sort.Slice(l, func(i, j int) bool { return l[i].v > l[j].v || (l[i].v == l[j].v && l[i].k < l[j].k) })
	var parts []string
	for i, e := range l {
		if i == n {
			break
		}
		parts = append(parts, fmt.Sprintf("%s ×%d", e.k, e.v))
	}
	return strings.Join(parts, ", ")
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// chartCost: how many times the operator downloaded the index and archives over the whole run (the helm CLI
// floor's own downloads are not counted).
func (r *run) chartCost() {
	reconciles, _ := r.op.Metric("controller_runtime_reconcile_total", `controller="component"`)
	r.res.add(Row{Group: "charts", Metric: "Component reconciles over the run", Value: reconciles, Unit: "reconciles"})
	r.res.add(Row{Group: "charts", Metric: "chart index downloads by the operator over the run (TTL 5m)", Value: float64(r.repo.Requests("index.yaml") - r.floorIndex), Unit: "downloads"})
	r.res.add(Row{Group: "charts", Metric: "chart archive downloads by the operator over the run (6 distinct versions)", Value: float64(r.repo.Requests(".tgz") - r.floorArchives), Unit: "downloads", Target: "≤ 6"})
}

// memory grows the cluster and records the operator's RSS and Go heap at each size.
func (r *run) memory(ctx context.Context) error {
	sizes := []int{0, int(5000 * r.opts.Scale), int(20000 * r.opts.Scale)}
	created := 0
	for i, pods := range sizes {
		if i == 1 {
			if err := r.createClutter(ctx); err != nil {
				return err
			}
		}
		if pods > created {
			t0 := time.Now()
			if err := r.createPods(ctx, created, pods); err != nil {
				return err
			}
			r.logf("created pods %d..%d in %.1fs", created, pods, secs(time.Since(t0)))
			created = pods
		}
		rss, heap, err := r.settledMemory(ctx)
		if err != nil {
			return err
		}
		br, err := r.op.MemoryBreakdown()
		if err != nil {
			return err
		}
		r.res.Memory = append(r.res.Memory, MemoryPoint{Pods: pods, RSSMB: rss / (1 << 20), AnonMB: br["Anonymous"] / (1 << 20), HeapMB: heap / (1 << 20)})
		r.logf("%6d pods: RSS %.1f MiB (anonymous %.1f, file-backed %.1f), Go heap %.1f MiB", pods, rss/(1<<20),
			br["Anonymous"]/(1<<20), (br["Rss"]-br["Anonymous"])/(1<<20), heap/(1<<20))
	}
	first, last := r.res.Memory[0], r.res.Memory[len(r.res.Memory)-1]
	r.res.add(Row{Group: "memory", Metric: fmt.Sprintf("RSS at %d pods", first.Pods), Value: first.RSSMB, Unit: "MiB", Reference: "79–81 MiB"})
	r.res.add(Row{Group: "memory", Metric: fmt.Sprintf("RSS at %d pods (+2,000 Deployments, 1,000 Secrets, 200 namespaces)", last.Pods), Value: last.RSSMB, Unit: "MiB", Target: "< 64"})
	r.res.add(Row{Group: "memory", Metric: "RSS growth, smallest to largest cluster", Value: (last.RSSMB/first.RSSMB - 1) * 100, Unit: "%", Target: "< 10"})
	r.res.add(Row{Group: "memory", Metric: fmt.Sprintf("  of RSS at %d pods: anonymous (heap, stacks, runtime)", last.Pods), Value: last.AnonMB, Unit: "MiB"})
	r.res.add(Row{Group: "memory", Metric: fmt.Sprintf("  of RSS at %d pods: file-backed (the binary's pages)", last.Pods), Value: last.RSSMB - last.AnonMB, Unit: "MiB"})
	r.res.add(Row{Group: "memory", Metric: fmt.Sprintf("Go heap in use at %d pods", last.Pods), Value: last.HeapMB, Unit: "MiB"})
	return nil
}

// settledMemory waits until RSS stops moving (3 samples 2s apart within 2%), at most 60s.
func (r *run) settledMemory(ctx context.Context) (rss, heap float64, err error) {
	var samples []float64
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		v, err := r.op.RSSBytes()
		if err != nil {
			return 0, 0, err
		}
		samples = append(samples, v)
		if n := len(samples); n >= 3 {
			lo, hi := samples[n-3], samples[n-3]
			for _, s := range samples[n-3:] {
				lo, hi = min(lo, s), max(hi, s)
			}
			if hi <= lo*1.02 {
				break
			}
		}
		if !sleepCtx(ctx, 2*time.Second) {
			return 0, 0, ctx.Err()
		}
	}
	heap, err = r.op.Metric("go_memstats_heap_inuse_bytes", "")
	return samples[len(samples)-1], heap, err
}

const clutterNamespaces = 200

func clutterNS(i int) string { return fmt.Sprintf("bench-load-%03d", i%clutterNamespaces) }

// createClutter creates 200 namespaces, 2,000 Deployments (scaled to zero) and 1,000 Secrets, none of them
// the operator's.
func (r *run) createClutter(ctx context.Context) error {
	t0 := time.Now()
	var objs []client.Object
	for i := 0; i < clutterNamespaces; i++ {
		objs = append(objs, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: clutterNS(i)}})
	}
	if err := r.createAll(ctx, objs, 8); err != nil {
		return err
	}
	objs = objs[:0]
	zero := int32(0)
	for i := 0; i < int(2000*r.opts.Scale); i++ {
		labels := map[string]string{"app": fmt.Sprintf("load-%d", i)}
		objs = append(objs, deploymentObj(clutterNS(i), fmt.Sprintf("load-%d", i), labels, &zero))
	}
	for i := 0; i < int(1000*r.opts.Scale); i++ {
		objs = append(objs, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("load-%d", i), Namespace: clutterNS(i)},
			StringData: map[string]string{"token": strings.Repeat("x", 512)}})
	}
	if err := r.createAll(ctx, objs, 16); err != nil {
		return err
	}
	r.logf("created %d namespaces, %d Deployments, %d Secrets in %.1fs", clutterNamespaces, int(2000*r.opts.Scale), int(1000*r.opts.Scale), secs(time.Since(t0)))
	return nil
}

// createPods creates pods [from, to) bound to fake nodes (240 per node), adding nodes as needed.
func (r *run) createPods(ctx context.Context, from, to int) error {
	const perNode = 240
	nodes := (to + perNode - 1) / perNode
	for n := (from + perNode - 1) / perNode; n < nodes; n++ {
		name := fmt.Sprintf("bench-node-%03d", n)
		if err := r.env.AddNode(ctx, name, map[string]string{"bench": "load"}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	var objs []client.Object
	for i := from; i < to; i++ {
		objs = append(objs, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("load-%d", i), Namespace: clutterNS(i), Labels: map[string]string{"app": "load"}},
			Spec: corev1.PodSpec{NodeName: fmt.Sprintf("bench-node-%03d", i/perNode),
				Tolerations: []corev1.Toleration{{Key: "kwok.x-k8s.io/node", Operator: corev1.TolerationOpExists}},
				Containers:  []corev1.Container{{Name: "c", Image: "registry.local/load:v1"}}},
		})
	}
	return r.createAll(ctx, objs, 32)
}

// createAll creates objects with n workers.
func (r *run) createAll(ctx context.Context, objs []client.Object, n int) error {
	ch := make(chan client.Object)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for w := 0; w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for o := range ch {
				if err := r.env.Client.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("create %s %s/%s: %w", o.GetObjectKind().GroupVersionKind().Kind, o.GetNamespace(), o.GetName(), err)
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, o := range objs {
		select {
		case ch <- o:
		case <-ctx.Done():
		}
	}
	close(ch)
	wg.Wait()
	return first
}
