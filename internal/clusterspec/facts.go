package clusterspec

import (
	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/catalog"
)

// Facts builds the catalog facts a Cluster provides (its API key is read separately, by ReadAPIKey).
func Facts(cl *castwarev1.Cluster) catalog.ClusterFacts {
	grpc, kvisor := DerivedGRPCURLs(cl.Spec.API.APIURL)
	if cl.Spec.API.GrpcURL != "" {
		grpc = cl.Spec.API.GrpcURL
	}
	if cl.Spec.API.KvisorGrpcURL != "" {
		kvisor = cl.Spec.API.KvisorGrpcURL
	}
	return catalog.ClusterFacts{
		APIURL:              cl.Spec.API.APIURL,
		GRPCURL:             grpc,
		KvisorGRPCURL:       kvisor,
		Provider:            cl.Spec.Provider,
		ProviderCloud:       catalog.ProviderCloud(cl.Spec.Provider),
		ClusterID:           cl.ClusterID(),
		APIKeySecret:        cl.Spec.APIKeySecret,
		Namespace:           cl.Namespace,
		ExtendedPermissions: cl.Status.ExtendedPermissions,
	}
}
