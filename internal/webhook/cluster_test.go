package webhook

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
)

const clusterID = "3f1c9a52-7d4e-4b8a-9c2d-1e5f6a7b8c9d"

func validCluster() *castwarev1.Cluster {
	return &castwarev1.Cluster{
		ObjectMeta: metav1.ObjectMeta{Name: "castai", Namespace: "castai-agent"},
		Spec: castwarev1.ClusterSpec{Provider: "eks", APIKeySecret: "castware-api-key", API: castwarev1.APISpec{APIURL: "https://api.cast.ai"},
			HelmRepoURL: castwarev1.DefaultHelmRepoURL},
	}
}

func withCluster(cl *castwarev1.Cluster, m castwarev1.ClusterMetadataSpec) *castwarev1.Cluster {
	cl.Spec.Cluster = &m
	return cl
}

func TestValidateClusterCreate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*castwarev1.Cluster)
		deny    []string // substrings of the denial; nil: allowed
		warning string
	}{
		{name: "valid"},
		{name: "local fake API over http", mutate: func(c *castwarev1.Cluster) { c.Spec.API.APIURL = "http://127.0.0.1:8080" }},
		{name: "local chart directory", mutate: func(c *castwarev1.Cluster) { c.Spec.HelmRepoURL = "/charts" }},
		{name: "oci registry", mutate: func(c *castwarev1.Cluster) { c.Spec.HelmRepoURL = "oci://registry.example.com/castai" }},
		{name: "default repository", mutate: func(c *castwarev1.Cluster) { c.Spec.HelmRepoURL = "" }},
		{name: "missing provider", mutate: func(c *castwarev1.Cluster) { c.Spec.Provider = "" }, deny: []string{"spec.provider is required"}},
		{name: "missing API URL", mutate: func(c *castwarev1.Cluster) { c.Spec.API.APIURL = "" }, deny: []string{"spec.api.apiUrl is required"}},
		{name: "API URL without scheme", mutate: func(c *castwarev1.Cluster) { c.Spec.API.APIURL = "api.cast.ai" }, deny: []string{"must start with https://"}},
		{name: "API URL with another scheme", mutate: func(c *castwarev1.Cluster) { c.Spec.API.APIURL = "ftp://api.cast.ai" }, deny: []string{"must start with https://"}},
		{name: "API URL without host", mutate: func(c *castwarev1.Cluster) { c.Spec.API.APIURL = "https:///v1" }, deny: []string{"has no host"}},
		{name: "API URL with credentials", mutate: func(c *castwarev1.Cluster) { c.Spec.API.APIURL = "https://user:pw@api.cast.ai" }, deny: []string{"must not contain credentials"}},
		{name: "missing API-key Secret", mutate: func(c *castwarev1.Cluster) { c.Spec.APIKeySecret = "" }, deny: []string{"spec.apiKeySecret is required"}},
		{name: "unsupported repository scheme", mutate: func(c *castwarev1.Cluster) { c.Spec.HelmRepoURL = "ftp://charts.example.com" },
			deny: []string{"spec.helmRepoURL", `unsupported repository scheme "ftp"`}},
		{name: "relative repository path", mutate: func(c *castwarev1.Cluster) { c.Spec.HelmRepoURL = "charts/here" },
			deny: []string{"spec.helmRepoURL"}},
		{name: "repository without host", mutate: func(c *castwarev1.Cluster) { c.Spec.HelmRepoURL = "https://" }, deny: []string{"spec.helmRepoURL", "no host"}},
		{name: "two problems at once", mutate: func(c *castwarev1.Cluster) { c.Spec.Provider = ""; c.Spec.HelmRepoURL = "ftp://x" },
			deny: []string{"spec.provider is required", "spec.helmRepoURL"}},
		{name: "plain http to a remote API is refused", mutate: func(c *castwarev1.Cluster) { c.Spec.API.APIURL = "http://api.example.com" },
			deny: []string{"spec.api.apiUrl http://api.example.com", "plain http", castwarev1.AnnotationAllowPlainHTTP}},
		{name: "plain http to a remote chart repository is refused", mutate: func(c *castwarev1.Cluster) { c.Spec.HelmRepoURL = "http://charts.example.com" },
			deny: []string{"spec.helmRepoURL http://charts.example.com", castwarev1.AnnotationAllowPlainHTTP}},
		{name: "plain http opted in warns", mutate: func(c *castwarev1.Cluster) {
			c.Spec.API.APIURL = "http://api.example.com"
			c.Annotations = map[string]string{castwarev1.AnnotationAllowPlainHTTP: "true"}
		}, warning: "travel unencrypted"},
		{name: "plain http to loopback is fine", mutate: func(c *castwarev1.Cluster) {
			c.Spec.API.APIURL, c.Spec.HelmRepoURL = "http://127.0.0.1:8080", "http://localhost:8081"
		}},
		{name: "credentials in the repository URL warn", mutate: func(c *castwarev1.Cluster) { c.Spec.HelmRepoURL = "https://u:p@charts.example.com" },
			warning: "contains credentials"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl := validCluster()
			if tt.mutate != nil {
				tt.mutate(cl)
			}
			warnings, err := ValidateCluster(nil, cl)
			checkResult(t, warnings, err, tt.deny, tt.warning)
		})
	}
}

func TestValidateClusterUpdate(t *testing.T) {
	tests := []struct {
		name        string
		mutate      func(*castwarev1.Cluster)
		deny        []string
		warning     string
		oldModifier func(*castwarev1.Cluster)
	}{
		{name: "no spec change", mutate: func(c *castwarev1.Cluster) { c.Labels = map[string]string{"a": "b"} }},
		{name: "finalizer removed from an invalid Cluster", oldModifier: func(c *castwarev1.Cluster) { c.Spec.Provider = ""; c.Finalizers = []string{"x"} },
			mutate: func(c *castwarev1.Cluster) { c.Spec.Provider = ""; c.Finalizers = nil }},
		{name: "provider changes", mutate: func(c *castwarev1.Cluster) { c.Spec.Provider = "gke" }, deny: []string{"spec.provider is immutable", `"eks"`, `"gke"`}},
		{name: "provider removed", mutate: func(c *castwarev1.Cluster) { c.Spec.Provider = "" }, deny: []string{"spec.provider is immutable"}},
		{name: "provider set on a Cluster created without one", oldModifier: func(c *castwarev1.Cluster) { c.Spec.Provider = "" },
			mutate: func(c *castwarev1.Cluster) { c.Spec.Provider = "aks" }},
		{name: "apiUrl pointed elsewhere after registration", oldModifier: func(c *castwarev1.Cluster) { withCluster(c, castwarev1.ClusterMetadataSpec{ClusterID: clusterID}) },
			mutate: func(c *castwarev1.Cluster) { c.Spec.API.APIURL = "https://collector.evil.example" }, deny: []string{"spec.api.apiUrl", "register again"}},
		{name: "apiUrl moved to another Cast AI host after registration", oldModifier: func(c *castwarev1.Cluster) { withCluster(c, castwarev1.ClusterMetadataSpec{ClusterID: clusterID}) },
			mutate: func(c *castwarev1.Cluster) { c.Spec.API.APIURL = "https://api.eu.cast.ai" }},
		{name: "apiUrl changed before registration", mutate: func(c *castwarev1.Cluster) { c.Spec.API.APIURL = "https://api.other.example" }},
		{name: "clusterID set by registration", mutate: func(c *castwarev1.Cluster) { withCluster(c, castwarev1.ClusterMetadataSpec{ClusterID: clusterID}) }},
		{name: "clusterID changes", oldModifier: func(c *castwarev1.Cluster) { withCluster(c, castwarev1.ClusterMetadataSpec{ClusterID: clusterID}) },
			mutate: func(c *castwarev1.Cluster) {
				withCluster(c, castwarev1.ClusterMetadataSpec{ClusterID: "11111111-2222-4333-8444-555555555555"})
			}, deny: []string{"spec.cluster.clusterID is immutable once set"}},
		{name: "clusterID cleared", oldModifier: func(c *castwarev1.Cluster) { withCluster(c, castwarev1.ClusterMetadataSpec{ClusterID: clusterID}) },
			mutate: func(c *castwarev1.Cluster) { withCluster(c, castwarev1.ClusterMetadataSpec{}) }, deny: []string{"spec.cluster.clusterID is immutable"}},
		{name: "name, location and project change", oldModifier: func(c *castwarev1.Cluster) {
			withCluster(c, castwarev1.ClusterMetadataSpec{ClusterName: "a", Location: "eu", ProjectID: "p"})
		}, mutate: func(c *castwarev1.Cluster) {
			withCluster(c, castwarev1.ClusterMetadataSpec{ClusterName: "b", Location: "us", ProjectID: "q"})
		}, deny: []string{"spec.cluster.clusterName is immutable", "spec.cluster.location is immutable", "spec.cluster.projectID is immutable"}},
		{name: "name added next to an existing ID", oldModifier: func(c *castwarev1.Cluster) { withCluster(c, castwarev1.ClusterMetadataSpec{ClusterID: clusterID}) },
			mutate: func(c *castwarev1.Cluster) {
				withCluster(c, castwarev1.ClusterMetadataSpec{ClusterID: clusterID, ClusterName: "prod"})
			}},
		{name: "spec.cluster removed", oldModifier: func(c *castwarev1.Cluster) { withCluster(c, castwarev1.ClusterMetadataSpec{ClusterID: clusterID}) },
			mutate: func(c *castwarev1.Cluster) { c.Spec.Cluster = nil }, deny: []string{"spec.cluster cannot be removed"}},
		{name: "empty spec.cluster removed", oldModifier: func(c *castwarev1.Cluster) { withCluster(c, castwarev1.ClusterMetadataSpec{}) },
			mutate: func(c *castwarev1.Cluster) { c.Spec.Cluster = nil; c.Spec.MigrationMode = castwarev1.MigrationModeRead }},
		{name: "API URL moves to the EU", mutate: func(c *castwarev1.Cluster) { c.Spec.API.APIURL = "https://api.eu.cast.ai" }},
		{name: "API URL broken", mutate: func(c *castwarev1.Cluster) { c.Spec.API.APIURL = "api.eu.cast.ai" }, deny: []string{"spec.api.apiUrl", "https://"}},
		{name: "API URL to plain http is refused", mutate: func(c *castwarev1.Cluster) { c.Spec.API.APIURL = "http://api.example.com" },
			deny: []string{"plain http", castwarev1.AnnotationAllowPlainHTTP}},
		{name: "API URL to plain http, opted in, warns", mutate: func(c *castwarev1.Cluster) {
			c.Spec.API.APIURL = "http://api.example.com"
			c.Annotations = map[string]string{castwarev1.AnnotationAllowPlainHTTP: "true"}
		}, warning: "unencrypted"},
		{name: "opt-in removed while plain http is used", oldModifier: func(c *castwarev1.Cluster) {
			c.Spec.HelmRepoURL = "http://charts.example.com"
			c.Annotations = map[string]string{castwarev1.AnnotationAllowPlainHTTP: "true"}
		}, mutate: func(c *castwarev1.Cluster) { c.Spec.HelmRepoURL = "http://charts.example.com"; c.Annotations = nil },
			deny: []string{"spec.helmRepoURL http://charts.example.com"}},
		{name: "unchanged invalid API URL does not block other edits (ratchet)", oldModifier: func(c *castwarev1.Cluster) { c.Spec.API.APIURL = "api.cast.ai" },
			mutate: func(c *castwarev1.Cluster) {
				c.Spec.API.APIURL = "api.cast.ai"
				c.Spec.MigrationMode = castwarev1.MigrationModeRead
			}},
		{name: "repository changes to a bad URL", mutate: func(c *castwarev1.Cluster) { c.Spec.HelmRepoURL = "gopher://x" }, deny: []string{"spec.helmRepoURL"}},
		{name: "API-key Secret renamed", mutate: func(c *castwarev1.Cluster) { c.Spec.APIKeySecret = "other-key" }},
		{name: "Cluster being deleted", mutate: func(c *castwarev1.Cluster) {
			now := metav1.Now()
			c.DeletionTimestamp = &now
			c.Spec.Provider = "gke"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := validCluster()
			if tt.oldModifier != nil {
				tt.oldModifier(old)
			}
			cl := old.DeepCopy()
			if tt.mutate != nil {
				tt.mutate(cl)
			}
			warnings, err := ValidateCluster(old, cl)
			checkResult(t, warnings, err, tt.deny, tt.warning)
		})
	}
}

func checkResult(t *testing.T, warnings []string, err error, deny []string, warning string) {
	t.Helper()
	if deny == nil && err != nil {
		t.Fatalf("denied: %v", err)
	}
	if deny != nil {
		if err == nil {
			t.Fatalf("allowed, want a denial mentioning %q", deny)
		}
		for _, d := range deny {
			if !strings.Contains(err.Error(), d) {
				t.Errorf("denial %q does not mention %q", err, d)
			}
		}
	}
	joined := strings.Join(warnings, "\n")
	if warning == "" && len(warnings) > 0 {
		t.Errorf("unexpected warnings: %s", joined)
	}
	if warning != "" && !strings.Contains(joined, warning) {
		t.Errorf("warnings %q do not mention %q", joined, warning)
	}
}

func TestDefaultCluster(t *testing.T) {
	tests := []struct {
		name                 string
		apiURL, grpc, kvisor string
		oldAPIURL            string // set: an update from this URL
		wantGRPC, wantKvisor string
	}{
		{name: "derived from api.cast.ai", apiURL: "https://api.cast.ai", wantGRPC: "grpc.cast.ai", wantKvisor: "kvisor.cast.ai"},
		{name: "derived from the EU API", apiURL: "https://api.eu.cast.ai/", wantGRPC: "grpc.eu.cast.ai", wantKvisor: "kvisor.eu.cast.ai"},
		{name: "port and path dropped", apiURL: "https://api.dev.example.com:8443/v1", wantGRPC: "grpc.dev.example.com", wantKvisor: "kvisor.dev.example.com"},
		{name: "explicit values kept", apiURL: "https://api.cast.ai", grpc: "grpc.custom:443", kvisor: "kv.custom:443", wantGRPC: "grpc.custom:443", wantKvisor: "kv.custom:443"},
		{name: "IP address derives nothing", apiURL: "http://127.0.0.1:8080"},
		{name: "single-label host derives nothing", apiURL: "http://localhost:8080"},
		{name: "unparseable URL derives nothing", apiURL: "://"},
		{name: "update: derived values follow a new API URL", apiURL: "https://api.eu.cast.ai", grpc: "grpc.cast.ai", kvisor: "kvisor.cast.ai",
			oldAPIURL: "https://api.cast.ai", wantGRPC: "grpc.eu.cast.ai", wantKvisor: "kvisor.eu.cast.ai"},
		{name: "update: explicit values stay when the API URL changes", apiURL: "https://api.eu.cast.ai", grpc: "grpc.custom", kvisor: "kvisor.custom",
			oldAPIURL: "https://api.cast.ai", wantGRPC: "grpc.custom", wantKvisor: "kvisor.custom"},
		{name: "update: same API URL keeps everything", apiURL: "https://api.cast.ai", grpc: "grpc.cast.ai", kvisor: "kvisor.cast.ai",
			oldAPIURL: "https://api.cast.ai", wantGRPC: "grpc.cast.ai", wantKvisor: "kvisor.cast.ai"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl := validCluster()
			cl.Spec.API = castwarev1.APISpec{APIURL: tt.apiURL, GrpcURL: tt.grpc, KvisorGrpcURL: tt.kvisor}
			var old *castwarev1.Cluster
			if tt.oldAPIURL != "" {
				old = validCluster()
				old.Spec.API.APIURL = tt.oldAPIURL
			}
			DefaultCluster(cl, old)
			if cl.Spec.API.GrpcURL != tt.wantGRPC || cl.Spec.API.KvisorGrpcURL != tt.wantKvisor {
				t.Errorf("grpcUrl=%q kvisorGrpcUrl=%q, want %q %q", cl.Spec.API.GrpcURL, cl.Spec.API.KvisorGrpcURL, tt.wantGRPC, tt.wantKvisor)
			}
			if cl.Spec.API.APIGrpcURL != "" {
				t.Error("apiGrpcUrl must never be defaulted")
			}
		})
	}
}
