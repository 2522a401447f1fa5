package access

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/yaml"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/controllers"
	"github.com/castware-operator/castware-operator/internal/helm"
	"github.com/castware-operator/castware-operator/internal/permissions"
)

// DefaultRenderTTL is how long the RBAC a chart renders (for one digest and values hash) is reused; roles that
// bindings refer to may change, so it is not kept forever.
const DefaultRenderTTL = 10 * time.Minute

// Renderer renders a chart without installing it (the Helm engine).
type Renderer interface {
	// Render renders req as installing (or upgrading) it would.
	Render(ctx context.Context, req helm.Request, upgrade bool) (*helm.Rendered, error)
}

// Gate decides whether the operator may install or upgrade a component (controllers.PermissionGate): a Phase 2
// component waits until the Detector finds the extended permissions (or that the operator is cluster-admin), and a chart whose RBAC the operator does
// not fully hold is refused before Helm starts, with the exact missing rules, instead of failing halfway
// through with the API server's "attempting to grant RBAC permissions not currently held". Components it
// turned away are woken when the operator's bindings change.
type Gate struct {
	// Detector detects the Phase 2 permissions.
	Detector *Detector
	// Reviewer reviews the operator's rules.
	Reviewer *Reviewer
	// Renderer renders charts.
	Renderer Renderer
	// Roles reads existing roles that rendered bindings refer to (uncached).
	Roles client.Reader
	// Command is the command that grants the Phase 2 permissions (see GrantCommand).
	Command string
	// TTL is how long rendered RBAC is reused (default DefaultRenderTTL).
	TTL time.Duration

	mu      sync.Mutex
	renders map[string]rendered
	waiting map[types.NamespacedName]bool
	wake    chan event.GenericEvent
	now     func() time.Time
}

type rendered struct {
	reqs     []permissions.Requirement
	subjects []string // bindings to subjects the operator never grants to (permissions.ForbiddenSubjects)
	at       time.Time
}

var _ controllers.PermissionGate = (*Gate)(nil)

// NewGate returns a Gate.
func NewGate(d *Detector, r *Reviewer, renderer Renderer, roles client.Reader, command string) *Gate {
	return &Gate{Detector: d, Reviewer: r, Renderer: renderer, Roles: roles, Command: command,
		renders: map[string]rendered{}, waiting: map[types.NamespacedName]bool{}, wake: make(chan event.GenericEvent, 256), now: time.Now}
}

// GrantCommand is the command that grants the Phase 2 permissions to the operator installed as release in namespace.
func GrantCommand(release, namespace string) string {
	return fmt.Sprintf("helm upgrade %s castai-helm/castware-operator -n %s --reuse-values --set extendedPermissions=true", release, namespace)
}

// Wakeups delivers the Components the gate turned away, when the operator's permissions may have changed.
func (g *Gate) Wakeups() <-chan event.GenericEvent { return g.wake }

// PermissionsChanged wakes every Component the gate turned away.
func (g *Gate) PermissionsChanged() {
	g.mu.Lock()
	keys := make([]types.NamespacedName, 0, len(g.waiting))
	for k := range g.waiting {
		keys = append(keys, k)
	}
	g.mu.Unlock()
	for _, k := range keys {
		c := &castwarev1.Component{}
		c.Namespace, c.Name = k.Namespace, k.Name
		select {
		case g.wake <- event.GenericEvent{Object: c}:
		default: // full: the Component is looked at again by its periodic requeue
		}
	}
}

func (g *Gate) setWaiting(owner client.Object, waiting bool) {
	k := types.NamespacedName{Namespace: owner.GetNamespace(), Name: owner.GetName()}
	g.mu.Lock()
	defer g.mu.Unlock()
	if waiting {
		g.waiting[k] = true
	} else {
		delete(g.waiting, k)
	}
}

// CheckPhase implements controllers.PermissionGate.
func (g *Gate) CheckPhase(ctx context.Context, owner client.Object, phase int) (string, error) {
	if phase < 2 {
		return "", nil
	}
	st, err := g.Detector.Status(ctx)
	if err != nil {
		return "", err
	}
	if st.Extended || st.Admin {
		g.setWaiting(owner, false)
		return "", nil
	}
	g.setWaiting(owner, true)
	name := owner.GetName()
	if c, ok := owner.(*castwarev1.Component); ok && c.Spec.Component != "" {
		name = c.Spec.Component
	}
	return PhaseMessage(name, g.Detector.Namespace, st, g.Command), nil
}

// PhaseMessage explains why a Phase 2 component waits and how to grant the permissions. It is a pure function.
func PhaseMessage(component, namespace string, st Status, command string) string {
	prefix := fmt.Sprintf("component %s needs the operator's extended (Phase 2) permissions", component)
	n := permissions.AtomCount(st.Missing)
	switch {
	case st.Bindings && n > 0:
		return fmt.Sprintf("%s: the bindings labelled %s=true exist but do not grant %d of the Phase 2 rules (%s); grant them again with: %s",
			prefix, permissions.LabelExtendedPermissions, n, permissions.Describe(st.Missing), command)
	case n > 0:
		return fmt.Sprintf("%s, which it does not hold: missing %d rules (%s); grant them with: %s",
			prefix, n, permissions.Describe(st.Missing), command)
	default:
		return fmt.Sprintf("%s: it holds the Phase 2 rules, but extendedPermissions is not enabled (no RoleBinding in namespace %s and "+
			"ClusterRoleBinding labelled %s=true); enable it with: %s", prefix, namespace, permissions.LabelExtendedPermissions, command)
	}
}

// CheckChart implements controllers.PermissionGate.
func (g *Gate) CheckChart(ctx context.Context, req helm.Request, digest, valuesHash string, upgrade bool) (string, error) {
	r, err := g.requirements(ctx, req, digest, valuesHash, upgrade)
	if err != nil {
		return "", err
	}
	reqs := r.reqs
	if len(r.subjects) > 0 {
		g.setWaiting(req.Owner, false) // no grant of the operator's changes this: the chart must
		return "", &controllers.ForbiddenSubjectsError{Message: SubjectsMessage(chartName(req), req.Owner.GetNamespace(), r.subjects)}
	}
	if len(reqs) == 0 {
		g.setWaiting(req.Owner, false)
		return "", nil
	}
	missing, err := g.Reviewer.Missing(ctx, reqs)
	if err != nil {
		return "", err
	}
	if len(missing) == 0 {
		g.setWaiting(req.Owner, false)
		return "", nil
	}
	g.setWaiting(req.Owner, true)
	name, version := "chart", ""
	if req.Chart != nil && req.Chart.Metadata != nil {
		name, version = req.Chart.Metadata.Name, req.Chart.Metadata.Version
	}
	hint := ""
	if st, ok := g.Detector.Known(); ok && !st.Extended {
		hint = " (the Phase 2 rules come with: " + g.Command + ")"
	}
	return ChartMessage(name, version, missing, hint), nil
}

func chartName(req helm.Request) string {
	if req.Chart != nil && req.Chart.Metadata != nil {
		return req.Chart.Metadata.Name + " " + req.Chart.Metadata.Version
	}
	return "chart"
}

// SubjectsMessage explains why a chart binding roles to subjects outside namespace is refused. It is a pure function.
func SubjectsMessage(chart, namespace string, subjects []string) string {
	return fmt.Sprintf("chart %s binds roles to subjects the operator never grants roles to, so it was not applied: %s. "+
		"The operator binds roles only to ServiceAccounts in namespace %s, never to groups (system:authenticated, system:masters, ...), "+
		"users or ServiceAccounts of other namespaces", chart, strings.Join(subjects, " | "), namespace)
}

// ChartMessage explains which RBAC rules a chart would grant that the operator does not hold. It is a pure function.
func ChartMessage(chart, version string, missing []permissions.Missing, hint string) string {
	return fmt.Sprintf("chart %s %s would grant RBAC permissions the operator does not hold, which the API server refuses (RBAC escalation prevention), "+
		"so it was not applied; missing %d: %s. Grant the operator these rules first%s", chart, version, permissions.AtomCount(missing),
		permissions.Describe(missing), hint)
}

func (g *Gate) requirements(ctx context.Context, req helm.Request, digest, valuesHash string, upgrade bool) (rendered, error) {
	key := strings.Join([]string{digest, valuesHash, req.Owner.GetNamespace(), req.ReleaseName, fmt.Sprint(upgrade)}, "|")
	ttl := g.TTL
	if ttl <= 0 {
		ttl = DefaultRenderTTL
	}
	g.mu.Lock()
	if r, ok := g.renders[key]; ok && g.now().Sub(r.at) < ttl {
		g.mu.Unlock()
		return r, nil
	}
	g.mu.Unlock()
	out, err := g.Renderer.Render(ctx, req, upgrade)
	if err != nil {
		return rendered{}, err
	}
	objs, err := RBACObjectsOf(append(append([]string{}, out.Manifests...), out.Hooks...), req.Owner.GetNamespace())
	if err != nil {
		return rendered{}, err
	}
	reqs, err := permissions.Requirements(objs, g.lookup(ctx))
	if err != nil {
		return rendered{}, err
	}
	r := rendered{reqs: reqs, subjects: permissions.ForbiddenSubjects(objs, []string{req.Owner.GetNamespace()}), at: g.now()}
	g.mu.Lock()
	defer g.mu.Unlock()
	for k, r := range g.renders { // drop what expired
		if g.now().Sub(r.at) >= ttl {
			delete(g.renders, k)
		}
	}
	g.renders[key] = r
	return r, nil
}

func (g *Gate) lookup(ctx context.Context) permissions.RoleLookup {
	return func(kind, namespace, name string) ([]rbacv1.PolicyRule, bool, error) {
		if g.Roles == nil {
			return nil, false, fmt.Errorf("no reader for existing roles")
		}
		var err error
		var rules []rbacv1.PolicyRule
		if kind == "ClusterRole" {
			cr := &rbacv1.ClusterRole{}
			err = g.Roles.Get(ctx, client.ObjectKey{Name: name}, cr)
			rules = cr.Rules
		} else {
			r := &rbacv1.Role{}
			err = g.Roles.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, r)
			rules = r.Rules
		}
		if apierrors.IsNotFound(err) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, err
		}
		return rules, true, nil
	}
}

// RBACObjectsOf collects the rbac.authorization.k8s.io/v1 Roles, ClusterRoles and bindings of rendered
// documents; namespaced ones without a namespace get namespace (the release's, as Helm applies them).
func RBACObjectsOf(docs []string, namespace string) (permissions.RBACObjects, error) {
	var out permissions.RBACObjects
	for _, doc := range docs {
		for _, part := range splitDocuments(doc) {
			var head struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
			}
			if err := yaml.Unmarshal([]byte(part), &head); err != nil {
				return out, fmt.Errorf("parse rendered manifest: %w", err)
			}
			if head.APIVersion != rbacv1.SchemeGroupVersion.String() {
				continue
			}
			var err error
			switch head.Kind {
			case "ClusterRole":
				var o rbacv1.ClusterRole
				if err = yaml.Unmarshal([]byte(part), &o); err == nil {
					out.ClusterRoles = append(out.ClusterRoles, o)
				}
			case "Role":
				var o rbacv1.Role
				if err = yaml.Unmarshal([]byte(part), &o); err == nil {
					if o.Namespace == "" {
						o.Namespace = namespace
					}
					out.Roles = append(out.Roles, o)
				}
			case "ClusterRoleBinding":
				var o rbacv1.ClusterRoleBinding
				if err = yaml.Unmarshal([]byte(part), &o); err == nil {
					out.ClusterRoleBindings = append(out.ClusterRoleBindings, o)
				}
			case "RoleBinding":
				var o rbacv1.RoleBinding
				if err = yaml.Unmarshal([]byte(part), &o); err == nil {
					if o.Namespace == "" {
						o.Namespace = namespace
					}
					out.RoleBindings = append(out.RoleBindings, o)
				}
			}
			if err != nil {
				return out, fmt.Errorf("parse rendered %s: %w", head.Kind, err)
			}
		}
	}
	return out, nil
}

// splitDocuments splits a YAML stream at document separators.
func splitDocuments(s string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if strings.TrimRight(line, " \t") == "---" {
			if strings.TrimSpace(cur.String()) != "" {
				out = append(out, cur.String())
			}
			cur.Reset()
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
	}
	if strings.TrimSpace(cur.String()) != "" {
		out = append(out, cur.String())
	}
	return out
}
