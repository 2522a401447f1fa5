package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/Masterminds/semver/v3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/castware-operator/castware-operator/internal/catalog"
	"github.com/castware-operator/castware-operator/internal/charts"
	"github.com/castware-operator/castware-operator/internal/devtools/testharness"
	"github.com/castware-operator/castware-operator/internal/operator"
	"github.com/castware-operator/castware-operator/internal/selfupgrade"
)

// OperatorRelease is the Helm release of the operator's own chart that the demo installs, as the documented
// `helm upgrade --install castware-operator` does.
const OperatorRelease = "castware-operator"

// operatorEnv is the cluster metadata the demo passes to the operator chart (additionalEnv), so the operator
// registers the cluster without IMDS.
var operatorEnv = map[string]string{"EKS_ACCOUNT_ID": "123456789012", "EKS_REGION": "eu-central-1", "EKS_CLUSTER_NAME": "demo"}

// operatorCharts loads helm-charts/castware-operator twice: as the version it declares and as the next
// patch version (the same templates, with version and appVersion bumped), so the repository offers an upgrade.
func operatorCharts() (current, next *charts.Chart, err error) {
	dir := filepath.Join(testharness.RepoRoot(), "helm-charts", "castware-operator")
	if current, err = charts.LoadDir(dir); err != nil {
		return nil, nil, fmt.Errorf("load the operator chart: %w", err)
	}
	if next, err = charts.LoadDir(dir); err != nil {
		return nil, nil, fmt.Errorf("load the operator chart: %w", err)
	}
	v, err := semver.NewVersion(current.Metadata.Version)
	if err != nil {
		return nil, nil, fmt.Errorf("operator chart version %q: %w", current.Metadata.Version, err)
	}
	bumped := v.IncPatch()
	next.Metadata.Version, next.Metadata.AppVersion = bumped.String(), "v"+bumped.String()
	return current, next, nil
}

// installOperatorRelease installs the operator chart at version with the helm binary and waits until the
// operator's pod runs (on kwok). The chart's own Cluster, Components, API-key Secret and webhooks are
// off: the demo creates the first three itself and the API server cannot reach a webhook in a kwok pod.
// The operator's self-upgrade source is the demo's repository (selfUpgrade.chartRepository).
func installOperatorRelease(ctx context.Context, env *testharness.Env, repoURL, version string) error {
	args := []string{"install", OperatorRelease, "castware-operator", "--repo", repoURL, "--version", version,
		"-n", Namespace, "--wait", "--timeout", "3m", "--set", "selfUpgrade.chartRepository=" + repoURL,
		"--set", "apiKeySecret.create=false", "--set", "webhook.enabled=false",
		"--set", "defaultCluster.enabled=false", "--set", "defaultComponents.enabled=false"}
	keys := make([]string, 0, len(operatorEnv))
	for k := range operatorEnv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "--set-string", "additionalEnv."+k+"="+operatorEnv[k])
	}
	if _, err := env.Helm(ctx, args...); err != nil {
		return fmt.Errorf("install the operator chart %s: %w", version, err)
	}
	return nil
}

// operatorPod is the operator's pod that the operator process of the demo stands in for.
type operatorPod struct {
	// Name is the pod's name.
	Name string
	// Env is the operator container's environment: literal values and the pod fields the chart refers to.
	Env map[string]string
	// Args are the operator container's arguments.
	Args []string
}

// ChartVersion is the chart version that deployed the pod ($OPERATOR_CHART_VERSION).
func (p *operatorPod) ChartVersion() string { return p.Env["OPERATOR_CHART_VERSION"] }

// findOperatorPod returns the newest Ready, not terminating pod of the operator's Deployment (nil: none).
func findOperatorPod(ctx context.Context, c client.Reader) (*operatorPod, error) {
	pods := &corev1.PodList{}
	if err := c.List(ctx, pods, client.InNamespace(Namespace),
		client.MatchingLabels{"app.kubernetes.io/name": "castware-operator", "app.kubernetes.io/instance": OperatorRelease}); err != nil {
		return nil, fmt.Errorf("list operator pods: %w", err)
	}
	var best *corev1.Pod
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.DeletionTimestamp != nil || !podReady(p) || len(p.Spec.Containers) == 0 {
			continue
		}
		if best == nil || best.CreationTimestamp.Before(&p.CreationTimestamp) {
			best = p
		}
	}
	if best == nil {
		return nil, nil
	}
	return &operatorPod{Name: best.Name, Env: containerEnv(best), Args: best.Spec.Containers[0].Args}, nil
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// containerEnv resolves the first container's environment as the kubelet would for the fields the chart uses.
func containerEnv(p *corev1.Pod) map[string]string {
	fields := map[string]string{"metadata.name": p.Name, "metadata.namespace": p.Namespace}
	env := map[string]string{}
	for _, e := range p.Spec.Containers[0].Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.FieldRef != nil:
			env[e.Name] = fields[e.ValueFrom.FieldRef.FieldPath]
		}
	}
	return env
}

// waitForOperatorPod polls until the operator's Deployment has a Ready pod.
func waitForOperatorPod(ctx context.Context, c client.Reader) (*operatorPod, error) {
	var pod *operatorPod
	err := testharness.Poll(ctx, 500*time.Millisecond, func() error {
		p, err := findOperatorPod(ctx, c)
		if err != nil {
			return err
		}
		if p == nil {
			return errors.New("no Ready operator pod yet")
		}
		pod = p
		return nil
	})
	return pod, err
}

// operatorProcess runs the operator in the demo's process as the stand-in of the operator's pod (kwok runs
// no containers): with the pod's name and environment, so its self-upgrade knows its release and the chart
// version that deployed it. When a rollout deletes that pod, the process stops as the pod's container
// would, and a new one starts as the pod that replaced it: after a self-upgrade, that is the new chart
// version, which finishes the upgrade. The code is the same binary either way; only the identity changes.
type operatorProcess struct {
	cfg     *rest.Config
	reader  client.Reader
	catalog *catalog.Catalog
	out     io.Writer

	mu  sync.Mutex
	pod *operatorPod
}

// Pod returns the pod the running operator stands in for (nil before the first start).
func (o *operatorProcess) Pod() *operatorPod {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.pod
}

// options are the operator's options as the pod's container would get them from its arguments and environment.
func (o *operatorProcess) options(pod *operatorPod) operator.Options {
	su := selfupgrade.OptionsFromEnv(func(k string) string { return pod.Env[k] })
	for _, a := range pod.Args {
		if a == "--self-upgrade=false" {
			su.Disabled = true
		}
		if repo, ok := strings.CutPrefix(a, "--self-upgrade-chart-repo="); ok {
			su.ChartRepository = repo
		}
	}
	return operator.Options{
		Namespace: Namespace, Catalog: o.catalog, ReadyTimeout: time.Minute,
		// A restarted operator registers its controllers again in this process.
		SkipControllerNameValidation: true,
		Env:                          func(k string) string { return pod.Env[k] },
		CastAI:                       operator.CastAIOptions{LongPoll: 5 * time.Minute},
		SelfUpgrade:                  &su,
	}
}

// Run keeps an operator running for the operator's current pod, starting with first, until ctx ends (nil)
// or an operator fails.
func (o *operatorProcess) Run(ctx context.Context, first *operatorPod) error {
	pod := first
	for {
		if err := o.runAs(ctx, pod); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		next, err := waitForOperatorPod(ctx, o.reader)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		fmt.Fprintf(o.out, "%s  operator pod %s (chart %s) replaced it: starting the operator again as that pod\n",
			time.Now().Format("15:04:05"), next.Name, orDash(next.ChartVersion()))
		pod = next
	}
}

// runAs runs the operator as pod until the pod is deleted (nil), ctx ends or the operator fails.
func (o *operatorProcess) runAs(ctx context.Context, pod *operatorPod) error {
	op, err := operator.New(o.cfg, o.options(pod))
	if err != nil {
		return fmt.Errorf("operator for pod %s: %w", pod.Name, err)
	}
	opCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- op.Manager.Start(opCtx) }()
	o.mu.Lock()
	o.pod = pod
	o.mu.Unlock()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			cancel()
			<-done
			return ctx.Err()
		case err := <-done:
			if err == nil {
				err = errors.New("exited")
			}
			return fmt.Errorf("operator (pod %s) stopped: %w", pod.Name, err)
		case <-tick.C:
		}
		if !o.podGone(ctx, pod.Name) {
			continue
		}
		fmt.Fprintf(o.out, "%s  operator pod %s (chart %s) was deleted by a rollout: its operator stops\n",
			time.Now().Format("15:04:05"), pod.Name, orDash(pod.ChartVersion()))
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("operator (pod %s) stopped: %w", pod.Name, err)
		}
		return nil
	}
}

// podGone reports whether the pod is deleted or being deleted (a read error counts as still there).
func (o *operatorProcess) podGone(ctx context.Context, name string) bool {
	p := &corev1.Pod{}
	err := o.reader.Get(ctx, client.ObjectKey{Namespace: Namespace, Name: name}, p)
	if err != nil {
		return client.IgnoreNotFound(err) == nil && ctx.Err() == nil
	}
	return p.DeletionTimestamp != nil
}

// versionLine describes the operator for the live display: the release's deployed chart version and the
// pod the operator process stands in for.
func (o *operatorProcess) versionLine(ctx context.Context, cfg *rest.Config) string {
	v := readReleaseVersion(ctx, cfg, Namespace, OperatorRelease)
	pod := o.Pod()
	if pod == nil {
		return "operator " + v.String()
	}
	return fmt.Sprintf("operator %s · process runs as pod %s (chart %s)", v.String(), pod.Name, orDash(pod.ChartVersion()))
}
