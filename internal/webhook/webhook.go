// Package webhook holds the admission webhooks for Clusters and Components: defaulting (mutating) and
// validation. They are pure: no webhook calls the Cast AI API, a chart repository or anything else on the
// network, so an outage of either never blocks an edit. What needs the network (does a version exist, may
// it be upgraded to) is checked by the Component controller and surfaced as conditions.
//
// # Why deletion can never be wedged
//
// The webhook configurations (generated from the markers below into config/webhook) are built so that
// an operator outage, a broken certificate or a slow webhook can only delay spec changes, never a
// deletion, a finalizer removal, a label or annotation edit or a status update:
//
//   - rules cover CREATE and UPDATE of clusters and components only: DELETE is never sent, and status
//     updates go to the status subresource (clusters/status, components/status), which no rule names;
//   - matchConditions (evaluated by the API server, without calling the webhook) skip every UPDATE whose
//     spec is unchanged (metadata-only updates: finalizers, labels, annotations, owner references) and every
//     request for an object that is being deleted. A skipped request does not depend on the webhook at all,
//     so failurePolicy does not apply to it;
//   - the validators allow a spec-unchanged update themselves too, for API servers that predate
//     matchConditions or configurations edited by hand;
//   - validation uses failurePolicy Fail (an invalid spec never slips in while the operator restarts), with
//     a 5 s timeout: the webhooks answer from memory in microseconds, so a timeout means the operator is
//     unhealthy and the request fails fast instead of hanging;
//   - defaulting uses failurePolicy Ignore: every default it sets is also applied by the controller when the
//     field is empty, so a create during an outage still converges.
//
// On updates only what changed is validated ("ratcheting"): an object that became invalid by other means
// (created before the webhooks, or the catalog changed) can still be edited, for example disabled.
package webhook

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/catalog"
)

// The generated configurations: config/webhook/manifests.yaml (`make generate`). Service and configuration
// names there are kustomize placeholders; the operator chart templates them from the release.
//
// +kubebuilder:webhook:path=/mutate-castware-cast-ai-v1alpha1-cluster,mutating=true,failurePolicy=ignore,sideEffects=None,groups=castware.cast.ai,resources=clusters,verbs=create;update,versions=v1alpha1,name=mcluster.castware.cast.ai,admissionReviewVersions=v1,timeoutSeconds=5,matchPolicy=Equivalent,serviceName=webhook-service,serviceNamespace=castai-agent,patch=`{"matchConditions":[{"name":"not-being-deleted","expression":"!has(object.metadata.deletionTimestamp)"},{"name":"spec-changed","expression":"request.operation != 'UPDATE' || !has(object.spec) || !has(oldObject.spec) || object.spec != oldObject.spec"}]}`
// +kubebuilder:webhook:path=/validate-castware-cast-ai-v1alpha1-cluster,mutating=false,failurePolicy=fail,sideEffects=None,groups=castware.cast.ai,resources=clusters,verbs=create;update,versions=v1alpha1,name=vcluster.castware.cast.ai,admissionReviewVersions=v1,timeoutSeconds=5,matchPolicy=Equivalent,serviceName=webhook-service,serviceNamespace=castai-agent,patch=`{"matchConditions":[{"name":"not-being-deleted","expression":"!has(object.metadata.deletionTimestamp)"},{"name":"spec-changed","expression":"request.operation != 'UPDATE' || !has(object.spec) || !has(oldObject.spec) || object.spec != oldObject.spec"}]}`
// +kubebuilder:webhook:path=/mutate-castware-cast-ai-v1alpha1-component,mutating=true,failurePolicy=ignore,sideEffects=None,groups=castware.cast.ai,resources=components,verbs=create;update,versions=v1alpha1,name=mcomponent.castware.cast.ai,admissionReviewVersions=v1,timeoutSeconds=5,matchPolicy=Equivalent,serviceName=webhook-service,serviceNamespace=castai-agent,patch=`{"matchConditions":[{"name":"not-being-deleted","expression":"!has(object.metadata.deletionTimestamp)"},{"name":"spec-changed","expression":"request.operation != 'UPDATE' || !has(object.spec) || !has(oldObject.spec) || object.spec != oldObject.spec"}]}`
// +kubebuilder:webhook:path=/validate-castware-cast-ai-v1alpha1-component,mutating=false,failurePolicy=fail,sideEffects=None,groups=castware.cast.ai,resources=components,verbs=create;update,versions=v1alpha1,name=vcomponent.castware.cast.ai,admissionReviewVersions=v1,timeoutSeconds=5,matchPolicy=Equivalent,serviceName=webhook-service,serviceNamespace=castai-agent,patch=`{"matchConditions":[{"name":"not-being-deleted","expression":"!has(object.metadata.deletionTimestamp)"},{"name":"spec-changed","expression":"request.operation != 'UPDATE' || !has(object.spec) || !has(oldObject.spec) || object.spec != oldObject.spec"}]}`

// Paths the webhooks are served on (controller-runtime's naming, as the documented operator uses).
const (
	// ClusterDefaultingPath serves the Cluster defaulting webhook.
	ClusterDefaultingPath = "/mutate-castware-cast-ai-v1alpha1-cluster"
	// ClusterValidationPath serves the Cluster validating webhook.
	ClusterValidationPath = "/validate-castware-cast-ai-v1alpha1-cluster"
	// ComponentDefaultingPath serves the Component defaulting webhook.
	ComponentDefaultingPath = "/mutate-castware-cast-ai-v1alpha1-component"
	// ComponentValidationPath serves the Component validating webhook.
	ComponentValidationPath = "/validate-castware-cast-ai-v1alpha1-component"
)

// PermissionCheck reports whether the operator holds the Phase 2 (extended) permissions in namespace. It is
// called during admission, so it must answer from memory (a cache, or a value kept current elsewhere) and
// never call the network.
type PermissionCheck func(ctx context.Context, namespace string) bool

// Config is what the webhooks need. Nothing in it may call the network.
type Config struct {
	// Catalog says which components exist, their release names, charts and permission phases (required).
	Catalog *catalog.Catalog
	// ExtendedPermissions answers whether Phase 2 components can be installed; a Phase 2 Component admitted
	// without them gets a warning (nil: no such warning).
	ExtendedPermissions PermissionCheck
	// Clusters reads Clusters from an informer cache, for the warning about a Component whose Cluster does
	// not exist (nil: no such warning).
	Clusters client.Reader
	// Components reads Components from an informer cache, to refuse a release name another Component
	// holds (nil: not checked here; the controller still refuses it).
	Components client.Reader
	// OwnRelease is the operator's own Helm release, which no Component may name ("" when unknown).
	OwnRelease string
}

// Register serves the Cluster and Component defaulting and validating webhooks on srv.
func Register(srv webhook.Server, scheme *runtime.Scheme, cfg Config) {
	srv.Register(ClusterDefaultingPath, admission.WithDefaulter[*castwarev1.Cluster](scheme, ClusterDefaulter{}))
	srv.Register(ClusterValidationPath, admission.WithValidator[*castwarev1.Cluster](scheme, ClusterValidator{}))
	srv.Register(ComponentDefaultingPath, admission.WithDefaulter[*castwarev1.Component](scheme, ComponentDefaulter{Catalog: cfg.Catalog}))
	srv.Register(ComponentValidationPath, admission.WithValidator[*castwarev1.Component](scheme, ComponentValidator(cfg)))
}

// denial is a rejected request: every problem found, each naming its field.
type denial []string

// Error implements error.
func (d denial) Error() string { return strings.Join(d, "; ") }

// withProblem adds a problem to a validator's error (nil problem: err unchanged).
func withProblem(err error, problem string) error {
	if problem == "" {
		return err
	}
	d, _ := err.(denial)
	if err != nil && d == nil {
		return fmt.Errorf("%w; %s", err, problem)
	}
	return append(d, problem)
}

// result turns problems and warnings into a validator's answer.
func result(problems []string, warnings admission.Warnings) (admission.Warnings, error) {
	if len(problems) > 0 {
		return warnings, denial(problems)
	}
	return warnings, nil
}
