package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/release"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/catalog"
	"github.com/castware-operator/castware-operator/internal/helm"
)

func TestPreApplyChecks(t *testing.T) {
	type verdict struct {
		held    bool
		outcome outcome
		reason  string
		err     bool
	}
	upgrade := stateOf(deployed10)
	tests := []struct {
		name  string
		check func(context.Context, checkDeps, *proposal) *holdBack
		deps  checkDeps
		phase int
		st    *helm.State
		up    bool
		want  verdict
	}{
		{"phase: no gate", phaseGate, checkDeps{}, 2, upgrade, false, verdict{}},
		{"phase: Phase 1 needs nothing", phaseGate, checkDeps{gate: fakeGate{phase: "missing"}}, 1, upgrade, false, verdict{}},
		{"phase: Phase 2 without the permissions", phaseGate, checkDeps{gate: fakeGate{phase: "grant extendedPermissions"}}, 2, upgrade, false,
			verdict{true, outHeldBack, castwarev1.ReasonMissingPermissions, false}},
		{"phase: Phase 2 granted", phaseGate, checkDeps{gate: fakeGate{}}, 2, upgrade, false, verdict{}},
		{"phase: check fails", phaseGate, checkDeps{gate: fakeGate{err: boom}}, 2, upgrade, false, verdict{true, outNone, "", true}},
		{"upgrade: an install is not validated", upgradeValidation, checkDeps{upgrades: &fakeValidator{}}, 1, &helm.State{}, false, verdict{}},
		{"upgrade: same version is not validated", upgradeValidation, checkDeps{upgrades: &fakeValidator{}}, 1, stateOf(deployed11), true, verdict{}},
		{"upgrade: allowed", upgradeValidation, checkDeps{upgrades: &fakeValidator{allowed: true}}, 1, upgrade, true, verdict{}},
		{"upgrade: refused", upgradeValidation, checkDeps{upgrades: &fakeValidator{why: "needs node agent"}}, 1, upgrade, true,
			verdict{true, outHeldBack, castwarev1.ReasonUpgradeBlocked, false}},
		{"upgrade: not answered", upgradeValidation, checkDeps{upgrades: &fakeValidator{err: boom}}, 1, upgrade, true,
			verdict{true, outHeldBack, castwarev1.ReasonUpgradeNotValidated, true}},
		{"chart: loads", chartAvailable, checkDeps{charts: fakeCharts{}}, 1, upgrade, true, verdict{}},
		{"chart: unavailable", chartAvailable, checkDeps{charts: fakeCharts{err: errors.New("404")}}, 1, upgrade, true,
			verdict{true, outChartUnavailable, "", true}},
		{"rbac: no gate", chartPermissions, checkDeps{}, 1, upgrade, true, verdict{}},
		{"rbac: grants what the operator lacks", chartPermissions, checkDeps{gate: fakeGate{chart: "cannot grant secrets/get"}}, 1, upgrade, true,
			verdict{true, outHeldBack, castwarev1.ReasonMissingPermissions, false}},
		{"rbac: review fails, Helm is left to try", chartPermissions, checkDeps{gate: fakeGate{err: boom}}, 1, upgrade, true, verdict{}},
		{"rbac: binds a group", chartPermissions, checkDeps{gate: fakeGate{err: forbidden}}, 1, upgrade, true,
			verdict{true, outHeldBack, castwarev1.ReasonForbiddenSubjects, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, running10)
			f.w.entry.Phase = tt.phase
			hb := tt.check(context.Background(), tt.deps, &proposal{w: f.w, st: tt.st, upgrade: tt.up})
			got := verdict{}
			if hb != nil {
				got = verdict{true, hb.outcome, hb.reason, hb.err != nil}
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// forbidden is the gate's answer for a chart binding roles to system:authenticated.
var forbidden = fmt.Errorf("review: %w", &ForbiddenSubjectsError{Message: "chart binds roles to Group system:authenticated"})

// TestForbiddenSubjectsAreNotRetriedLikeMissingPermissions: no grant fixes a forbidden subject, so the
// Component is neither retried with backoff nor rechecked as often as for missing permissions, and the
// refusal is evented once.
func TestForbiddenSubjectsAreNotRetriedLikeMissingPermissions(t *testing.T) {
	f := newFixture(t, nil)
	f.r.Permissions = fakeGate{err: forbidden}
	for i := 0; i < 2; i++ {
		again, res, err := f.r.execute(context.Background(), f.w, &helm.State{}, helm.Decision{Step: helm.StepInstall})
		if err != nil || again || res.RequeueAfter != ForbiddenSubjectsRecheck {
			t.Fatalf("again %v, result %+v, err %v: want a hold-back rechecked after %s", again, res, err, ForbiddenSubjectsRecheck)
		}
	}
	if ForbiddenSubjectsRecheck <= PermissionRecheck {
		t.Errorf("forbidden subjects are rechecked every %s, as often as missing permissions", ForbiddenSubjectsRecheck)
	}
	if c := f.cond(castwarev1.ConditionProgressing); !strings.Contains(c.Message, "system:authenticated") {
		t.Errorf("condition %+v does not name the subject", c)
	}
	if len(f.events.events) != 1 {
		t.Errorf("events %+v, want the refusal once", f.events.events)
	}
	if len(f.engine.calls) > 0 && strings.Contains(strings.Join(actions(f.engine.calls), ","), "Install") {
		t.Errorf("Helm ran: %v", f.engine.calls)
	}
}

func TestPreApplyOrder(t *testing.T) {
	var names []string
	for _, c := range preApply {
		names = append(names, c.name)
	}
	if got := strings.Join(names, ","); got != "phase,upgrade,chart,rbac" {
		t.Fatalf("order %s: the chart must be loaded after the cheap checks and before its RBAC review", got)
	}
	v := &fakeValidator{}
	f := newFixture(t, running10)
	f.w.entry.Phase = 2
	hb, _ := runChecks(context.Background(), checkDeps{gate: fakeGate{phase: "missing"}, upgrades: v, charts: fakeCharts{}}, &proposal{w: f.w, st: stateOf(deployed10), upgrade: true})
	if hb == nil || hb.reason != castwarev1.ReasonMissingPermissions || v.asked != 0 {
		t.Fatalf("the first check that holds back stops the chain (held %+v, Cast AI asked %d times)", hb, v.asked)
	}
}

func TestStepApply(t *testing.T) {
	held := func(v *fakeValidator, g PermissionGate) func(f *fixture) {
		return func(f *fixture) { f.r.Upgrades, f.r.Permissions = v, g }
	}
	tests := []struct {
		stepCase
		setup func(f *fixture)
	}{
		{stepCase: stepCase{name: "install", state: &helm.State{}, d: helm.Decision{Step: helm.StepInstall}, again: true,
			want: "Progressing=True/Installing Available=False/Installing events=[Normal:InstallStarted] reports=[ENABLE/PROGRESSING]", calls: "Install"}},
		{stepCase: stepCase{name: "reinstall is an install", state: stateOf(rel(1, release.StatusFailed, "1.1.0", false)), d: helm.Decision{Step: helm.StepReinstall}, again: true,
			want: "Progressing=True/Installing Available=False/Installing events=[Normal:InstallStarted] reports=[ENABLE/PROGRESSING]", calls: "Reinstall"}},
		{stepCase: stepCase{name: "upgrade", comp: running10, state: stateOf(deployed10), d: helm.Decision{Step: helm.StepUpgrade}, again: true,
			want: "Progressing=True/Upgrading Available=/ events=[Normal:UpgradeStarted] reports=[UPDATE/PROGRESSING]", calls: "Upgrade"}},
		{stepCase: stepCase{name: "upgrade fails and leaves a revision", comp: running10, state: stateOf(deployed10), after: stateOf(failed11, deployed10),
			fail: map[string]error{"Upgrade": boom}, d: helm.Decision{Step: helm.StepUpgrade}, again: true,
			want: "Progressing=True/Upgrading Available=/ events=[Normal:UpgradeStarted Warning:UpgradeFailed] reports=[UPDATE/PROGRESSING UPDATE/ERROR]", calls: "Upgrade"}},
		{stepCase: stepCase{name: "install fails and changes nothing", state: &helm.State{}, fail: map[string]error{"Install": boom},
			d: helm.Decision{Step: helm.StepInstall}, wantErr: true,
			want: "Progressing=False/Failed Available=False/InstallFailed events=[Normal:InstallStarted Warning:InstallFailed] reports=[ENABLE/PROGRESSING ENABLE/ERROR]", calls: "Install"}},
		{stepCase: stepCase{name: "chart unavailable for an install", state: &helm.State{}, d: helm.Decision{Step: helm.StepInstall}, wantErr: true,
			want: "Progressing=False/ChartUnavailable Available=False/InstallFailed events=[Warning:ChartUnavailable] reports=[]"},
			setup: func(f *fixture) { f.r.Charts = fakeCharts{err: errors.New("404")} }},
		{stepCase: stepCase{name: "chart unavailable for an upgrade keeps Available", comp: running10, state: stateOf(deployed10), d: helm.Decision{Step: helm.StepUpgrade}, wantErr: true,
			want: "Progressing=False/ChartUnavailable Available=/ events=[Warning:ChartUnavailable] reports=[]"},
			setup: func(f *fixture) { f.r.Charts = fakeCharts{err: errors.New("404")} }},
		{stepCase: stepCase{name: "upgrade refused by Cast AI", comp: running10, state: stateOf(deployed10), d: helm.Decision{Step: helm.StepUpgrade},
			want: "Progressing=False/UpgradeBlocked Available=/ events=[Warning:UpgradeBlocked] reports=[UPDATE/ERROR]"},
			setup: held(&fakeValidator{why: "no"}, nil)},
		{stepCase: stepCase{name: "install missing permissions", state: &helm.State{}, d: helm.Decision{Step: helm.StepInstall},
			want: "Progressing=False/MissingPermissions Available=False/MissingPermissions events=[Warning:MissingPermissions] reports=[ENABLE/ERROR]"},
			setup: held(nil, fakeGate{chart: "cannot grant"})},
		{stepCase: stepCase{name: "install binding a group", state: &helm.State{}, d: helm.Decision{Step: helm.StepInstall},
			want: "Progressing=False/ForbiddenSubjects Available=False/ForbiddenSubjects events=[Warning:ForbiddenSubjects] reports=[ENABLE/ERROR]"},
			setup: held(nil, fakeGate{err: forbidden})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.comp)
			if tt.setup != nil {
				tt.setup(f)
			}
			f.engine.state, f.engine.after, f.engine.fail = tt.state, tt.after, tt.fail
			again, _, err := f.r.execute(context.Background(), f.w, tt.state, tt.d)
			if (err != nil) != tt.wantErr || again != tt.again {
				t.Fatalf("again %v err %v; want again %v, error %v", again, err, tt.again, tt.wantErr)
			}
			if got := f.summary(); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			if got := strings.Join(actions(f.engine.calls), ","); got != tt.calls {
				t.Errorf("engine actions %q, want %q", got, tt.calls)
			}
		})
	}
}

func TestHeldBackReportedOnce(t *testing.T) {
	f := newFixture(t, running10)
	f.r.Upgrades = &fakeValidator{why: "no"}
	for i := 0; i < 3; i++ {
		if _, _, err := f.r.execute(context.Background(), f.w, stateOf(deployed10), helm.Decision{Step: helm.StepUpgrade}); err != nil {
			t.Fatal(err)
		}
	}
	if len(f.events.events) != 1 || len(f.report.got) != 1 {
		t.Fatalf("a hold-back for the same reason is evented and reported once: %s", f.summary())
	}
}

func TestValuesWithAnAPIKeyAreInvalid(t *testing.T) {
	f := newFixture(t, func(c *castwarev1.Component) {
		c.Spec.Values = &apiextensionsv1.JSON{Raw: []byte(`{"apiKey":"plain"}`)}
	})
	if f.r.composeValues(f.w, catalog.ClusterFacts{}) {
		t.Fatal("values with an API key must not be applied")
	}
	if c := f.cond(castwarev1.ConditionProgressing); c.Reason != castwarev1.ReasonInvalidValues || !strings.Contains(c.Message, "spec.apiKeySecret") {
		t.Fatalf("Progressing %s: %q; want InvalidValues naming the Secret", c.Reason, c.Message)
	}
}
