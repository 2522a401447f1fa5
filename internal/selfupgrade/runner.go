package selfupgrade

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/castai"
	"github.com/castware-operator/castware-operator/internal/charts"
	"github.com/castware-operator/castware-operator/internal/helm"
	"github.com/castware-operator/castware-operator/internal/values"
)

// Runner carries out self-upgrades on the leader; add it to the manager (it needs leader election).
type Runner struct{ u *Upgrader }

// Runnable returns the leader-elected runnable that carries out the upgrades Start records.
func (u *Upgrader) Runnable() *Runner { return &Runner{u: u} }

// NeedLeaderElection makes the runner run on the leader only.
func (r *Runner) NeedLeaderElection() bool { return true }

// Start runs until ctx ends, advancing recorded upgrades when kicked and every resync interval.
func (r *Runner) Start(ctx context.Context) error {
	t := time.NewTicker(r.u.opts.ResyncInterval)
	defer t.Stop()
	for {
		r.u.RunOnce(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-r.u.kick:
		case <-t.C:
		}
	}
}

// RunOnce advances the upgrade of every Cluster in the operator's namespace as far as it can go now:
// it returns when each is final and reported, waits for another process, or ctx ends.
func (u *Upgrader) RunOnce(ctx context.Context) {
	if u.refusal() != nil {
		return
	}
	list := &castwarev1.ClusterList{}
	if err := u.reader.List(ctx, list, client.InNamespace(u.opts.Namespace)); err != nil {
		if ctx.Err() == nil {
			u.opts.Log.Error(err, "list clusters")
		}
		return
	}
	for i := range list.Items {
		cl := &list.Items[i]
		if cl.Status.OperatorUpgrade == nil || !cl.DeletionTimestamp.IsZero() {
			continue
		}
		if err := u.advance(ctx, cl); err != nil && !errors.Is(err, errStale) && ctx.Err() == nil {
			u.opts.Log.Error(err, "operator upgrade step failed; retrying", "cluster", cl.Name)
		}
	}
}

// advance takes steps until the upgrade is final and reported or must wait for someone else.
func (u *Upgrader) advance(ctx context.Context, cl *castwarev1.Cluster) error {
	for steps := 0; steps < 16; steps++ {
		st := cl.Status.OperatorUpgrade
		if st == nil {
			return nil
		}
		before := st.Phase
		var err error
		switch st.Phase {
		case castwarev1.OperatorUpgradePending:
			err = u.stepUpgrade(ctx, cl)
		case castwarev1.OperatorUpgradeUpgrading:
			// Only seen when resuming: this process runs `helm upgrade` synchronously and moves on.
			err = u.stepResumeUpgrading(ctx, cl)
		case castwarev1.OperatorUpgradeRollingOut:
			err = u.stepRollout(ctx, cl)
		case castwarev1.OperatorUpgradeHandingOver:
			if !u.isTarget(st) {
				return nil // the new version finishes; this (old) process is about to be replaced
			}
			err = u.stepComplete(ctx, cl)
		case castwarev1.OperatorUpgradeRollingBack:
			err = u.stepRollback(ctx, cl)
		default:
			if st.Reported {
				return nil
			}
			return u.stepReportFinal(ctx, cl)
		}
		if err != nil {
			return err
		}
		if cl.Status.OperatorUpgrade != nil && cl.Status.OperatorUpgrade.Phase == before {
			return nil // waiting
		}
	}
	return nil
}

func (u *Upgrader) isTarget(st *castwarev1.OperatorUpgradeStatus) bool {
	return sameVersion(u.opts.ChartVersion, st.ToVersion)
}

// fail moves the upgrade to Failed (nothing to roll back) or RollingBack (a new revision exists).
func (u *Upgrader) fail(ctx context.Context, cl *castwarev1.Cluster, from castwarev1.OperatorUpgradePhase, cause string) error {
	st, err := u.engine.Observe(ctx, cl, cl.Status.OperatorUpgrade.Release)
	if err != nil {
		return err
	}
	if st.Latest != nil && st.Latest.Version > cl.Status.OperatorUpgrade.FromRevision {
		return u.transition(ctx, cl, from, castwarev1.OperatorUpgradeRollingBack, cause, nil)
	}
	return u.transition(ctx, cl, from, castwarev1.OperatorUpgradeFailed, cause, nil)
}

// stepUpgrade loads the target chart, dry-runs the upgrade, then upgrades the release.
func (u *Upgrader) stepUpgrade(ctx context.Context, cl *castwarev1.Cluster) error {
	st := cl.Status.OperatorUpgrade
	hist, err := u.engine.Observe(ctx, cl, st.Release)
	if err != nil {
		return err
	}
	var current *helm.Release
	for _, r := range hist.History {
		if r.Version == st.FromRevision {
			current = r
		}
	}
	if !helm.IsDeployed(current) || hist.Latest != current {
		return u.transition(ctx, cl, castwarev1.OperatorUpgradePending, castwarev1.OperatorUpgradeFailed,
			fmt.Sprintf("release %s changed since the upgrade was requested (revision %d is no longer the deployed one)", st.Release, st.FromRevision), nil)
	}
	// The operator's own chart comes only from the pinned source, never from the Cluster's helmRepoURL
	// (which users and the console may point at other products' charts).
	repo := u.opts.ChartRepository
	name := current.Chart.Metadata.Name
	if err := CheckTarget(name, chartVersion(current), name, st.ToVersion, st.Rollback); err != nil {
		return u.transition(ctx, cl, castwarev1.OperatorUpgradePending, castwarev1.OperatorUpgradeFailed,
			fmt.Sprintf("upgrade to %s refused: %v; nothing was changed", st.ToVersion, err), nil)
	}
	loaded, err := u.charts.Load(ctx, charts.Ref{Repo: repo, Name: name, Version: st.ToVersion})
	if err != nil {
		return u.transition(ctx, cl, castwarev1.OperatorUpgradePending, castwarev1.OperatorUpgradeFailed,
			fmt.Sprintf("chart %s %s unavailable from %s: %v; nothing was changed", name, st.ToVersion, repo, err), nil)
	}
	if err := CheckTarget(name, chartVersion(current), loaded.Chart.Metadata.Name, loaded.Chart.Metadata.Version, st.Rollback); err != nil {
		return u.transition(ctx, cl, castwarev1.OperatorUpgradePending, castwarev1.OperatorUpgradeFailed,
			fmt.Sprintf("chart %s %s from %s refused: %v; nothing was changed", name, st.ToVersion, repo, err), nil)
	}
	if !sameVersion(loaded.Chart.Metadata.Version, st.ToVersion) {
		return u.transition(ctx, cl, castwarev1.OperatorUpgradePending, castwarev1.OperatorUpgradeFailed,
			fmt.Sprintf("%s served chart version %s for %s; nothing was changed", repo, loaded.Chart.Metadata.Version, st.ToVersion), nil)
	}
	vals := UpgradeValues(current.Config)
	req := helm.OwnUpgrade{Owner: cl, ReleaseName: st.Release, Chart: loaded.Chart, Values: vals,
		Description: fmt.Sprintf("castware-operator self-upgrade %s -> %s", st.FromVersion, st.ToVersion)}
	dry := req
	dry.DryRun = true
	if _, err := u.engine.UpgradeRelease(ctx, dry); err != nil {
		return u.transition(ctx, cl, castwarev1.OperatorUpgradePending, castwarev1.OperatorUpgradeFailed,
			fmt.Sprintf("dry run of the upgrade to %s failed: %v", st.ToVersion, err), nil)
	}
	if err := u.transition(ctx, cl, castwarev1.OperatorUpgradePending, castwarev1.OperatorUpgradeUpgrading,
		fmt.Sprintf("dry run passed; upgrading %s from %s to %s", st.Release, st.FromVersion, st.ToVersion), nil); err != nil {
		return err
	}
	u.progress(ctx, cl, cl.Status.OperatorUpgrade.Message)
	rel, err := u.engine.UpgradeRelease(ctx, req)
	if err != nil {
		return u.fail(ctx, cl, castwarev1.OperatorUpgradeUpgrading, fmt.Sprintf("helm upgrade to %s failed: %v", st.ToVersion, err))
	}
	if err := u.transition(ctx, cl, castwarev1.OperatorUpgradeUpgrading, castwarev1.OperatorUpgradeRollingOut,
		fmt.Sprintf("release %s upgraded to %s (revision %d); waiting for the new operator pods to become Ready", st.Release, st.ToVersion, rel.Version),
		func(s *castwarev1.OperatorUpgradeStatus) { s.ToRevision = rel.Version }); err != nil {
		return err
	}
	u.progress(ctx, cl, cl.Status.OperatorUpgrade.Message)
	return nil
}

// UpgradeValues returns the values a self-upgrade installs: the release's user-supplied values (reset
// then reuse: the new chart's defaults apply to everything the user did not set), with image.tag removed
// so the image follows the new chart's appVersion, and without the API key (see withoutAPIKey).
func UpgradeValues(config map[string]any) map[string]any {
	vals := values.Copy(config)
	if vals == nil {
		vals = map[string]any{}
	}
	if img, ok := vals["image"].(map[string]any); ok {
		delete(img, "tag")
		if len(img) == 0 {
			delete(vals, "image")
		}
	}
	withoutAPIKey(vals)
	return vals
}

// withoutAPIKey removes apiKeySecret.apiKey so no revision the operator writes stores the key in plaintext.
// The chart created the Secret from it at install; it carries helm.sh/resource-policy: keep, so turning
// apiKeySecret.create off makes Helm stop rendering it without deleting it.
// It reports whether there was a key to remove.
func withoutAPIKey(vals map[string]any) bool {
	sec, ok := vals["apiKeySecret"].(map[string]any)
	if !ok {
		return false
	}
	if _, has := sec["apiKey"]; !has {
		return false
	}
	delete(sec, "apiKey")
	sec["create"] = false
	return true
}

// stepResumeUpgrading decides what an upgrade interrupted during `helm upgrade` left behind.
func (u *Upgrader) stepResumeUpgrading(ctx context.Context, cl *castwarev1.Cluster) error {
	st := cl.Status.OperatorUpgrade
	hist, err := u.engine.Observe(ctx, cl, st.Release)
	if err != nil {
		return err
	}
	latest := hist.Latest
	switch {
	case latest == nil || latest.Version <= st.FromRevision:
		return u.transition(ctx, cl, castwarev1.OperatorUpgradeUpgrading, castwarev1.OperatorUpgradeFailed,
			"the operator stopped before helm upgrade changed the release; nothing was changed", nil)
	case helm.IsDeployed(latest) && sameVersion(chartVersion(latest), st.ToVersion):
		return u.transition(ctx, cl, castwarev1.OperatorUpgradeUpgrading, castwarev1.OperatorUpgradeRollingOut,
			fmt.Sprintf("release %s upgraded to %s (revision %d); waiting for the new operator pods to become Ready", st.Release, st.ToVersion, latest.Version),
			func(s *castwarev1.OperatorUpgradeStatus) { s.ToRevision = latest.Version })
	default:
		return u.transition(ctx, cl, castwarev1.OperatorUpgradeUpgrading, castwarev1.OperatorUpgradeRollingBack,
			fmt.Sprintf("the operator stopped during helm upgrade (revision %d is %s)", latest.Version, statusOf(latest)), nil)
	}
}

// stepRollout waits until the new revision's operator pods are Ready, fail, or the ready timeout passes.
func (u *Upgrader) stepRollout(ctx context.Context, cl *castwarev1.Cluster) error {
	st := cl.Status.OperatorUpgrade
	since := st.StartedAt.Time
	if st.PhaseSince != nil {
		since = st.PhaseSince.Time
	}
	deadline := since.Add(u.opts.ReadyTimeout)
	for {
		ready, failed, detail, err := u.newPods(ctx, cl)
		if err != nil {
			return err
		}
		switch {
		case ready:
			if err := u.transition(ctx, cl, castwarev1.OperatorUpgradeRollingOut, castwarev1.OperatorUpgradeHandingOver,
				fmt.Sprintf("new operator pods Ready (%s); the new operator finishes the upgrade", detail), nil); err != nil {
				return err
			}
			u.progress(ctx, cl, cl.Status.OperatorUpgrade.Message)
			return nil
		case failed:
			return u.transition(ctx, cl, castwarev1.OperatorUpgradeRollingOut, castwarev1.OperatorUpgradeRollingBack,
				"the new operator pods failed: "+detail, nil)
		case !u.opts.Now().Before(deadline):
			return u.transition(ctx, cl, castwarev1.OperatorUpgradeRollingOut, castwarev1.OperatorUpgradeRollingBack,
				fmt.Sprintf("the new operator pods did not become Ready within %s: %s", u.opts.ReadyTimeout, detail), nil)
		}
		if err := sleep(ctx, u.opts.PollInterval); err != nil {
			return err
		}
	}
}

// newPods reports on the pods of the ReplicaSets that the Deployments of revision ToRevision rolled out:
// ready when each has its desired replicas available, failed when a pod can never become Ready.
func (u *Upgrader) newPods(ctx context.Context, cl *castwarev1.Cluster) (ready, failed bool, detail string, err error) {
	st := cl.Status.OperatorUpgrade
	rel, err := u.revision(ctx, cl, st.ToRevision)
	if err != nil {
		return false, false, "", err
	}
	objs, err := helm.Objects(rel.Manifest, rel.Namespace)
	if err != nil {
		return false, false, "", err
	}
	ready = true
	var parts []string
	for _, o := range objs {
		if o.GetKind() != "Deployment" {
			continue
		}
		r, f, msg, err := u.deploymentPods(ctx, types.NamespacedName{Namespace: o.GetNamespace(), Name: o.GetName()})
		if err != nil {
			return false, false, "", err
		}
		ready = ready && r
		failed = failed || f
		parts = append(parts, fmt.Sprintf("deployment %s: %s", o.GetName(), msg))
	}
	if len(parts) == 0 {
		return false, true, "revision renders no Deployment", nil
	}
	return ready, failed, strings.Join(parts, "; "), nil
}

// fatalWaiting are container waiting reasons after which a pod will not become Ready by itself.
var fatalWaiting = map[string]bool{
	"ImagePullBackOff": true, "ErrImagePull": true, "InvalidImageName": true, "CrashLoopBackOff": true,
	"CreateContainerConfigError": true, "CreateContainerError": true, "RunContainerError": true,
}

func (u *Upgrader) deploymentPods(ctx context.Context, key types.NamespacedName) (ready, failed bool, detail string, err error) {
	d := &appsv1.Deployment{}
	if err := u.reader.Get(ctx, key, d); err != nil {
		return false, false, "", fmt.Errorf("read deployment %s: %w", key.Name, err)
	}
	if d.Status.ObservedGeneration < d.Generation {
		return false, false, "rollout not observed yet", nil
	}
	rev := d.Annotations["deployment.kubernetes.io/revision"]
	rss := &appsv1.ReplicaSetList{}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return false, false, "", err
	}
	if err := u.reader.List(ctx, rss, client.InNamespace(key.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return false, false, "", fmt.Errorf("list replicasets of %s: %w", key.Name, err)
	}
	var rs *appsv1.ReplicaSet
	for i := range rss.Items {
		x := &rss.Items[i]
		if metav1.IsControlledBy(x, d) && rev != "" && x.Annotations["deployment.kubernetes.io/revision"] == rev {
			rs = x
		}
	}
	if rs == nil {
		return false, false, "new ReplicaSet not created yet", nil
	}
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	if rs.Status.AvailableReplicas >= want {
		return true, false, fmt.Sprintf("%d/%d new pods ready", rs.Status.AvailableReplicas, want), nil
	}
	podSel, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
	if err != nil {
		return false, false, "", err
	}
	pods := &corev1.PodList{}
	if err := u.reader.List(ctx, pods, client.InNamespace(key.Namespace), client.MatchingLabelsSelector{Selector: podSel}); err != nil {
		return false, false, "", fmt.Errorf("list pods of %s: %w", rs.Name, err)
	}
	detail = fmt.Sprintf("%d/%d new pods ready", rs.Status.AvailableReplicas, want)
	for _, c := range rs.Status.Conditions {
		if c.Type == appsv1.ReplicaSetReplicaFailure && c.Status == corev1.ConditionTrue {
			detail += fmt.Sprintf("; pods cannot be created: %s", c.Message)
		}
	}
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodFailed {
			return false, true, fmt.Sprintf("pod %s failed: %s %s", p.Name, p.Status.Reason, p.Status.Message), nil
		}
		for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
			if w := cs.State.Waiting; w != nil && fatalWaiting[w.Reason] {
				return false, true, fmt.Sprintf("pod %s container %s: %s: %s", p.Name, cs.Name, w.Reason, w.Message), nil
			}
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Message != "" {
				detail += fmt.Sprintf("; pod %s unschedulable: %s", p.Name, c.Message)
			}
		}
	}
	return false, false, detail, nil
}

// stepComplete, run by the new version, checks that the upgraded release is deployed and fully rolled
// out, claims the upgrade as Succeeded (only one process can) and reports it.
func (u *Upgrader) stepComplete(ctx context.Context, cl *castwarev1.Cluster) error {
	st := cl.Status.OperatorUpgrade
	since := st.StartedAt.Time
	if st.PhaseSince != nil {
		since = st.PhaseSince.Time
	}
	deadline := since.Add(u.opts.ReadyTimeout)
	for {
		rel, err := u.revision(ctx, cl, st.ToRevision)
		if err != nil {
			return err
		}
		if !helm.IsDeployed(rel) {
			return u.transition(ctx, cl, castwarev1.OperatorUpgradeHandingOver, castwarev1.OperatorUpgradeRollingBack,
				fmt.Sprintf("revision %d is %s, not deployed", rel.Version, statusOf(rel)), nil)
		}
		rd, err := u.engine.Readiness(ctx, rel)
		if err != nil {
			return err
		}
		if rd.Ready {
			if err := u.transition(ctx, cl, castwarev1.OperatorUpgradeHandingOver, castwarev1.OperatorUpgradeSucceeded,
				fmt.Sprintf("castware-operator upgraded from %s to %s (revision %d)", st.FromVersion, st.ToVersion, rel.Version),
				func(s *castwarev1.OperatorUpgradeStatus) { s.Reported = false }); err != nil {
				return err
			}
			return u.stepReportFinal(ctx, cl)
		}
		if !u.opts.Now().Before(deadline) {
			return u.transition(ctx, cl, castwarev1.OperatorUpgradeHandingOver, castwarev1.OperatorUpgradeRollingBack,
				fmt.Sprintf("the operator Deployment did not finish rolling out within %s: %s", u.opts.ReadyTimeout, rd.Summary()), nil)
		}
		if err := sleep(ctx, u.opts.PollInterval); err != nil {
			return err
		}
	}
}

// stepRollback rolls the release back to the revision the upgrade started from and reports it.
func (u *Upgrader) stepRollback(ctx context.Context, cl *castwarev1.Cluster) error {
	st := cl.Status.OperatorUpgrade
	cause := st.Message
	hist, err := u.engine.Observe(ctx, cl, st.Release)
	if err != nil {
		return err
	}
	if hist.Latest != nil && hist.Latest.Info != nil && hist.Latest.Info.Status.IsPending() {
		if err := u.engine.Unlock(ctx, cl, hist.Latest); err != nil {
			return err
		}
	}
	if hist.Latest == nil || hist.Latest.Version <= st.FromRevision {
		return u.transition(ctx, cl, castwarev1.OperatorUpgradeRollingBack, castwarev1.OperatorUpgradeRolledBack,
			fmt.Sprintf("upgrade to %s failed: %s (the release was not changed)", st.ToVersion, cause), nil)
	}
	if err := u.restore(ctx, cl, st); err != nil {
		msg := fmt.Sprintf("upgrade to %s failed: %s; rollback to revision %d failed: %v", st.ToVersion, cause, st.FromRevision, err)
		if rerr := u.report(ctx, cl, castai.ActionRollback, castai.StatusError, msg); rerr != nil {
			u.opts.Log.Info("rollback failure not reported", "error", rerr.Error())
		}
		return u.transition(ctx, cl, castwarev1.OperatorUpgradeRollingBack, castwarev1.OperatorUpgradeFailed, msg, nil)
	}
	msg := fmt.Sprintf("upgrade to %s failed: %s; rolled back to %s (revision %d)", st.ToVersion, cause, st.FromVersion, st.FromRevision)
	if err := u.report(ctx, cl, castai.ActionRollback, castai.StatusOK, msg); err != nil {
		u.opts.Log.Info("rollback not reported", "error", err.Error())
	}
	return u.transition(ctx, cl, castwarev1.OperatorUpgradeRollingBack, castwarev1.OperatorUpgradeRolledBack, msg, nil)
}

// restore rolls the release back to the revision the upgrade started from. When that revision stores the
// plaintext API key (the user's own `helm install`), a Helm rollback would copy it into the new revision, so
// the revision's own chart is upgraded to instead, with its values stripped of the key (withoutAPIKey): the
// Secret, kept by its resource policy, stays.
func (u *Upgrader) restore(ctx context.Context, cl *castwarev1.Cluster, st *castwarev1.OperatorUpgradeStatus) error {
	from, err := u.revision(ctx, cl, st.FromRevision)
	if err != nil {
		return err
	}
	vals := values.Copy(from.Config)
	if vals == nil || !withoutAPIKey(vals) {
		_, err := u.engine.Rollback(ctx, cl, st.Release, st.FromRevision)
		return err
	}
	u.opts.Log.Info("rolling back by upgrading to the revision's chart without its plaintext API key", "revision", st.FromRevision)
	_, err = u.engine.UpgradeRelease(ctx, helm.OwnUpgrade{Owner: cl, ReleaseName: st.Release, Chart: from.Chart, Values: vals, Restore: true,
		Description: fmt.Sprintf("Rollback to %d without the plaintext API key (self-upgrade to %s failed)", st.FromRevision, st.ToVersion)})
	return err
}

// stepReportFinal records the final result once: UPDATE OK for Succeeded, UPDATE ERROR otherwise.
func (u *Upgrader) stepReportFinal(ctx context.Context, cl *castwarev1.Cluster) error {
	st := cl.Status.OperatorUpgrade
	status := castai.StatusError
	if st.Phase == castwarev1.OperatorUpgradeSucceeded {
		status = castai.StatusOK
	}
	if err := u.report(ctx, cl, castai.ActionUpdate, status, st.Message); err != nil {
		return err
	}
	phase := st.Phase
	return u.update(ctx, cl, func(s **castwarev1.OperatorUpgradeStatus) error {
		if *s == nil || (*s).Phase != phase {
			return errStale
		}
		(*s).Reported = true
		return nil
	})
}

// revision returns one stored revision of the operator's release.
func (u *Upgrader) revision(ctx context.Context, cl *castwarev1.Cluster, n int) (*helm.Release, error) {
	hist, err := u.engine.Observe(ctx, cl, cl.Status.OperatorUpgrade.Release)
	if err != nil {
		return nil, err
	}
	for _, r := range hist.History {
		if r.Version == n {
			return r, nil
		}
	}
	return nil, fmt.Errorf("revision %d of release %s not found", n, cl.Status.OperatorUpgrade.Release)
}

func statusOf(r *helm.Release) string {
	if r == nil || r.Info == nil {
		return "unknown"
	}
	return string(r.Info.Status)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
