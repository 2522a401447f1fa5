package clusterspec

import (
	"strings"
	"testing"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
)

func TestValidate(t *testing.T) {
	ok := castwarev1.ClusterSpec{Provider: "eks", APIKeySecret: "k", API: castwarev1.APISpec{APIURL: "https://api.cast.ai"}}
	tests := []struct {
		name   string
		mutate func(*castwarev1.ClusterSpec)
		want   string
	}{
		{"valid", func(*castwarev1.ClusterSpec) {}, ""},
		{"local http API", func(s *castwarev1.ClusterSpec) { s.API.APIURL = "http://127.0.0.1:8080" }, ""},
		{"no provider", func(s *castwarev1.ClusterSpec) { s.Provider = "" }, "spec.provider is required"},
		{"no API URL", func(s *castwarev1.ClusterSpec) { s.API.APIURL = "" }, "spec.api.apiUrl is required"},
		{"relative URL", func(s *castwarev1.ClusterSpec) { s.API.APIURL = "api.cast.ai" }, "must start with https://"},
		{"ftp URL", func(s *castwarev1.ClusterSpec) { s.API.APIURL = "ftp://api.cast.ai" }, "must start with https://"},
		{"no host", func(s *castwarev1.ClusterSpec) { s.API.APIURL = "https://" }, "has no host"},
		{"credentials in URL", func(s *castwarev1.ClusterSpec) { s.API.APIURL = "https://user:pw@api.cast.ai" }, "credentials"},
		{"no secret", func(s *castwarev1.ClusterSpec) { s.APIKeySecret = "" }, "spec.apiKeySecret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ok
			tt.mutate(&s)
			err := Validate(&s)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "pw@") {
				t.Fatal("error repeats credentials")
			}
		})
	}
}

func TestDerivedGRPCURLs(t *testing.T) {
	tests := []struct{ api, grpc, kvisor string }{
		{"https://api.cast.ai", "grpc.cast.ai", "kvisor.cast.ai"},
		{"https://api.eu.cast.ai", "grpc.eu.cast.ai", "kvisor.eu.cast.ai"},
		{"http://localhost:8080", "", ""},
		{"::bad", "", ""},
	}
	for _, tt := range tests {
		g, k := DerivedGRPCURLs(tt.api)
		if g != tt.grpc || k != tt.kvisor {
			t.Errorf("DerivedGRPCURLs(%q) = %q, %q; want %q, %q", tt.api, g, k, tt.grpc, tt.kvisor)
		}
	}
}

func TestFacts(t *testing.T) {
	cl := &castwarev1.Cluster{Spec: castwarev1.ClusterSpec{Provider: "gke", APIKeySecret: "s", API: castwarev1.APISpec{APIURL: "https://api.cast.ai", GrpcURL: "grpc.example:443"},
		Cluster: &castwarev1.ClusterMetadataSpec{ClusterID: "id"}}}
	cl.Namespace = "ns"
	f := Facts(cl)
	if f.GRPCURL != "grpc.example:443" || f.KvisorGRPCURL != "kvisor.cast.ai" || f.ProviderCloud != "gcp" || f.ClusterID != "id" || f.APIKeySecret != "s" || f.Namespace != "ns" {
		t.Fatalf("facts = %+v", f)
	}
}
