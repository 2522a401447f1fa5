package bench

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/castai"
)

const (
	// burstActions is how many console actions each API mode gets, spaced by seeded random pauses.
	burstActions = 10
	// maxPause bounds the pause between two actions of a burst (drawn uniformly in [0, maxPause]).
	maxPause = 20 * time.Second
)

// apiMode is one way the fake Cast AI API answers a poll that finds no action, with the targets.
type apiMode struct {
	// Label names the mode in the table.
	Label string
	// Key names the mode in results.json.
	Key string
	// Seed draws the pauses of the mode's burst.
	Seed uint64
	// Settle separates the last action of the burst from the idle window, so that the window sees the
	// operator at rest; the calls made meanwhile get a row of their own.
	Settle time.Duration
	// MeanTarget, P95Target, IdleActionTarget and CallsTarget are the targets ("" for none).
	MeanTarget, P95Target, IdleActionTarget, CallsTarget string
	// Kube says whether this mode's idle window also reports the kube-apiserver requests (they do not
	// depend on the API mode, so one window reports them).
	Kube bool
}

var (
	// holdingMode: the API holds an empty poll open (up to the operator's wait hint) until an action arrives.
	// A held poll is the operator's pause, so nothing winds down: the settle only lets the last reports
	// and status writes land.
	holdingMode = apiMode{Label: "holding API", Key: "holding", Seed: 16_05, Settle: 20 * time.Second,
		MeanTarget: "< 1 s", P95Target: "< 1 s", IdleActionTarget: "< 1 s", CallsTarget: "≤ 1", Kube: true}
	// atOnceMode: the API answers an empty poll at once, as an API without long-polling does.
	// Against such an API the operator polls fast after activity and is back at its idle interval about
	// 1 min 50 s later (internal/console/pacing.go): the window starts 2 min after the last action.
	atOnceMode = apiMode{Label: "API answers at once", Key: "atOnce", Seed: 16_06, Settle: 2 * time.Minute,
		MeanTarget: "≤ 5 s", CallsTarget: "≤ 6"}
)

// ActionSample is one console action the bench queued and what the operator made of it.
type ActionSample struct {
	// Mode is the API mode (apiMode.Key).
	Mode string `json:"mode"`
	// Component and Version are the upgrade asked for.
	Component string `json:"component"`
	Version   string `json:"version"`
	// IdleAction marks the action queued after the idle window rather than in the burst.
	IdleAction bool `json:"idleAction,omitempty"`
	// QuietS is how long the bench waited before queuing it: the pause since the previous action was
	// Available, or for an idle action the time since the last burst action was Available.
	QuietS float64 `json:"quietS"`
	// StartedS is queued → the Component asks for the version (the upgrade started).
	StartedS float64 `json:"startedS"`
	// AvailableS is queued → Available at the version, pods Ready.
	AvailableS float64 `json:"availableS"`
}

// console measures one API mode: a burst of console actions, the calls right after it, an idle window
// (Cast AI calls, CPU) and one action after that window. beforeIdleAction, when set, runs between the
// window and that action: the holding phase switches the API to answering at once there, so the poll it
// held through the window delivers the idle action and every later poll is answered at once.
func (r *run) console(ctx context.Context, m apiMode, beforeIdleAction func()) error {
	if r.versions == nil {
		r.versions = map[string]string{}
		for _, c := range components {
			r.versions[c.name] = c.from
		}
	}
	burst, lastAvailable, perAction, err := r.burst(ctx, m)
	if err != nil {
		return err
	}
	r.logf("settling %s, then observing %s of idle", m.Settle, r.opts.Idle)
	if !sleepCtx(ctx, m.Settle) {
		return ctx.Err()
	}
	afterCalls, _ := r.api.between(lastAvailable, lastAvailable.Add(m.Settle))
	idleRows, err := r.idleWindow(ctx, m)
	if err != nil {
		return err
	}
	if beforeIdleAction != nil {
		beforeIdleAction()
	}
	c := components[burstActions%len(components)]
	idle, err := r.action(ctx, m, c.name, time.Since(lastAvailable), true)
	if err != nil {
		return err
	}
	r.addActionRows(m, burst, idle)
	r.res.add(Row{Group: "actions", Metric: fmt.Sprintf("Cast AI API calls per action over the %d actions, pauses included (%s)", burstActions, m.Label),
		Value: perAction, Unit: "calls"})
	r.res.add(Row{Group: "idle", Metric: fmt.Sprintf("Cast AI API calls in the %s after the last action, before the idle window (%s)", m.Settle, m.Label),
		Value: float64(afterCalls), Unit: "calls"})
	r.res.add(idleRows...)
	return nil
}

// burst queues burstActions upgrades, one after the other, each after a seeded random pause once the
// previous one is Available, alternating each component between its two versions so every action is a
// real upgrade. It returns the samples, when the last one was Available and acknowledged, and the Cast AI
// calls per action over the burst.
func (r *run) burst(ctx context.Context, m apiMode) ([]ActionSample, time.Time, float64, error) {
	pauses := pauseSchedule(m.Seed, burstActions, maxPause)
	from := time.Now()
	var samples []ActionSample
	for i, pause := range pauses {
		if !sleepCtx(ctx, pause) {
			return nil, time.Time{}, 0, ctx.Err()
		}
		s, err := r.action(ctx, m, components[i%len(components)].name, pause, false)
		if err != nil {
			return nil, time.Time{}, 0, err
		}
		samples = append(samples, s)
	}
	if err := r.wait(ctx, time.Minute, "actions acknowledged", func() (bool, error) { return len(r.api.PendingActions(r.id)) == 0, nil }); err != nil {
		return nil, time.Time{}, 0, err
	}
	to := time.Now()
	calls, _ := r.api.between(from, to)
	return samples, to, float64(calls) / burstActions, nil
}

// action queues one upgrade of component to its other version and times it until the upgrade started and
// until the Component is Available at that version.
func (r *run) action(ctx context.Context, m apiMode, component string, quiet time.Duration, idle bool) (ActionSample, error) {
	version := r.otherVersion(component)
	s := ActionSample{Mode: m.Key, Component: component, Version: version, IdleAction: idle, QuietS: secs(quiet)}
	t0 := time.Now()
	r.api.EnqueueAction(r.id, castai.Action{Upgrade: &castai.ChartAction{Component: component, Version: version, ReleaseName: release(component)}})
	if err := r.wait(ctx, 2*time.Minute, component+" upgrade started", func() (bool, error) {
		comp, err := r.component(ctx, component)
		return err == nil && comp.Spec.Version == version, err
	}); err != nil {
		return s, err
	}
	s.StartedS = secs(time.Since(t0))
	if err := r.wait(ctx, 5*time.Minute, component+" upgrade Available", func() (bool, error) {
		comp, err := r.component(ctx, component)
		return err == nil && availableAt(comp, version), err
	}); err != nil {
		return s, err
	}
	s.AvailableS = secs(time.Since(t0))
	r.versions[component] = version
	r.res.Actions = append(r.res.Actions, s)
	r.logf("%s → %s %s: upgrade started after %.3fs, Available after %.2fs (%.1fs quiet before)", component, version, m.Label, s.StartedS, s.AvailableS, s.QuietS)
	return s, nil
}

// idleWindow observes r.opts.Idle of steady state: Cast AI calls (every endpoint), CPU, and for m.Kube the
// kube-apiserver requests and chart downloads, and returns its rows.
func (r *run) idleWindow(ctx context.Context, m apiMode) ([]Row, error) {
	cpu0, err := r.op.CPUSeconds()
	if err != nil {
		return nil, err
	}
	idx0, tgz0 := r.repo.Requests("index.yaml"), r.repo.Requests(".tgz")
	from := time.Now()
	if !sleepCtx(ctx, r.opts.Idle) {
		return nil, ctx.Err()
	}
	to := time.Now()
	cpu1, err := r.op.CPUSeconds()
	if err != nil {
		return nil, err
	}
	minutes := to.Sub(from).Minutes()
	calls, byPath := r.api.between(from, to)
	if r.res.IdleAPICalls == nil {
		r.res.IdleAPICalls = map[string]map[string]int{}
	}
	r.res.IdleAPICalls[m.Key] = byPath
	rows := []Row{
		{Group: "idle", Metric: fmt.Sprintf("Cast AI API calls per minute at idle, all endpoints (%s)", m.Label), Value: float64(calls) / minutes, Unit: "/min", Target: m.CallsTarget, Reference: "6.5–8 /min"},
		{Group: "idle", Metric: fmt.Sprintf("CPU seconds per minute at idle (%s)", m.Label), Value: (cpu1 - cpu0) / minutes, Unit: "s/min", Target: "≤ 0.07", Reference: "0.15 s/min"},
	}
	r.logf("idle (%s): %d Cast AI calls (%s), %.3f CPU s", m.Label, calls, topCounts(byPath, 6), cpu1-cpu0)
	if m.Kube {
		kube, err := r.kubeIdleRows(ctx, from, to)
		if err != nil {
			return nil, err
		}
		rows = append(rows, kube...)
		rows = append(rows, Row{Group: "charts", Metric: "chart repository requests while idle (index, archives)",
			Value: float64(r.repo.Requests("index.yaml") - idx0 + r.repo.Requests(".tgz") - tgz0), Unit: "requests"})
	}
	return rows, nil
}

// kubeIdleRows reads the operator's kube-apiserver requests in [from, to) from the audit log.
func (r *run) kubeIdleRows(ctx context.Context, from, to time.Time) ([]Row, error) {
	// The audit log is written in batches (at most 1 s apart); give the last batch time to land.
	if !sleepCtx(ctx, 3*time.Second) {
		return nil, ctx.Err()
	}
	total, by, err := auditCounts(r.audit, from, to)
	if err != nil {
		return nil, err
	}
	minutes := to.Sub(from).Minutes()
	r.res.IdleKubeRequests = by
	r.logf("idle kube-apiserver requests: %d (%s)", total, topCounts(by, 6))
	lease := by["update leases"] + by["get leases"]
	return []Row{
		{Group: "idle", Metric: "kube-apiserver requests by the operator per minute at idle (all)", Value: float64(total) / minutes, Unit: "/min"},
		{Group: "idle", Metric: "  of which leader-election lease renewals", Value: float64(lease) / minutes, Unit: "/min"},
		{Group: "idle", Metric: "kube-apiserver requests per component per minute at idle", Value: float64(total) / minutes / float64(len(components)), Unit: "/min", Target: "≤ 1"},
	}, nil
}

// addActionRows writes a mode's latency rows: the burst's mean, p95 and slowest Available, and the idle action.
func (r *run) addActionRows(m apiMode, burst []ActionSample, idle ActionSample) {
	var started, available []time.Duration
	for _, s := range burst {
		started = append(started, seconds(s.StartedS))
		available = append(available, seconds(s.AvailableS))
	}
	st, av := summarise(started), summarise(available)
	p95 := fmt.Sprintf("p95 of %d", st.N)
	if st.P95Rank == st.N {
		p95 += " (nearest rank: the slowest)"
	}
	r.res.add(
		Row{Group: "actions", Metric: fmt.Sprintf("console action → upgrade started, mean of %d, 0–%s apart (%s)", st.N, maxPause, m.Label), Value: secs(st.Mean), Unit: "s", Target: m.MeanTarget, Reference: "≤ 30 s (poll interval)"},
		Row{Group: "actions", Metric: fmt.Sprintf("console action → upgrade started, %s (%s)", p95, m.Label), Value: secs(st.P95), Unit: "s", Target: m.P95Target},
		Row{Group: "actions", Metric: fmt.Sprintf("console action → upgraded and Available, pods Ready, slowest of %d (%s)", av.N, m.Label), Value: secs(av.Max), Unit: "s"},
		Row{Group: "actions", Metric: fmt.Sprintf("console action after %s idle → upgrade started, 1 sample (%s)", seconds(idle.QuietS).Round(time.Second), m.Label), Value: idle.StartedS, Unit: "s", Target: m.IdleActionTarget},
	)
}

// component reads one benchmark Component.
func (r *run) component(ctx context.Context, name string) (*castwarev1.Component, error) {
	comp := &castwarev1.Component{}
	if err := r.env.Client.Get(ctx, client.ObjectKey{Namespace: Namespace, Name: name}, comp); err != nil {
		return nil, fmt.Errorf("get component %s: %w", name, err)
	}
	return comp, nil
}

// availableAt reports whether a Component runs version, Available and no longer progressing.
func availableAt(comp *castwarev1.Component, version string) bool {
	return comp.Status.CurrentVersion == version && meta.IsStatusConditionTrue(comp.Status.Conditions, castwarev1.ConditionAvailable) &&
		!meta.IsStatusConditionTrue(comp.Status.Conditions, castwarev1.ConditionProgressing)
}

// otherVersion is the version a component is not at: the bench alternates between its two.
func (r *run) otherVersion(name string) string {
	for _, c := range components {
		if c.name == name {
			if r.versions[name] == c.to {
				return c.from
			}
			return c.to
		}
	}
	return ""
}

// release is a component's Helm release name.
func release(name string) string {
	for _, c := range components {
		if c.name == name {
			return c.release
		}
	}
	return ""
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
