package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/helm"
)

// BreakdownGroup is the Row group of the install breakdown.
const BreakdownGroup = "install breakdown"

// InstallBreakdown splits the install of the named Components (nil: every Component of namespace), created
// at created, into phases, for the Component that became Available last (its phases add up to its install
// latency). It reads the audit log
// (the operator's requests and the workloads' status writes, see auditPolicy), the operator's log (its
// "applying" line times the steps before Helm) and, through c, the Components and their workloads. It waits
// up to 10 s for the audit log's last batch.
func InstallBreakdown(ctx context.Context, c client.Client, auditLog, operatorLog, namespace string, names []string, created time.Time) ([]Row, error) {
	targets, err := breakdownTargets(ctx, c, namespace, names)
	if err != nil {
		return nil, err
	}
	applying, err := applyingLines(operatorLog, namespace, created)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		events, err := readAudit(auditLog, created)
		if err != nil {
			return nil, err
		}
		rows, err := breakdownRows(targets, applying, events, created)
		if err == nil || time.Now().After(deadline) {
			return rows, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// target is a Component whose install is split: its release and the workloads the release rendered.
type target struct {
	namespace, name, release string
	workloads                map[string]bool // "deployments/name"
}

func breakdownTargets(ctx context.Context, c client.Client, namespace string, names []string) ([]target, error) {
	if len(names) == 0 {
		l := &castwarev1.ComponentList{}
		if err := c.List(ctx, l, client.InNamespace(namespace)); err != nil {
			return nil, fmt.Errorf("list Components: %w", err)
		}
		for _, comp := range l.Items {
			names = append(names, comp.Name)
		}
	}
	var out []target
	for _, name := range names {
		comp := &castwarev1.Component{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, comp); err != nil {
			return nil, fmt.Errorf("read Component %s: %w", name, err)
		}
		t := target{namespace: namespace, name: name, release: comp.Status.ReleaseName, workloads: map[string]bool{}}
		sel := client.MatchingLabels{helm.LabelComponent: name}
		lists := map[string]client.ObjectList{"deployments": &appsv1.DeploymentList{}, "daemonsets": &appsv1.DaemonSetList{}, "statefulsets": &appsv1.StatefulSetList{}}
		for resource, l := range lists {
			if err := c.List(ctx, l, client.InNamespace(namespace), sel); err != nil {
				return nil, fmt.Errorf("list %s of %s: %w", resource, name, err)
			}
			for _, n := range objectNames(l) {
				t.workloads[resource+"/"+n] = true
			}
		}
		out = append(out, t)
	}
	return out, nil
}

func objectNames(l client.ObjectList) []string {
	var out []string
	switch l := l.(type) {
	case *appsv1.DeploymentList:
		for _, o := range l.Items {
			out = append(out, o.Name)
		}
	case *appsv1.DaemonSetList:
		for _, o := range l.Items {
			out = append(out, o.Name)
		}
	case *appsv1.StatefulSetList:
		for _, o := range l.Items {
			out = append(out, o.Name)
		}
	}
	return out
}

// applying is the operator's "applying" log line of one Component: when Helm was started and how long the
// steps of that reconcile before it took.
type applying struct {
	at                                          time.Time
	observe, validation, fetch, permissionCheck float64
}

// reconcileStart is when the reconcile that started Helm began.
func (a applying) reconcileStart() time.Time {
	return a.at.Add(-secondsDur(a.observe + a.validation + a.fetch + a.permissionCheck))
}

func secondsDur(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// applyingLines returns the first "applying" line per Component name logged at or after since.
func applyingLines(path, namespace string, since time.Time) (map[string]applying, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read the operator log: %w", err)
	}
	defer f.Close()
	out := map[string]applying{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var l struct {
			Msg             string  `json:"msg"`
			TS              string  `json:"ts"`
			Name            string  `json:"name"`
			Namespace       string  `json:"namespace"`
			Observe         float64 `json:"observeSeconds"`
			Validation      float64 `json:"upgradeValidationSeconds"`
			Fetch           float64 `json:"chartFetchSeconds"`
			PermissionCheck float64 `json:"permissionCheckSeconds"`
		}
		if json.Unmarshal(sc.Bytes(), &l) != nil || l.Msg != "applying" || l.Namespace != namespace {
			continue
		}
		at, err := time.Parse("2006-01-02T15:04:05.000Z0700", l.TS)
		if err != nil || at.Before(since) {
			continue
		}
		if _, ok := out[l.Name]; !ok {
			out[l.Name] = applying{at: at, observe: l.Observe, validation: l.Validation, fetch: l.Fetch, permissionCheck: l.PermissionCheck}
		}
	}
	return out, sc.Err()
}

// auditEvent is one completed request of the audit log.
type auditEvent struct {
	at                          time.Time
	operator                    bool
	verb, resource, subresource string
	namespace, name             string
}

func readAudit(path string, since time.Time) ([]auditEvent, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read the audit log: %w", err)
	}
	defer f.Close()
	var out []auditEvent
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var e struct {
			Verb     string    `json:"verb"`
			Stage    string    `json:"stage"`
			Received time.Time `json:"requestReceivedTimestamp"`
			User     struct {
				Username string `json:"username"`
			} `json:"user"`
			ObjectRef struct {
				Namespace   string `json:"namespace"`
				Resource    string `json:"resource"`
				Subresource string `json:"subresource"`
				Name        string `json:"name"`
			} `json:"objectRef"`
		}
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.Stage != "ResponseComplete" || e.Received.Before(since) {
			continue
		}
		out = append(out, auditEvent{at: e.Received, operator: e.User.Username == OperatorUser, verb: e.Verb,
			namespace: e.ObjectRef.Namespace, resource: e.ObjectRef.Resource, subresource: e.ObjectRef.Subresource, name: e.ObjectRef.Name})
	}
	return out, sc.Err()
}

// milestones are the moments one Component's install passed, read from the audit log.
type milestones struct {
	firstReconcile time.Time // the operator's first write of the Component (its finalizer)
	helmDone       time.Time // Helm recorded the revision as deployed
	workloadsReady time.Time // the last status write of its workloads before the operator marked it healthy
	healthy        time.Time // the operator marked the revision healthy
	available      time.Time // the operator's first status write after that (Available=True)
}

// findMilestones reads t's milestones from events (in log order); Helm starts at start.
func findMilestones(t target, events []auditEvent, start time.Time) (milestones, error) {
	var m milestones
	record := "sh.helm.release.v1." + t.release + ".v"
	for _, e := range events {
		if e.namespace != t.namespace {
			continue
		}
		switch {
		case m.firstReconcile.IsZero() && e.operator && e.resource == "components" && e.name == t.name:
			m.firstReconcile = e.at
		case e.at.Before(start):
		case m.helmDone.IsZero() && e.operator && e.verb == "update" && e.resource == "secrets" && strings.HasPrefix(e.name, record):
			m.helmDone = e.at
		case !m.helmDone.IsZero() && m.healthy.IsZero() && e.operator && e.verb == "update" && e.resource == "secrets" && strings.HasPrefix(e.name, record):
			m.healthy = e.at
		case !m.helmDone.IsZero() && m.healthy.IsZero() && !e.operator && e.subresource == "status" && t.workloads[e.resource+"/"+e.name]:
			m.workloadsReady = e.at
		case !m.healthy.IsZero() && m.available.IsZero() && e.operator && e.resource == "components" && e.subresource == "status" && e.name == t.name:
			m.available = e.at
		}
	}
	if m.firstReconcile.IsZero() || m.helmDone.IsZero() || m.healthy.IsZero() || m.available.IsZero() {
		return m, fmt.Errorf("the audit log does not show the whole install of %s yet", t.name)
	}
	if m.workloadsReady.IsZero() || m.workloadsReady.Before(m.helmDone) {
		m.workloadsReady = m.helmDone
	}
	return m, nil
}

// breakdownRows splits the install of the Component Available last.
func breakdownRows(targets []target, apps map[string]applying, events []auditEvent, created time.Time) ([]Row, error) {
	var last *target
	var lastM milestones
	for i := range targets {
		a, ok := apps[targets[i].name]
		if !ok {
			return nil, fmt.Errorf("the operator log has no applying line for %s", targets[i].name)
		}
		m, err := findMilestones(targets[i], events, a.at)
		if err != nil {
			return nil, err
		}
		if last == nil || m.available.After(lastM.available) {
			last, lastM = &targets[i], m
		}
	}
	if last == nil {
		return nil, fmt.Errorf("no Components to split")
	}
	a, m := apps[last.name], lastM
	waitCluster := a.reconcileStart().Sub(m.firstReconcile)
	if waitCluster < 0 {
		waitCluster = 0 // the first reconcile installed
	}
	phases := []struct {
		what string
		d    time.Duration
	}{
		{"Component created → first reconcile", m.firstReconcile.Sub(created)},
		{"waiting for Cluster registration (and its facts)", waitCluster},
		{"observe (cluster facts, Helm history, readiness)", secondsDur(a.observe)},
		{"upgrade validation (Cast AI)", secondsDur(a.validation)},
		{"chart fetch (index, archive)", secondsDur(a.fetch)},
		{"permission gate (chart RBAC rendered, reviewed)", secondsDur(a.permissionCheck)},
		{"Helm install (render, validation, API writes)", m.helmDone.Sub(a.at)},
		{"workloads roll out (scheduler, kwok, controllers)", m.workloadsReady.Sub(m.helmDone)},
		{"readiness noticed (watch → reconcile → healthy mark)", m.healthy.Sub(m.workloadsReady)},
		{"status Available written", m.available.Sub(m.healthy)},
	}
	var rows []Row
	for _, p := range phases {
		rows = append(rows, Row{Group: BreakdownGroup, Metric: fmt.Sprintf("  %s: %s", last.name, p.what), Value: secs(p.d), Unit: "s"})
	}
	rows = append(rows, Row{Group: BreakdownGroup, Metric: fmt.Sprintf("  %s (Available last): created → Available, the sum", last.name),
		Value: secs(m.available.Sub(created)), Unit: "s"})
	return rows, nil
}
