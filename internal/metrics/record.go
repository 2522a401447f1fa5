package metrics

import (
	"slices"
	"strconv"
	"time"
)

// Helm operations (the operation label of castware_helm_operations_total).
const (
	// HelmInstall is a helm install.
	HelmInstall = "install"
	// HelmUpgrade is a helm upgrade.
	HelmUpgrade = "upgrade"
	// HelmRollback is a helm rollback to an explicit revision.
	HelmRollback = "rollback"
	// HelmUninstall is a helm uninstall.
	HelmUninstall = "uninstall"
	// HelmReinstall is an uninstall followed by an install of a release that never deployed.
	HelmReinstall = "reinstall"
)

// HelmTimer measures one Helm operation; see StartHelm.
type HelmTimer struct {
	operation string
	start     time.Time
}

// StartHelm starts timing a Helm operation. Use it as `defer metrics.StartHelm(op).Done(&err)` with the
// function's named error result.
func StartHelm(operation string) HelmTimer { return HelmTimer{operation: operation, start: time.Now()} }

// Done records the operation with the outcome *err says (nil err: success).
func (t HelmTimer) Done(err *error) {
	o := outcome(err != nil && *err != nil)
	helmOperations.WithLabelValues(t.operation, o).Inc()
	helmDuration.WithLabelValues(t.operation, o).Observe(time.Since(t.start).Seconds())
}

func outcome(failed bool) string {
	if failed {
		return Failure
	}
	return Success
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// ComponentDecision counts one decision of the Component state machine (a helm.Step).
func ComponentDecision(step string) { componentDecisions.WithLabelValues(step).Inc() }

// ComponentState is what the per-Component gauges show.
type ComponentState struct {
	// Available and Progressing are the conditions' statuses (True: true).
	Available, Progressing bool
	// Revision is the Helm revision of the release (0: none).
	Revision int
}

// SetComponent publishes a Component's state; component is its catalog name.
func SetComponent(namespace, component string, s ComponentState) {
	componentAvailable.WithLabelValues(namespace, component).Set(boolValue(s.Available))
	componentProgressing.WithLabelValues(namespace, component).Set(boolValue(s.Progressing))
	componentRevision.WithLabelValues(namespace, component).Set(float64(s.Revision))
}

// ForgetComponent removes a deleted Component's series.
func ForgetComponent(namespace, component string) {
	componentAvailable.DeleteLabelValues(namespace, component)
	componentProgressing.DeleteLabelValues(namespace, component)
	componentRevision.DeleteLabelValues(namespace, component)
}

// Console action stages (the stage label of castware_console_action_latency_seconds).
const (
	// StageApplied: the action's Component change was made (or refused with an error).
	StageApplied = "applied"
	// StageAcknowledged: Cast AI accepted the acknowledgement.
	StageAcknowledged = "acknowledged"
)

// ConsoleActionApplied records that an action of kind, created (queued) at Cast AI at queued, was applied
// with err as its result.
func ConsoleActionApplied(kind string, queued time.Time, err error) {
	consoleActions.WithLabelValues(kind, outcome(err != nil)).Inc()
	observeSince(kind, StageApplied, queued)
}

// ConsoleActionAcknowledged records that an action of kind, queued at queued, was acknowledged.
func ConsoleActionAcknowledged(kind string, queued time.Time) {
	observeSince(kind, StageAcknowledged, queued)
}

// observeSince observes the time since queued; an action without a creation time is not timed, and one
// stamped in the future (clock skew) counts as 0.
func observeSince(kind, stage string, queued time.Time) {
	if queued.IsZero() {
		return
	}
	consoleLatency.WithLabelValues(kind, stage).Observe(max(time.Since(queued).Seconds(), 0))
}

// CastAIObserver records one HTTP request to the Cast AI API (castai.WithObserver): endpoint, status
// code (0: no HTTP answer) and latency.
func CastAIObserver(endpoint string, code int, d time.Duration) {
	c := "error"
	if code > 0 {
		c = strconv.Itoa(code)
	}
	apiRequests.WithLabelValues(endpoint, c).Inc()
	apiDuration.WithLabelValues(endpoint).Observe(d.Seconds())
}

// ChartCache records the chart loader's cache activity (it satisfies charts.CacheObserver).
type ChartCache struct{}

// Lookup counts one lookup in cache ("index" or "archive"), answered from memory (hit) or not.
func (ChartCache) Lookup(cache string, hit bool) {
	r := "miss"
	if hit {
		r = "hit"
	}
	chartCacheLookups.WithLabelValues(cache, r).Inc()
}

// Fetched counts n bytes downloaded for cache.
func (ChartCache) Fetched(cache string, n int) { chartFetched.WithLabelValues(cache).Add(float64(n)) }

// SelfUpgradePhaseNone is the phase shown when no self-upgrade has been recorded.
const SelfUpgradePhaseNone = "None"

// selfUpgradePhases are the states the gauge always shows (the OperatorUpgrade phases, the reasons
// self-upgrade does not run, and None), so a dashboard sees 0 rather than no series.
var selfUpgradePhases = []string{SelfUpgradePhaseNone, "Pending", "Upgrading", "RollingOut", "HandingOver", "RollingBack",
	"Succeeded", "RolledBack", "Failed", "Disabled", "ManagedByOLM", "Unknown"}

// SetSelfUpgradePhase sets the self-upgrade gauge to phase ("" means None; a phase this version does not
// know shows as Unknown, keeping the label bounded).
func SetSelfUpgradePhase(phase string) {
	if phase == "" {
		phase = SelfUpgradePhaseNone
	}
	if !slices.Contains(selfUpgradePhases, phase) {
		phase = "Unknown"
	}
	for _, p := range selfUpgradePhases {
		selfUpgradePhase.WithLabelValues(p).Set(boolValue(p == phase))
	}
}

// SetConsolePollInterval records the pause the console poller currently aims for between the starts of two
// polls of an API that answers at once (the active interval after activity, growing to the idle interval).
func SetConsolePollInterval(d time.Duration) { consolePollInterval.Set(d.Seconds()) }
