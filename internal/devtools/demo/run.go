package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/castai"
	"github.com/castware-operator/castware-operator/internal/castai/fake"
	"github.com/castware-operator/castware-operator/internal/catalog"
	"github.com/castware-operator/castware-operator/internal/devtools/testharness"
)

// Options configure the demo.
type Options struct {
	// Addr is where the console page listens (default 127.0.0.1:8090).
	Addr string
	// Nodes is the number of fake nodes (default 3).
	Nodes int
	// Out receives the progress display and the live table (default os.Stdout).
	Out io.Writer
	// Ready, when set, receives the console URL once every component is Available.
	Ready chan<- string
}

// Namespace is where the demo installs the operator's resources, as the documented install does.
const Namespace = "castai-agent"

// Versions the demo starts with: one behind the fake API's latest, so Update has work to do.
var startVersions = map[string]string{"castai-agent": "0.161.0", "spot-handler": "0.35.4"}

// demoCatalog is what the fake Cast AI API knows (getByName): the demo charts' newest versions, and the
// newer of the two operator chart versions in the demo's repository.
func demoCatalog(operatorLatest string) []castai.ComponentInfo {
	return []castai.ComponentInfo{
		{ID: "6f0b3c4e-0000-4000-8000-000000000001", Name: "castai-agent", HelmChart: "castai-agent", LatestVersion: "0.161.1", ReleaseName: "castai-agent", Dependencies: []string{}},
		{ID: "6f0b3c4e-0000-4000-8000-000000000002", Name: "spot-handler", HelmChart: "castai-spot-handler", LatestVersion: "0.35.5", ReleaseName: "castai-spot-handler", Dependencies: []string{}},
		{ID: "6f0b3c4e-0000-4000-8000-000000000004", Name: "castware-operator", HelmChart: "castware-operator", LatestVersion: operatorLatest, ReleaseName: OperatorRelease, Dependencies: []string{}},
	}
}

// progress prints one start-up step with its duration; on a terminal the step shows while it runs.
type progress struct {
	out   io.Writer
	start time.Time
	tty   bool
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func (p *progress) step(what string, fn func() error) error {
	if p.tty {
		fmt.Fprintf(p.out, "  … %s", what)
	}
	t0 := time.Now()
	err := fn()
	if p.tty {
		fmt.Fprint(p.out, "\r\033[K")
	}
	if err != nil {
		fmt.Fprintf(p.out, "  ✗ %s: %v\n", what, err)
		return err
	}
	fmt.Fprintf(p.out, "  ✓ %s (%.1fs)\n", what, time.Since(t0).Seconds())
	return nil
}

// Run starts everything, shows the components until they are Available, serves the console, and stops
// everything it started when ctx ends (Ctrl-C).
func Run(ctx context.Context, opts Options) error {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:8090"
	}
	if opts.Nodes == 0 {
		opts.Nodes = 3
	}
	if opts.Out == nil {
		opts.Out = os.Stdout
	}
	out := opts.Out
	p := &progress{out: out, start: time.Now(), tty: isTerminal(out)}
	fmt.Fprintln(out, "castware-operator demo — starting (Ctrl-C stops everything)")

	var env *testharness.Env
	if err := p.step(fmt.Sprintf("control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok with %d nodes", opts.Nodes), func() error {
		var err error
		env, err = testharness.Start(testharness.Options{Kwok: true, Nodes: opts.Nodes})
		return err
	}); err != nil {
		return err
	}
	defer func() {
		fmt.Fprintln(out, "stopping the control plane")
		_ = env.Stop()
	}()

	repo, opCurrent, opNext, err := chartRepository(p)
	if err != nil {
		return err
	}
	defer repo.Close()

	api := fake.New(fake.WithCatalog(demoCatalog(opNext)...), fake.WithHold(5*time.Minute))
	if err := p.step("fake Cast AI API", api.Start); err != nil {
		return err
	}
	defer api.Close()

	if err := p.step("namespace castai-agent and the API-key Secret", func() error {
		return createResources(ctx, env.Client, namespaceAndSecret())
	}); err != nil {
		return err
	}
	if err := p.step(fmt.Sprintf("helm install castware-operator %s (the operator's own release; kwok runs its pod)", opCurrent), func() error {
		return installOperatorRelease(ctx, env, repo.URL(), opCurrent)
	}); err != nil {
		return err
	}

	cat, err := catalog.Load(filepath.Join(testharness.RepoRoot(), "watches.yaml"))
	if err != nil {
		return err
	}
	proc := &operatorProcess{cfg: env.Config, reader: env.Client, catalog: cat, out: out}
	opCtx, stopOperator := context.WithCancel(ctx)
	defer stopOperator()
	opDone := make(chan error, 1)
	var first *operatorPod
	if err := p.step("castware-operator (shipped catalog: watches.yaml) in this process, as the operator's pod", func() error {
		var err error
		if first, err = waitForOperatorPod(ctx, env.Client); err != nil {
			return fmt.Errorf("operator pod: %w", err)
		}
		go func() { opDone <- proc.Run(opCtx, first) }()
		return nil
	}); err != nil {
		return err
	}
	fmt.Fprintf(out, "    as pod %s, deployed by chart %s\n", first.Name, orDash(first.ChartVersion()))

	if err := p.step("Cluster and default Components (as the chart creates them)", func() error {
		return createResources(ctx, env.Client, clusterAndComponents(api.URL(), repo.URL()))
	}); err != nil {
		return err
	}

	console := &Console{Client: env.Client, API: api, Namespace: Namespace, Cluster: "castai", Config: env.Config}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return fmt.Errorf("console page: %w", err)
	}
	srv := &http.Server{Handler: console.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	url := "http://" + ln.Addr().String() + "/"
	fmt.Fprintf(out, "  ✓ console page: %s\n\n", url)

	announced := false
	last := ""
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		table, allReady, err := componentTable(ctx, env.Client)
		if block := "  " + proc.versionLine(ctx, env.Config) + "\n" + table; err == nil && block != last {
			fmt.Fprintf(out, "%s  %s\n%s\n", time.Now().Format("15:04:05"), clusterLine(ctx, env.Client), block)
			last = block
		}
		if allReady && !announced {
			announced = true
			fmt.Fprintf(out, "every component is Available (%.0fs after start). Open %s to Update the operator or a component, or Roll back; Ctrl-C stops the demo.\n\n",
				time.Since(p.start).Seconds(), url)
			if opts.Ready != nil {
				opts.Ready <- url
			}
		}
		select {
		case <-ctx.Done():
			fmt.Fprintln(out, "\nstopping the operator")
			stopOperator()
			if err := <-opDone; err != nil {
				return err
			}
			return nil
		case err := <-opDone:
			if ctx.Err() != nil { // Ctrl-C stopped the operator first
				fmt.Fprintln(out, "\nstopping the operator")
				return err
			}
			if err == nil {
				err = errors.New("exited")
			}
			return fmt.Errorf("operator stopped: %w", err)
		case <-tick.C:
		}
	}
}

// chartRepository serves the demo charts and two versions of the operator's chart (current and next).
func chartRepository(p *progress) (repo *testharness.ChartServer, current, next string, err error) {
	cur, nxt, err := operatorCharts()
	if err != nil {
		return nil, "", "", err
	}
	current, next = cur.Metadata.Version, nxt.Metadata.Version
	err = p.step(fmt.Sprintf("chart repository with the demo charts (helm-charts/demo) and castware-operator %s and %s (helm-charts/castware-operator)",
		current, next), func() error {
		if repo, err = testharness.NewChartServer(filepath.Join(testharness.RepoRoot(), "helm-charts", "demo")); err != nil {
			return err
		}
		if err := repo.Add(cur); err != nil {
			return err
		}
		return repo.Add(nxt)
	})
	if err != nil && repo != nil {
		repo.Close()
	}
	return repo, current, next, err
}

// namespaceAndSecret are the namespace and the API-key Secret, which the operator's release expects to exist.
func namespaceAndSecret() []client.Object {
	return []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: castwarev1.DefaultAPIKeySecret, Namespace: Namespace},
			StringData: map[string]string{castwarev1.APIKeySecretKey: fake.DefaultAPIKey}},
	}
}

// clusterAndComponents are the Cluster and the default Components, one version behind the latest.
func clusterAndComponents(apiURL, repoURL string) []client.Object {
	objs := []client.Object{
		&castwarev1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "castai", Namespace: Namespace}, Spec: castwarev1.ClusterSpec{
			Provider: "eks", APIKeySecret: castwarev1.DefaultAPIKeySecret, API: castwarev1.APISpec{APIURL: apiURL},
			HelmRepoURL: repoURL, MigrationMode: castwarev1.MigrationModeWrite}},
	}
	for _, name := range []string{"castai-agent", "spot-handler"} {
		objs = append(objs, &castwarev1.Component{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: Namespace},
			Spec: castwarev1.ComponentSpec{Component: name, Cluster: "castai", Enabled: true, Version: startVersions[name]}})
	}
	return objs
}

func createResources(ctx context.Context, c client.Client, objs []client.Object) error {
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create %T %s: %w", o, o.GetName(), err)
		}
	}
	return nil
}

func clusterLine(ctx context.Context, c client.Client) string {
	cl := &castwarev1.Cluster{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: Namespace, Name: "castai"}, cl); err != nil {
		return "cluster: " + err.Error()
	}
	id := cl.ClusterID()
	if id == "" {
		id = "(registering)"
	}
	return fmt.Sprintf("cluster castai · %s · ID %s", orDash(cl.Status.Phase), id)
}

// componentTable renders `kubectl get components`-like output and reports whether all are Available.
func componentTable(ctx context.Context, c client.Client) (string, bool, error) {
	list := &castwarev1.ComponentList{}
	if err := c.List(ctx, list, client.InNamespace(Namespace)); err != nil {
		return "", false, err
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  COMPONENT\tWANTED\tRUNNING\tAVAILABLE\tPROGRESSING\tDETAIL")
	all := len(list.Items) > 0
	for _, comp := range list.Items {
		avail, prog, detail := "-", "-", ""
		if a := meta.FindStatusCondition(comp.Status.Conditions, castwarev1.ConditionAvailable); a != nil {
			avail = string(a.Status)
		}
		if pr := meta.FindStatusCondition(comp.Status.Conditions, castwarev1.ConditionProgressing); pr != nil {
			prog, detail = string(pr.Status)+"/"+pr.Reason, pr.Message
		}
		if avail != "True" || strings.HasPrefix(prog, "True") {
			all = false
		}
		if len(detail) > 70 {
			detail = detail[:70] + "…"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", comp.Name, orDash(comp.Spec.Version), orDash(comp.Status.CurrentVersion), avail, prog, detail)
	}
	_ = tw.Flush()
	return b.String(), all, nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
