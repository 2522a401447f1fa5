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
	"github.com/castware-operator/castware-operator/internal/devtools/testharness"
)

// Options configure a benchmark run.
type Options struct {
	// Scale multiplies the cluster sizes of the memory measurement (default 1: 0, 5,000 and 20,000 pods).
	Scale float64
	// Idle is each API mode's steady-state window (default 3m).
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
	api   *castAPI
	op    *testharness.OperatorProcess
	audit string
	res   *Result
	dir   string
	id    string
	// floorIndex and floorArchives are the chart downloads of the helm CLI floors (not the operator's).
	floorIndex, floorArchives int
	// versions is the version each benchmark Component runs now (console actions alternate it).
	versions map[string]string
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
		opts.Idle = 3 * time.Minute
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
	fmt.Fprintf(r.out, "castware-operator benchmark (scale %.2g, idle window %s per API mode) on %s\n", opts.Scale, opts.Idle, r.res.Machine.String())
	if err := r.setUp(ctx); err != nil {
		return nil, err
	}
	defer r.tearDown()
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"install latency (operator vs helm CLI, serial and parallel)", r.installLatency},
		// The holding phase hands over to the next one by switching the API to answering at once.
		{"console actions and idle cost, " + holdingMode.Label, func(ctx context.Context) error {
			return r.console(ctx, holdingMode, func() { r.api.SetHold(0) })
		}},
		{"console actions and idle cost, " + atOnceMode.Label, func(ctx context.Context) error { return r.console(ctx, atOnceMode, nil) }},
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
	bin, err := buildOperator(ctx, r.dir)
	if err != nil {
		return err
	}
	size, err := fileSize(bin)
	if err != nil {
		return err
	}
	r.res.add(Row{Group: "start", Metric: "operator binary size (as make build builds it: static, stripped)", Value: float64(size), Unit: "B"})
	r.logf("operator built as make build does (%d bytes)", size)
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
	// Holding first (the operator asks for at most its own long-poll wait); the second console phase
	// switches it to answering at once.
	r.api = startCastAPI(fake.WithCatalog(catalog...), fake.WithHold(10*time.Minute))
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
// same charts with --wait, back to back and as three processes at once (the operator installs in parallel).
func (r *run) installLatency(ctx context.Context) error {
	serial, err := r.helmFloor(ctx, "bench-helm", false)
	if err != nil {
		return err
	}
	r.logf("helm CLI: 3 installs with --wait, back to back, in %.2fs", secs(serial))
	parallel, err := r.helmFloor(ctx, "bench-helm-parallel", true)
	if err != nil {
		return err
	}
	r.logf("helm CLI: 3 installs with --wait, 3 processes at once, in %.2fs", secs(parallel))
	r.floorIndex, r.floorArchives = r.repo.Requests("index.yaml"), r.repo.Requests(".tgz")

	t0 := time.Now()
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
	if rows, err := InstallBreakdown(ctx, r.env.Client, r.audit, r.op.LogPath, Namespace, nil, t0); err == nil {
		defer r.res.add(rows...) // after the install rows
	} else {
		r.logf("install breakdown: %v", err)
	}
	r.res.add(Row{Group: "install", Metric: "3 components installed, pods Ready: helm CLI (--wait, back to back)", Value: secs(serial), Unit: "s"})
	r.res.add(Row{Group: "install", Metric: "3 components installed, pods Ready: helm CLI (--wait, 3 processes in parallel)", Value: secs(parallel), Unit: "s"})
	r.res.add(Row{Group: "install", Metric: "3 components installed, pods Ready: operator", Value: secs(opTime), Unit: "s", Reference: "2.1 s for 2, pods not awaited"})
	r.res.add(Row{Group: "install", Metric: "install latency ratio operator / helm CLI back to back", Value: secs(opTime) / secs(serial), Unit: "×"})
	r.res.add(Row{Group: "install", Metric: "install latency ratio operator / helm CLI in parallel (the fair floor)", Value: secs(opTime) / secs(parallel), Unit: "×", Target: "≤ 1.2"})
	return nil
}

// helmFloor installs the benchmark charts with the helm CLI (`helm upgrade --install --wait`) into a fresh
// namespace, back to back or as one process per chart at once, and returns the time until every process
// has returned (all pods Ready); the releases are uninstalled afterwards.
func (r *run) helmFloor(ctx context.Context, ns string, parallel bool) (time.Duration, error) {
	if err := r.env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return 0, fmt.Errorf("namespace %s: %w", ns, err)
	}
	if err := r.env.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "castware-api-key", Namespace: ns}, StringData: map[string]string{"API_KEY": "x"}}); err != nil {
		return 0, fmt.Errorf("API key Secret in %s: %w", ns, err)
	}
	t0 := time.Now()
	errs := make([]error, len(components))
	var wg sync.WaitGroup
	for i, c := range components {
		if !parallel {
			errs[i] = r.helmInstall(ctx, ns, c.name, c.chart, c.release, c.from)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = r.helmInstall(ctx, ns, c.name, c.chart, c.release, c.from)
		}()
	}
	wg.Wait()
	d := time.Since(t0)
	for _, err := range errs {
		if err != nil {
			return 0, err
		}
	}
	// The charts name cluster-scoped objects (ClusterRoles, the agent's Role in kube-system) the same in
	// every release, as the real ones do: one release of each per cluster. Uninstall the floor's, untimed,
	// so the next floor and the operator can install theirs.
	for _, c := range components {
		if out, err := r.env.Helm(ctx, "uninstall", c.release, "-n", ns, "--wait", "--timeout", "5m"); err != nil {
			return 0, fmt.Errorf("helm CLI floor, uninstall %s in %s: %w\n%s", c.release, ns, err, out)
		}
	}
	return d, nil
}

// helmInstall runs one `helm upgrade --install --wait` of a benchmark chart, with the values a real
// install of that component would set.
func (r *run) helmInstall(ctx context.Context, ns, name, chart, release, version string) error {
	sets := map[string][]string{
		"castai-agent":       {"apiURL=" + r.api.URL(), "apiKeySecretRef=castware-api-key", "provider=eks", "createNamespace=false"},
		"spot-handler":       {"apiKeySecretRef=castware-api-key", "castai.apiURL=" + r.api.URL(), "castai.clusterID=" + r.id, "castai.provider=aws"},
		"cluster-controller": {"castai.apiURL=" + r.api.URL(), "castai.clusterID=" + r.id, "castai.apiKeySecretRef=castware-api-key"},
	}
	args := []string{"upgrade", "--install", release, fmt.Sprintf("%s/charts/%s-%s.tgz", r.repo.URL(), chart, version), "-n", ns, "--wait", "--timeout", "5m"}
	for _, s := range sets[name] {
		args = append(args, "--set", s)
	}
	if out, err := r.env.Helm(ctx, args...); err != nil {
		return fmt.Errorf("helm CLI floor, %s in %s: %w\n%s", release, ns, err, out)
	}
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
		rest := time.Duration(0)
		if i == 0 {
			rest = restBeforeMemory // the operator hands back pages a burst touched once it is quiet again
		}
		rss, heap, err := r.settledMemory(ctx, rest)
		if err != nil {
			return err
		}
		br, err := r.op.MemoryBreakdown()
		if err != nil {
			return err
		}
		r.res.Memory = append(r.res.Memory, MemoryPoint{Pods: pods, RSSMB: rss / (1 << 20), AnonMB: br["Anonymous"] / (1 << 20),
			FileMB: (br["Rss"] - br["Anonymous"]) / (1 << 20), HeapMB: heap / (1 << 20)})
		r.logf("%6d pods: RSS %.1f MiB (anonymous %.1f, file-backed %.1f), Go heap %.1f MiB", pods, rss/(1<<20),
			br["Anonymous"]/(1<<20), (br["Rss"]-br["Anonymous"])/(1<<20), heap/(1<<20))
	}
	first, last := r.res.Memory[0], r.res.Memory[len(r.res.Memory)-1]
	r.res.add(Row{Group: "memory", Metric: fmt.Sprintf("RSS at rest, %d pods", first.Pods), Value: first.RSSMB, Unit: "MiB", Reference: "79–81 MiB"})
	r.res.add(Row{Group: "memory", Metric: fmt.Sprintf("  of RSS at rest, %d pods: anonymous (heap, stacks, runtime)", first.Pods), Value: first.AnonMB, Unit: "MiB"})
	r.res.add(Row{Group: "memory", Metric: fmt.Sprintf("  of RSS at rest, %d pods: file-backed (the binary's pages)", first.Pods), Value: first.FileMB, Unit: "MiB"})
	r.res.add(Row{Group: "memory", Metric: fmt.Sprintf("RSS at %d pods (+%d Deployments, %d Secrets, %d namespaces)", last.Pods, int(2000*r.opts.Scale), int(1000*r.opts.Scale), clutterNamespaces), Value: last.RSSMB, Unit: "MiB", Target: "< 64"})
	r.res.add(Row{Group: "memory", Metric: "RSS growth, smallest to largest cluster", Value: (last.RSSMB/first.RSSMB - 1) * 100, Unit: "%", Target: "< 10"})
	r.res.add(Row{Group: "memory", Metric: fmt.Sprintf("  of RSS at %d pods: anonymous (heap, stacks, runtime)", last.Pods), Value: last.AnonMB, Unit: "MiB"})
	r.res.add(Row{Group: "memory", Metric: fmt.Sprintf("  of RSS at %d pods: file-backed (the binary's pages)", last.Pods), Value: last.FileMB, Unit: "MiB"})
	r.res.add(Row{Group: "memory", Metric: fmt.Sprintf("Go heap in use at %d pods", last.Pods), Value: last.HeapMB, Unit: "MiB"})
	return nil
}

// restBeforeMemory is how long the operator is left alone after the last action before its RSS at rest is
// read: two of pagetrim's 30 s sampling intervals and some.
const restBeforeMemory = 75 * time.Second

// settledMemory waits rest, then until RSS stops moving (3 samples 2s apart within 2%), at most 60s more.
func (r *run) settledMemory(ctx context.Context, rest time.Duration) (rss, heap float64, err error) {
	if !sleepCtx(ctx, rest) {
		return 0, 0, ctx.Err()
	}
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
