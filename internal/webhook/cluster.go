package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/charts"
	"github.com/castware-operator/castware-operator/internal/clusterspec"
)

// ClusterDefaulter sets the documented Cluster defaults (see DefaultCluster).
type ClusterDefaulter struct{}

// Default implements admission.Defaulter.
func (ClusterDefaulter) Default(ctx context.Context, cl *castwarev1.Cluster) error {
	DefaultCluster(cl, oldObject[castwarev1.Cluster](ctx))
	return nil
}

// oldObject decodes the object an UPDATE replaces, or returns nil (defaulters only get the new object).
func oldObject[T any](ctx context.Context) *T {
	req, err := admission.RequestFromContext(ctx)
	if err != nil || req.Operation != admissionv1.Update || len(req.OldObject.Raw) == 0 {
		return nil
	}
	old := new(T)
	if err := json.Unmarshal(req.OldObject.Raw, old); err != nil {
		return nil
	}
	return old
}

// DefaultCluster derives spec.api.grpcUrl and spec.api.kvisorGrpcUrl from spec.api.apiUrl when they are empty,
// as the documented operator does: https://api.cast.ai gives grpc.cast.ai and kvisor.cast.ai (host only, the
// first label replaced). When an update changes apiUrl, a gRPC URL still holding what the old apiUrl derived
// follows the new one. Hosts that are IP addresses or a single label derive nothing. old is nil on create.
func DefaultCluster(cl, old *castwarev1.Cluster) {
	api := &cl.Spec.API
	if old != nil && old.Spec.API.APIURL != api.APIURL {
		oldGRPC, oldKvisor := derivedGRPCURLs(old.Spec.API.APIURL)
		if oldGRPC != "" && api.GrpcURL == oldGRPC {
			api.GrpcURL = ""
		}
		if oldKvisor != "" && api.KvisorGrpcURL == oldKvisor {
			api.KvisorGrpcURL = ""
		}
	}
	grpc, kvisor := derivedGRPCURLs(api.APIURL)
	if api.GrpcURL == "" {
		api.GrpcURL = grpc
	}
	if api.KvisorGrpcURL == "" {
		api.KvisorGrpcURL = kvisor
	}
}

// derivedGRPCURLs is clusterspec.DerivedGRPCURLs for DNS names only: an IP address or "localhost" (a local
// or fake API) has no sibling gRPC host to derive.
func derivedGRPCURLs(apiURL string) (grpc, kvisor string) {
	u, err := url.Parse(apiURL)
	if err != nil {
		return "", ""
	}
	if h := u.Hostname(); net.ParseIP(h) != nil || !strings.Contains(h, ".") {
		return "", ""
	}
	return clusterspec.DerivedGRPCURLs(apiURL)
}

// ClusterValidator validates Clusters (see ValidateCluster).
type ClusterValidator struct{}

// ValidateCreate implements admission.Validator.
func (ClusterValidator) ValidateCreate(_ context.Context, cl *castwarev1.Cluster) (admission.Warnings, error) {
	return ValidateCluster(nil, cl)
}

// ValidateUpdate implements admission.Validator.
func (ClusterValidator) ValidateUpdate(_ context.Context, old, cl *castwarev1.Cluster) (admission.Warnings, error) {
	return ValidateCluster(old, cl)
}

// ValidateDelete implements admission.Validator: deletes are never blocked (and never sent).
func (ClusterValidator) ValidateDelete(context.Context, *castwarev1.Cluster) (admission.Warnings, error) {
	return nil, nil
}

// ValidateCluster checks a Cluster being created (old is nil) or updated. On create the spec must be usable:
// a provider, an absolute http(s) API URL with a host and no credentials, an API-key Secret and a chart
// repository the loader can read. On update only changed fields are checked, and provider,
// spec.cluster.{clusterID,clusterName,location,projectID} are immutable once set; a spec.cluster holding
// any of them cannot be removed. An update that leaves the spec alone is always allowed. It is a pure function.
func ValidateCluster(old, cl *castwarev1.Cluster) (admission.Warnings, error) {
	var problems []string
	var warnings admission.Warnings
	spec := &cl.Spec
	if old == nil {
		if err := clusterspec.Validate(spec); err != nil {
			problems = append(problems, err.Error())
		}
		problems = appendIf(problems, validateRepo(spec.HelmRepoURL))
		problems = appendIf(problems, clusterspec.Transport(cl))
		return result(problems, append(warnings, clusterWarnings(nil, cl)...))
	}
	if !cl.DeletionTimestamp.IsZero() {
		return nil, nil
	}
	if old.Spec.API.APIURL != spec.API.APIURL || old.Spec.HelmRepoURL != spec.HelmRepoURL ||
		clusterspec.AllowsPlainHTTP(old) != clusterspec.AllowsPlainHTTP(cl) {
		problems = appendIf(problems, clusterspec.Transport(cl))
	}
	if equality.Semantic.DeepEqual(old.Spec, cl.Spec) {
		return result(problems, clusterWarnings(old, cl))
	}
	if old.Spec.Provider != "" && spec.Provider != old.Spec.Provider {
		problems = append(problems, fmt.Sprintf("spec.provider is immutable: it is %q and cannot become %q", old.Spec.Provider, spec.Provider))
	}
	if before := old.Spec.Cluster; before != nil {
		after := spec.Cluster
		if after == nil {
			after = &castwarev1.ClusterMetadataSpec{}
			if *before != (castwarev1.ClusterMetadataSpec{}) {
				problems = append(problems, "spec.cluster cannot be removed once set: it identifies the cluster at Cast AI")
			}
		}
		for _, f := range []struct{ name, was, now string }{
			{"clusterID", before.ClusterID, after.ClusterID},
			{"clusterName", before.ClusterName, after.ClusterName},
			{"location", before.Location, after.Location},
			{"projectID", before.ProjectID, after.ProjectID},
		} {
			if f.was != "" && f.now != f.was && spec.Cluster != nil {
				problems = append(problems, fmt.Sprintf("spec.cluster.%s is immutable once set: it is %q and cannot become %q", f.name, f.was, f.now))
			}
		}
	}
	if spec.API.APIURL != old.Spec.API.APIURL {
		err := clusterspec.ValidateAPIURL(spec.API.APIURL)
		if err == nil {
			registered := old.DeepCopy() // registered as the stored object says, pointed where the new spec says
			registered.Spec.API.APIURL = spec.API.APIURL
			err = clusterspec.RegisteredAPIURL(registered)
		}
		problems = appendIf(problems, err)
	}
	if spec.APIKeySecret != old.Spec.APIKeySecret && spec.APIKeySecret == "" {
		problems = append(problems, "spec.apiKeySecret is required")
	}
	if spec.HelmRepoURL != old.Spec.HelmRepoURL {
		problems = appendIf(problems, validateRepo(spec.HelmRepoURL))
	}
	return result(problems, clusterWarnings(old, cl))
}

// validateRepo checks spec.helmRepoURL ("" means the default repository).
func validateRepo(raw string) error {
	if raw == "" {
		return nil
	}
	if err := charts.ValidateRepository(raw); err != nil {
		return fmt.Errorf("spec.helmRepoURL: %w", err)
	}
	return nil
}

// clusterWarnings flags settings that work but leak: the API key sent over plain HTTP to a host that is not
// local, and credentials written into the chart repository URL.
func clusterWarnings(old, cl *castwarev1.Cluster) admission.Warnings {
	var w admission.Warnings
	if msg := clusterspec.InsecureMessage(cl); msg != "" && (old == nil || clusterspec.InsecureMessage(old) != msg) {
		w = append(w, msg)
	}
	if old == nil || old.Spec.HelmRepoURL != cl.Spec.HelmRepoURL {
		if u, err := url.Parse(cl.Spec.HelmRepoURL); err == nil && u.User != nil {
			w = append(w, "spec.helmRepoURL contains credentials: anyone who can read Clusters can read them")
		}
	}
	return w
}

func appendIf(problems []string, err error) []string {
	if err != nil {
		return append(problems, err.Error())
	}
	return problems
}
