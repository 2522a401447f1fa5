package selfupgrade

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/Masterminds/semver/v3"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/castai"
	"github.com/castware-operator/castware-operator/internal/clusterspec"
	"github.com/castware-operator/castware-operator/internal/metrics"
	"github.com/castware-operator/castware-operator/internal/redact"
)

// Hook is the Cluster-controller hook (controllers.ClusterHook) of the self-upgrade: it mirrors
// status.operatorUpgrade into the OperatorUpgrade condition (or says that OLM owns upgrades), wakes the
// runner when an upgrade needs work, and starts auto-updates. It never fails the reconcile.
type Hook struct{ u *Upgrader }

// Hook returns the Cluster-controller hook.
func (u *Upgrader) Hook() *Hook { return &Hook{u: u} }

// Name identifies the hook in logs.
func (h *Hook) Name() string { return "self-upgrade" }

// Reconcile updates the condition on cl (written by the Cluster controller afterwards).
func (h *Hook) Reconcile(ctx context.Context, cl *castwarev1.Cluster, _ string) (ctrl.Result, error) {
	u := h.u
	st := cl.Status.OperatorUpgrade
	if st != nil && (Active(st.Phase) || !st.Reported) {
		u.Kick()
	}
	if u.opts.AutoUpdate && u.refusal() == nil && (st == nil || !Active(st.Phase)) {
		if err := u.autoUpdate(ctx, cl); err != nil {
			u.opts.Log.Info("auto-update not started", "cluster", cl.Name, "reason", err.Error())
		}
	}
	setCondition(cl, u.condition(cl.Status.OperatorUpgrade))
	return ctrl.Result{}, nil
}

// condition derives the OperatorUpgrade condition (nil: none to show).
func (u *Upgrader) condition(st *castwarev1.OperatorUpgradeStatus) *metav1.Condition {
	switch {
	case u.opts.OLM != "":
		return &metav1.Condition{Status: metav1.ConditionFalse, Reason: ReasonManagedByOLM, Message: fmt.Sprintf(
			"installed by OLM (operator condition %s): OLM performs the operator's upgrades; console upgrade actions are refused", u.opts.OLM)}
	case u.opts.Disabled:
		return &metav1.Condition{Status: metav1.ConditionFalse, Reason: ReasonDisabled, Message: ErrDisabled.Error()}
	case st == nil:
		return nil
	}
	status := metav1.ConditionFalse
	if Active(st.Phase) {
		status = metav1.ConditionTrue
	}
	return &metav1.Condition{Status: status, Reason: string(st.Phase), Message: st.Message}
}

func setCondition(cl *castwarev1.Cluster, c *metav1.Condition) {
	metrics.SetSelfUpgradePhase(conditionPhase(c))
	if c == nil {
		meta.RemoveStatusCondition(&cl.Status.Conditions, ConditionOperatorUpgrade)
		return
	}
	c.Type, c.ObservedGeneration = ConditionOperatorUpgrade, cl.Generation
	c.Message = redact.String(c.Message)
	meta.SetStatusCondition(&cl.Status.Conditions, *c)
}

// conditionPhase is the self-upgrade state a condition shows: its reason (a phase, Disabled or
// ManagedByOLM), or "" (None) without a condition.
func conditionPhase(c *metav1.Condition) string {
	if c == nil {
		return ""
	}
	return c.Reason
}

// AutoUpdateTarget returns the version an auto-update should move to: latest when it is a newer
// release than current and the last upgrade to it did not fail; "" otherwise.
func AutoUpdateTarget(current, latest string, last *castwarev1.OperatorUpgradeStatus) string {
	cur, err1 := semver.NewVersion(current)
	lat, err2 := semver.NewVersion(latest)
	if err1 != nil || err2 != nil || lat.Prerelease() != "" || !lat.GreaterThan(cur) {
		return ""
	}
	if last != nil && sameVersion(last.ToVersion, latest) &&
		(last.Phase == castwarev1.OperatorUpgradeRolledBack || last.Phase == castwarev1.OperatorUpgradeFailed) {
		return "" // tried and failed: wait for a newer version or a console action
	}
	return latest
}

// AutoUpdateActionID is the action ID recorded for an auto-update to version.
func AutoUpdateActionID(version string) string { return "auto-update/" + version }

func (u *Upgrader) autoUpdate(ctx context.Context, cl *castwarev1.Cluster) error {
	if cl.ClusterID() == "" {
		return fmt.Errorf("cluster not registered yet")
	}
	api, err := u.api(ctx, cl)
	if err != nil {
		return err
	}
	info, err := api.GetComponentByName(ctx, ComponentName)
	if err != nil {
		return err
	}
	target := AutoUpdateTarget(u.opts.ChartVersion, info.LatestVersion, cl.Status.OperatorUpgrade)
	if target == "" {
		return nil
	}
	return u.Start(ctx, cl, target, AutoUpdateActionID(target))
}

// ClientFromSecret returns an APIFor that builds one *castai.Client per Cluster API URL, reading the API
// key from the Cluster's Secret at each call (clusterspec.ReadAPIKey), so a rotated key is used at once.
func ClientFromSecret(reader client.Reader, opts ...castai.Option) APIFor {
	var mu sync.Mutex
	clients := map[string]*castai.Client{}
	return func(ctx context.Context, cl *castwarev1.Cluster) (API, error) {
		key := cl.Namespace + "/" + cl.Name + "|" + cl.Spec.API.APIURL
		mu.Lock()
		defer mu.Unlock()
		if c, ok := clients[key]; ok {
			return c, nil
		}
		owner := cl.DeepCopy()
		c, err := castai.New(cl.Spec.API.APIURL, castai.KeyFunc(func(ctx context.Context) (string, error) {
			k, _, err := clusterspec.ReadAPIKey(ctx, reader, owner)
			return k, err
		}), opts...)
		if err != nil {
			return nil, fmt.Errorf("cast AI client for cluster %s: %w", cl.Name, err)
		}
		clients[key] = c
		return c, nil
	}
}

// OptionsFromEnv fills the options the operator chart passes as environment variables: HELM_RELEASE_NAME,
// OPERATOR_CHART_VERSION, POD_NAME, and OLM's OPERATOR_CONDITION_NAME.
func OptionsFromEnv(getenv func(string) string) Options {
	return Options{
		ReleaseName:  strings.TrimSpace(getenv("HELM_RELEASE_NAME")),
		ChartVersion: strings.TrimSpace(getenv("OPERATOR_CHART_VERSION")),
		PodName:      strings.TrimSpace(getenv("POD_NAME")),
		OLM:          strings.TrimSpace(getenv("OPERATOR_CONDITION_NAME")),
	}
}

// BindFlags registers the self-upgrade flags on fs and returns options prefilled from the environment
// (OptionsFromEnv); they are complete once fs is parsed.
func BindFlags(fs *flag.FlagSet, getenv func(string) string) *Options {
	o := OptionsFromEnv(getenv)
	fs.Var((*invertedBool)(&o.Disabled), "self-upgrade", "upgrade the operator's own Helm release when the Cast AI console asks (never under OLM)")
	fs.BoolVar(&o.AutoUpdate, "self-upgrade-auto", false, "also upgrade the operator by itself when Cast AI publishes a newer version")
	fs.StringVar(&o.ChartRepository, "self-upgrade-chart-repo", DefaultChartRepository, "the only source of the operator's own chart for self-upgrades (the chart's selfUpgrade.chartRepository; never a Cluster's helmRepoURL)")
	fs.BoolFunc("olm", "the operator is managed by OLM (also detected from $OPERATOR_CONDITION_NAME): it never upgrades itself", func(v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return err
		}
		if b && o.OLM == "" {
			o.OLM = "--olm"
		}
		return nil
	})
	return &o
}

// invertedBool is a bool flag stored negated (--self-upgrade=false sets Disabled).
type invertedBool bool

// String implements flag.Value.
func (b *invertedBool) String() string { return strconv.FormatBool(!bool(*b)) }

// Set implements flag.Value.
func (b *invertedBool) Set(v string) error {
	x, err := strconv.ParseBool(v)
	if err != nil {
		return err
	}
	*b = invertedBool(!x)
	return nil
}

// IsBoolFlag lets the flag be given without a value.
func (b *invertedBool) IsBoolFlag() bool { return true }
