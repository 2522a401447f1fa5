package helm

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/castware-operator/castware-operator/internal/values"
)

// Revision summarises one release revision for the state machine.
type Revision struct {
	// Number is the Helm revision.
	Number int
	// Status is Helm's status (deployed, failed, pending-upgrade, ...).
	Status release.Status
	// Chart and Version identify the chart the revision was made from.
	Chart, Version string
	// AppVersion is the chart's appVersion.
	AppVersion string
	// ValuesHash identifies the revision's values (values.Hash of the stored config).
	ValuesHash string
	// Deployed is when the revision was applied.
	Deployed time.Time
	// Healthy is true once all its workloads were seen ready.
	Healthy bool
	// Session is the operator process that created it ("" when made by someone else, e.g. the helm CLI).
	Session string
	// Description is Helm's description (it carries the error of a failed revision).
	Description string
}

// Summarize turns a Helm release into a Revision.
func Summarize(r *release.Release) *Revision {
	if r == nil {
		return nil
	}
	rev := &Revision{Number: r.Version, Session: SessionOf(r), Healthy: HealthyOf(r)}
	if r.Info != nil {
		rev.Status = r.Info.Status
		rev.Deployed = r.Info.LastDeployed.Time
		rev.Description = r.Info.Description
	}
	if r.Chart != nil && r.Chart.Metadata != nil {
		rev.Chart = r.Chart.Metadata.Name
		rev.Version = r.Chart.Metadata.Version
		rev.AppVersion = r.Chart.Metadata.AppVersion
	}
	rev.ValuesHash = values.Hash(r.Config)
	return rev
}

// State is what is known about a release: its newest revision and the last good one before it.
type State struct {
	// Latest is the newest revision, nil when the release does not exist.
	Latest *release.Release
	// LastGood is the newest revision before Latest known to have been good: marked healthy by the
	// engine, or (for revisions made outside the operator) deployed or superseded.
	LastGood *release.Release
	// History holds every stored revision, newest first.
	History []*release.Release
}

// Observe reads a release's history.
func (e *Engine) Observe(ctx context.Context, owner client.Object, name string) (*State, error) {
	ac, err := e.client(ctx, owner)
	if err != nil {
		return nil, err
	}
	hist, err := ac.History(name)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return &State{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read history of release %s: %w", name, err)
	}
	return NewState(hist), nil
}

// NewState builds a State from revisions in any order.
func NewState(hist []*release.Release) *State {
	sort.Slice(hist, func(i, j int) bool { return hist[i].Version > hist[j].Version })
	st := &State{History: hist}
	if len(hist) == 0 {
		return st
	}
	st.Latest = hist[0]
	for _, r := range hist[1:] {
		if isGood(r) {
			st.LastGood = r
			break
		}
	}
	return st
}

// lastGood is the rollback target: the newest revision before the latest that was good, skipping revisions
// holding the known failed attempt (a version rolled back from on request ran well once, yet rolling "back"
// to it would undo the rollback).
func lastGood(st *State, failed *Attempt) *release.Release {
	if failed == nil || len(st.History) < 2 {
		return st.LastGood
	}
	for _, r := range st.History[1:] {
		if s := Summarize(r); isGood(r) && (s.Version != failed.Version || s.ValuesHash != failed.ValuesHash) {
			return r
		}
	}
	return nil
}

func isGood(r *release.Release) bool {
	if HealthyOf(r) {
		return true
	}
	if SessionOf(r) != "" {
		return false // made by the operator but never seen healthy
	}
	if r.Info == nil {
		return false
	}
	return r.Info.Status == release.StatusDeployed || r.Info.Status == release.StatusSuperseded
}

// Step is what the state machine decided to do.
type Step string

// Steps.
const (
	// StepNone: nothing to do; the release matches and is healthy (or is disabled and absent).
	StepNone Step = "None"
	// StepInstall: no release exists; install it.
	StepInstall Step = "Install"
	// StepReinstall: the release exists but never deployed successfully; uninstall it, then install.
	StepReinstall Step = "Reinstall"
	// StepUpgrade: the deployed revision differs from what is wanted.
	StepUpgrade Step = "Upgrade"
	// StepRollback: roll back to RollbackTo (a failed or never-healthy revision, or a user request).
	StepRollback Step = "Rollback"
	// StepUninstall: the component is disabled; remove the release.
	StepUninstall Step = "Uninstall"
	// StepUnlock: the release was left pending by an interrupted operation; mark it failed.
	StepUnlock Step = "Unlock"
	// StepWaitPending: another operation may still be running; check again later.
	StepWaitPending Step = "WaitPending"
	// StepWaitReady: the revision is deployed; wait for its workloads.
	StepWaitReady Step = "WaitReady"
	// StepMarkHealthy: the revision's workloads are all ready; record it as good.
	StepMarkHealthy Step = "MarkHealthy"
	// StepNotReady: a revision that was healthy (or an install with no earlier revision) is not ready.
	StepNotReady Step = "NotReady"
	// StepBlocked: the wanted revision already failed and was undone; wait for the spec to change.
	StepBlocked Step = "Blocked"
	// StepForeign: the release holds another chart than the wanted one; it is left alone.
	StepForeign Step = "Foreign"
)

// Want is the wanted state of a release.
type Want struct {
	// Enabled is false when the release must not exist.
	Enabled bool
	// Chart and Version are the wanted chart; ValuesHash the wanted values.
	Chart, Version, ValuesHash string
	// RollbackRequested asks for a rollback to the last good revision.
	RollbackRequested bool
	// Failed is a previous attempt that failed and was undone (nil when none).
	Failed *Attempt
	// Adopted is a revision made outside the operator and taken over as it was (nil when none).
	Adopted *Adopted
	// ChartChangeAllowed lets a release of another chart than Chart be upgraded or uninstalled (an explicit
	// migration adopting it); otherwise such a release belongs to someone else and is never touched.
	ChartChangeAllowed bool
}

// Adopted says that a revision the operator took over without changing it stands for the wanted values
// whose hash is ValuesHash, although its own stored values differ: adopting it must not upgrade it.
type Adopted struct {
	// Revision is the adopted revision.
	Revision int
	// ValuesHash is the hash of the wanted values at adoption.
	ValuesHash string
}

// covers reports whether the adoption makes revision rev match the wanted values hash.
func (a *Adopted) covers(rev int, wantHash string) bool {
	return a != nil && a.Revision == rev && a.ValuesHash == wantHash
}

// Attempt identifies an install or upgrade attempt.
type Attempt struct {
	// Version and ValuesHash identify what was attempted.
	Version, ValuesHash string
}

// Observed is what the state machine knows about the cluster.
type Observed struct {
	// State is the release history.
	State *State
	// Ready is the readiness of Latest's workloads (only read when Latest is deployed).
	Ready Readiness
	// InFlight is true when this process is operating on the release right now.
	InFlight bool
}

// Decision is one step with its explanation.
type Decision struct {
	// Step to take.
	Step Step
	// RollbackTo is the target revision of StepRollback.
	RollbackTo int
	// Message explains the decision to a human.
	Message string
	// RequeueAfter asks for another look after this long (0: only on events).
	RequeueAfter time.Duration
	// FailedAttempt, when set, is an attempt that must be recorded as failed (so it is not retried).
	FailedAttempt *Attempt
}

// Policy holds the timeouts the state machine applies.
type Policy struct {
	// Now is the current time.
	Now time.Time
	// Session is this operator process.
	Session string
	// PendingTimeout and ReadyTimeout: see the engine options.
	PendingTimeout, ReadyTimeout time.Duration
}

// Decide picks the next step for a release. It is a pure function of its inputs.
func Decide(want Want, obs Observed, p Policy) Decision {
	st := obs.State
	if st == nil {
		st = &State{}
	}
	latest := Summarize(st.Latest)
	good := Summarize(lastGood(st, want.Failed))

	if latest != nil && want.Chart != "" && latest.Chart != want.Chart && !want.ChartChangeAllowed {
		return Decision{Step: StepForeign, Message: fmt.Sprintf("release %s holds chart %s, not %s: it is not this Component's and is left alone (a migration adopts it explicitly)",
			st.Latest.Name, latest.Chart, want.Chart)}
	}
	if latest != nil && latest.Status.IsPending() {
		if obs.InFlight {
			return Decision{Step: StepWaitPending, Message: fmt.Sprintf("revision %d is %s by this operator", latest.Number, latest.Status), RequeueAfter: 5 * time.Second}
		}
		age := p.Now.Sub(latest.Deployed)
		abandoned := latest.Session != "" && latest.Session != p.Session
		// This process made it and is not running it (InFlight is false): its Helm action returned without
		// recording the outcome (e.g. the API server went away before the final write). Nobody finishes it.
		ours := latest.Session != "" && latest.Session == p.Session
		if abandoned || ours || age >= p.PendingTimeout {
			why := fmt.Sprintf("left %s %s ago", latest.Status, age.Round(time.Second))
			if abandoned {
				why = fmt.Sprintf("left %s by an operator process that no longer runs", latest.Status)
			}
			if ours {
				why = fmt.Sprintf("left %s by an operation of this operator that ended without recording its outcome", latest.Status)
			}
			return Decision{Step: StepUnlock, Message: fmt.Sprintf("revision %d was %s; recovering it", latest.Number, why)}
		}
		return Decision{Step: StepWaitPending, Message: fmt.Sprintf("revision %d is %s (another client may be working on it); recovering it if still pending in %s",
			latest.Number, latest.Status, (p.PendingTimeout - age).Round(time.Second)), RequeueAfter: p.PendingTimeout - age}
	}

	if !want.Enabled {
		if latest == nil {
			return Decision{Step: StepNone, Message: "disabled: the release is not installed"}
		}
		return Decision{Step: StepUninstall, Message: fmt.Sprintf("disabled: uninstalling release at revision %d", latest.Number)}
	}

	if want.RollbackRequested {
		if latest == nil || good == nil {
			return Decision{Step: StepNone, Message: "rollback requested but there is no earlier good revision: nothing to roll back"}
		}
		return Decision{Step: StepRollback, RollbackTo: good.Number, Message: fmt.Sprintf("rollback requested: rolling back from revision %d (%s) to revision %d (%s)", latest.Number, latest.Version, good.Number, good.Version)}
	}

	if latest == nil {
		return Decision{Step: StepInstall, Message: fmt.Sprintf("installing %s %s", want.Chart, want.Version)}
	}

	switch latest.Status {
	case release.StatusFailed:
		attempt := &Attempt{Version: latest.Version, ValuesHash: latest.ValuesHash}
		if good != nil {
			if latest.Chart == good.Chart && latest.Version == good.Version && latest.ValuesHash == good.ValuesHash {
				// It holds what the good revision holds: a rollback to it that failed or was interrupted, not an
				// attempt at anything new. Roll back to it again; nothing is recorded as a failed attempt.
				attempt = nil
			}
			return Decision{Step: StepRollback, RollbackTo: good.Number, FailedAttempt: attempt,
				Message: fmt.Sprintf("revision %d (%s) failed: %s; rolling back to revision %d (%s)", latest.Number, latest.Version, latest.Description, good.Number, good.Version)}
		}
		return Decision{Step: StepReinstall, Message: fmt.Sprintf("revision %d failed before any revision was good (%s); reinstalling", latest.Number, latest.Description)}
	case release.StatusUninstalled, release.StatusUninstalling, release.StatusUnknown:
		return Decision{Step: StepReinstall, Message: fmt.Sprintf("release is %s; reinstalling", latest.Status)}
	}

	// Deployed (or superseded as newest, which Helm never leaves; treat as deployed).
	sameValues := latest.ValuesHash == want.ValuesHash || want.Adopted.covers(latest.Number, want.ValuesHash)
	matches := latest.Chart == want.Chart && latest.Version == want.Version && sameValues
	if !matches {
		if f := want.Failed; f != nil && f.Version == want.Version && f.ValuesHash == want.ValuesHash {
			return Decision{Step: StepBlocked, Message: fmt.Sprintf("%s %s with these values failed before and was undone; change spec.version or spec.values to try again (running revision %d, %s)", want.Chart, want.Version, latest.Number, latest.Version)}
		}
		what := "configuration change"
		if latest.Version != want.Version {
			what = fmt.Sprintf("%s -> %s", latest.Version, want.Version)
		}
		if latest.Chart != want.Chart {
			what = fmt.Sprintf("chart %s -> %s", latest.Chart, want.Chart)
		}
		return Decision{Step: StepUpgrade, Message: fmt.Sprintf("upgrading (%s)", what)}
	}

	if latest.Healthy {
		if obs.Ready.Ready {
			return Decision{Step: StepNone, Message: fmt.Sprintf("revision %d (%s) is deployed and ready", latest.Number, latest.Version)}
		}
		return Decision{Step: StepNotReady, Message: fmt.Sprintf("revision %d (%s) is deployed but not ready: %s", latest.Number, latest.Version, obs.Ready.Summary()), RequeueAfter: 0}
	}
	if obs.Ready.Ready {
		return Decision{Step: StepMarkHealthy, Message: fmt.Sprintf("revision %d (%s) is deployed and ready", latest.Number, latest.Version)}
	}
	waited := p.Now.Sub(latest.Deployed)
	if obs.Ready.Failed() || waited >= p.ReadyTimeout {
		why := fmt.Sprintf("not ready after %s: %s", waited.Round(time.Second), obs.Ready.Summary())
		if obs.Ready.Failed() {
			why = "failed: " + obs.Ready.Summary()
		}
		if good != nil {
			return Decision{Step: StepRollback, RollbackTo: good.Number, FailedAttempt: &Attempt{Version: latest.Version, ValuesHash: latest.ValuesHash},
				Message: fmt.Sprintf("revision %d (%s) %s; rolling back to revision %d (%s)", latest.Number, latest.Version, why, good.Number, good.Version)}
		}
		return Decision{Step: StepNotReady, Message: fmt.Sprintf("revision %d (%s) %s", latest.Number, latest.Version, why)}
	}
	return Decision{Step: StepWaitReady, Message: fmt.Sprintf("waiting for workloads of revision %d (%s): %s", latest.Number, latest.Version, obs.Ready.Summary()),
		RequeueAfter: p.ReadyTimeout - waited}
}
