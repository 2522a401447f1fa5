// Package access answers what the operator may actually do, against the API server: which RBAC rules its
// identity holds (SelfSubjectRulesReview, cached; SelfSubjectAccessReview where a review is incomplete),
// whether it holds the Phase 2 permissions (Detector, which watches the bindings the operator chart labels
// castware.cast.ai/extended-permissions=true), and whether a chart it is about to install would grant RBAC it
// does not hold (Gate, which renders the chart first). The pure rule arithmetic is in package permissions.
package access

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	authorizationclient "k8s.io/client-go/kubernetes/typed/authorization/v1"

	"github.com/castware-operator/castware-operator/internal/permissions"
)

// ClusterScopeNamespace is the namespace the cluster-wide rules are reviewed in. It is not a valid namespace
// name (it has a dot), so no RoleBinding can ever exist in it: a SelfSubjectRulesReview there returns exactly
// the rules the operator holds cluster-wide (a review needs some namespace; one in a real namespace would add
// that namespace's RoleBindings).
const ClusterScopeNamespace = "castware.cluster-scope"

// DefaultReviewTTL is how long a rules review is reused when nothing invalidates it.
const DefaultReviewTTL = 10 * time.Minute

// maxAccessReviews bounds the SelfSubjectAccessReviews one check sends to confirm atoms an incomplete rules
// review did not list; atoms beyond it are reported missing.
const maxAccessReviews = 64

// Reviewer tells which RBAC rules the operator's identity holds, per scope, from SelfSubjectRulesReviews cached
// for TTL (or until Invalidate). Those are the rules the API server's escalation check compares a new Role or
// binding with. When a review is incomplete (an authorizer besides RBAC cannot list rules), atoms it does not
// list are confirmed one by one with SelfSubjectAccessReviews.
type Reviewer struct {
	client authorizationclient.AuthorizationV1Interface
	ttl    time.Duration
	now    func() time.Time

	mu       sync.Mutex
	cache    map[string]review
	requests atomic.Int64
}

type review struct {
	rules      []rbacv1.PolicyRule
	incomplete bool
	at         time.Time
}

// NewReviewer returns a Reviewer sending reviews through c, caching them for ttl (0: DefaultReviewTTL).
func NewReviewer(c authorizationclient.AuthorizationV1Interface, ttl time.Duration) *Reviewer {
	if ttl <= 0 {
		ttl = DefaultReviewTTL
	}
	return &Reviewer{client: c, ttl: ttl, now: time.Now, cache: map[string]review{}}
}

// Requests returns how many reviews were sent (rules and access reviews).
func (r *Reviewer) Requests() int64 { return r.requests.Load() }

// Invalidate drops every cached review (the operator's bindings changed).
func (r *Reviewer) Invalidate() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cache = map[string]review{}
}

// Rules returns the rules the operator holds in scope (permissions.ClusterScope or a namespace; a namespace's
// rules include the cluster-wide ones, as the API server computes them) and whether the review was incomplete.
func (r *Reviewer) Rules(ctx context.Context, scope string) ([]rbacv1.PolicyRule, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.cache[scope]; ok && r.now().Sub(c.at) < r.ttl {
		return c.rules, c.incomplete, nil
	}
	ns := scope
	if scope == permissions.ClusterScope {
		ns = ClusterScopeNamespace
	}
	r.requests.Add(1)
	res, err := r.client.SelfSubjectRulesReviews().Create(ctx, &authorizationv1.SelfSubjectRulesReview{
		Spec: authorizationv1.SelfSubjectRulesReviewSpec{Namespace: ns}}, metav1.CreateOptions{})
	if err != nil {
		return nil, false, fmt.Errorf("review the operator's rules in %s: %w", scopeName(scope), err)
	}
	rules := make([]rbacv1.PolicyRule, 0, len(res.Status.ResourceRules)+len(res.Status.NonResourceRules))
	for _, rr := range res.Status.ResourceRules {
		rules = append(rules, rbacv1.PolicyRule{Verbs: rr.Verbs, APIGroups: rr.APIGroups, Resources: rr.Resources, ResourceNames: rr.ResourceNames})
	}
	for _, nr := range res.Status.NonResourceRules {
		rules = append(rules, rbacv1.PolicyRule{Verbs: nr.Verbs, NonResourceURLs: nr.NonResourceURLs})
	}
	r.cache[scope] = review{rules: rules, incomplete: res.Status.Incomplete, at: r.now()}
	return rules, res.Status.Incomplete, nil
}

// Missing evaluates requirements against the rules the operator holds (see permissions.Evaluate), confirming
// with access reviews the atoms an incomplete rules review did not list.
func (r *Reviewer) Missing(ctx context.Context, reqs []permissions.Requirement) ([]permissions.Missing, error) {
	held := map[string][]rbacv1.PolicyRule{}
	incomplete := map[string]bool{}
	for _, req := range reqs {
		if _, ok := held[req.Scope]; ok {
			continue
		}
		rules, inc, err := r.Rules(ctx, req.Scope)
		if err != nil {
			return nil, err
		}
		held[req.Scope], incomplete[req.Scope] = rules, inc
	}
	missing := permissions.Evaluate(reqs, func(scope string) []rbacv1.PolicyRule { return held[scope] })
	budget := maxAccessReviews
	var out []permissions.Missing
	for _, m := range missing {
		if !incomplete[m.Scope] || m.Problem != "" {
			out = append(out, m)
			continue
		}
		var still []permissions.Atom
		for _, a := range m.Atoms {
			if budget <= 0 {
				still = append(still, a)
				continue
			}
			budget--
			ok, err := r.Allowed(ctx, m.Scope, a)
			if err != nil {
				return nil, err
			}
			if !ok {
				still = append(still, a)
			}
		}
		if len(still) > 0 {
			m.Atoms = still
			out = append(out, m)
		}
	}
	return out, nil
}

// Allowed asks the API server (SelfSubjectAccessReview) whether the operator may perform one atom in scope.
func (r *Reviewer) Allowed(ctx context.Context, scope string, a permissions.Atom) (bool, error) {
	spec := authorizationv1.SelfSubjectAccessReviewSpec{}
	if a.URL != "" {
		spec.NonResourceAttributes = &authorizationv1.NonResourceAttributes{Path: a.URL, Verb: a.Verb}
	} else {
		res, sub, _ := strings.Cut(a.Resource, "/")
		spec.ResourceAttributes = &authorizationv1.ResourceAttributes{Namespace: scope, Verb: a.Verb, Group: a.Group, Resource: res,
			Subresource: sub, Name: a.Name}
	}
	r.requests.Add(1)
	res, err := r.client.SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{Spec: spec}, metav1.CreateOptions{})
	if err != nil {
		return false, fmt.Errorf("review %s in %s: %w", a, scopeName(scope), err)
	}
	return res.Status.Allowed, nil
}

func scopeName(scope string) string {
	if scope == permissions.ClusterScope {
		return "cluster scope"
	}
	return "namespace " + scope
}
