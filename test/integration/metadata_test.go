package integration

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/castai/fake"
	"github.com/castware-operator/castware-operator/internal/castai/metadata"
	"github.com/castware-operator/castware-operator/internal/castai/metadata/metadatatest"
	"github.com/castware-operator/castware-operator/internal/operator"
)

// Every cloud endpoint in these tests is a loopback httptest server: the AWS fakes of metadatatest
// (IMDSv2 and the EC2 Query API), and GCE / Azure metadata fakes answering with the real shapes.

// awsFakes starts the IMDSv2 and EC2 fakes and isolates the AWS SDK, which reads the process
// environment whatever the operator's Env says: no credentials, profiles, regions or endpoints of
// this machine, and its endpoint variables on the fakes too. It returns the operator option that
// points discovery at the fakes and gives no EKS_* variable.
func awsFakes(t *testing.T, imds *metadatatest.IMDS, ec2 *metadatatest.EC2) opt {
	t.Helper()
	is, es := httptest.NewServer(imds), httptest.NewServer(ec2)
	t.Cleanup(is.Close)
	t.Cleanup(es.Close)
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
		"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
		"AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
		metadata.EnvAWSIMDSDisabled,
		// The fakes are plain HTTP; a machine's CA bundle is irrelevant and must not fail the SDK's configuration.
		"AWS_CA_BUNDLE"} {
		t.Setenv(k, "")
	}
	dir := t.TempDir()
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "no-credentials"))
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "no-config"))
	t.Setenv(metadata.EnvAWSIMDSEndpoint, is.URL)
	t.Setenv(metadata.EnvAWSEC2Endpoint, es.URL)
	return func(o *operator.Options) {
		o.Env = func(string) string { return "" }
		o.CastAI.Metadata = []metadata.Option{metadata.WithAWSBaseURL(is.URL), metadata.WithEC2Endpoint(es.URL),
			metadata.WithTimeout(2 * time.Second), metadata.WithAPITimeout(5 * time.Second)}
	}
}

// metadataCluster makes the Cluster of provider carry no metadata, so the operator must discover it.
func metadataCluster(provider string) func(*castwarev1.Cluster) {
	return func(c *castwarev1.Cluster) { c.Spec.Provider = provider; c.Spec.Cluster = nil }
}

// waitRegistered waits until the fake API has the Cluster's registration and check accepts its request.
func waitRegistered(t *testing.T, ns string, api *fake.Server, check func(r fake.RegisteredCluster) bool) {
	t.Helper()
	eventually(t, 30*time.Second, "registered from discovered metadata", func() error {
		id := getCluster(t, ns).ClusterID()
		reg, ok := api.Cluster(id)
		if !ok {
			return errf("not registered (id %q); condition %+v", id, clusterCondition(getCluster(t, ns), castwarev1.ConditionAvailable))
		}
		if b, _ := json.Marshal(reg.Request); !check(reg) {
			return errf("registration body %s", b)
		}
		return nil
	})
}

// waitMissing waits until the Cluster says metadata is unavailable and asks for exactly want, in
// order, as operator env variables and chart additionalEnv keys; then checks nothing was registered.
func waitMissing(t *testing.T, ns string, api *fake.Server, want []string, cause ...string) {
	t.Helper()
	var hint strings.Builder
	hint.WriteString("; set " + strings.Join(want, ", ") + " on the operator (helm:")
	for _, v := range want {
		hint.WriteString(" --set additionalEnv." + v + "=…")
	}
	hint.WriteString(")")
	eventually(t, 30*time.Second, "condition names exactly "+strings.Join(want, ", "), func() error {
		c := clusterCondition(getCluster(t, ns), castwarev1.ConditionAvailable)
		if c.Status != metav1.ConditionFalse || c.Reason != "MetadataUnavailable" {
			return errf("%+v", c)
		}
		if !strings.HasSuffix(c.Message, hint.String()) {
			return errf("message %q does not end with %q", c.Message, hint.String())
		}
		for _, s := range cause {
			if !strings.Contains(c.Message, s) {
				return errf("message %q lacks the cause %q", c.Message, s)
			}
		}
		return nil
	})
	for _, c := range api.Calls() {
		if c.Method == http.MethodPost && strings.HasSuffix(c.Path, "/v1/kubernetes/external-clusters") {
			t.Fatalf("registered although metadata is missing: %+v", c)
		}
	}
	if id := getCluster(t, ns).ClusterID(); id != "" {
		t.Fatalf("cluster ID %q written although nothing was registered", id)
	}
}

// TestMetadataEKSNameFromDescribeInstances: an EKS node whose IMDS exposes no instance tags (the EC2
// default) and no EKS_* variable: account and region come from the IMDSv2 identity document, the
// cluster name from ec2:DescribeInstances signed with the node role's IMDS credentials, and Cast AI
// receives all three.
func TestMetadataEKSNameFromDescribeInstances(t *testing.T) {
	imds := &metadatatest.IMDS{IdentityDocument: metadatatest.IdentityDocument, Role: metadatatest.RoleName}
	ec2 := &metadatatest.EC2{Tags: map[string]string{"Name": "node", "eks:cluster-name": "prod-eks", "eks:nodegroup-name": "ng-1"},
		KeyID: metadatatest.RoleAccessKeyID, Token: metadatatest.RoleSessionToken}
	ns := newNamespace(t)
	startOperator(t, ns, awsFakes(t, imds, ec2))
	createCluster(t, ns, metadataCluster("eks"))
	api := fakeAPI(t, ns)
	waitRegistered(t, ns, api, func(r fake.RegisteredCluster) bool {
		e := r.Request.EKS
		return e != nil && r.Request.Name == "prod-eks" && e.ClusterName == "prod-eks" &&
			e.AccountID == metadatatest.AccountID && e.Region == metadatatest.Region
	})
	calls := ec2.Calls()
	if len(calls) == 0 || calls[0] != metadatatest.Region {
		t.Fatalf("DescribeInstances calls (signing regions) = %v, want them in %s", calls, metadatatest.Region)
	}
	if reqs := imds.Requests(); len(reqs) == 0 || reqs[0] != "PUT /latest/api/token" {
		t.Fatalf("IMDS requests %v: the first must be the IMDSv2 token", reqs)
	}
	for _, r := range imds.Requests() {
		if strings.Contains(r, "/tags/instance") {
			t.Fatalf("IMDS tags read although DescribeInstances answered: %v", imds.Requests())
		}
	}
}

// TestMetadataEKSCredentialsRefused: DescribeInstances refuses the credentials (wrong env keys: 401
// AuthFailure; a node role without the permission: 403 UnauthorizedOperation) or there are none, and
// IMDS has no tags: the Cluster names exactly EKS_CLUSTER_NAME and nothing is registered.
func TestMetadataEKSCredentialsRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		creds  string // "env": wrong keys in AWS_*; "role": the node role from IMDS; "": none
		refuse int
		code   string
		cause  []string
	}{
		{name: "wrong env credentials", creds: "env", refuse: http.StatusUnauthorized, code: "AuthFailure",
			cause: []string{"AWS rejected the credentials (AuthFailure)", "InstanceMetadataTags"}},
		{name: "node role lacks DescribeInstances", creds: "role", refuse: http.StatusForbidden, code: "UnauthorizedOperation",
			cause: []string{"lack ec2:DescribeInstances (UnauthorizedOperation", "InstanceMetadataTags"}},
		{name: "no credentials", cause: []string{"no AWS credentials", "InstanceMetadataTags"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			imds := &metadatatest.IMDS{IdentityDocument: metadatatest.IdentityDocument}
			ec2 := &metadatatest.EC2{Tags: map[string]string{"eks:cluster-name": "prod-eks"}, Refuse: tc.refuse, Code: tc.code}
			withFakes := awsFakes(t, imds, ec2)
			switch tc.creds {
			case "env":
				t.Setenv("AWS_ACCESS_KEY_ID", "AKIAWRONGKEY")
				t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret-access-key")
				ec2.KeyID = "AKIAWRONGKEY"
			case "role":
				imds.Role, ec2.KeyID, ec2.Token = metadatatest.RoleName, metadatatest.RoleAccessKeyID, metadatatest.RoleSessionToken
			}
			ns := newNamespace(t)
			startOperator(t, ns, withFakes)
			createCluster(t, ns, metadataCluster("eks"))
			waitMissing(t, ns, fakeAPI(t, ns), []string{metadata.EnvEKSClusterName}, tc.cause...)
			msg := clusterCondition(getCluster(t, ns), castwarev1.ConditionAvailable).Message
			for _, secret := range []string{"wrong-secret-access-key", metadatatest.RoleSecretAccessKey, metadatatest.RoleSessionToken, metadatatest.IMDSToken} {
				if strings.Contains(msg, secret) {
					t.Fatalf("condition quotes a secret: %q", msg)
				}
			}
		})
	}
}

// gceServer is a loopback GCE metadata server answering answers (path → text) as the real one does:
// Metadata-Flavor: Google required on requests and set on every answer, 404 for unknown paths.
func gceServer(t *testing.T, answers map[string]string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Metadata-Flavor", "Google")
		if r.Header.Get("Metadata-Flavor") != "Google" || r.Header.Get("X-Forwarded-For") != "" {
			http.Error(w, "Missing Metadata-Flavor:Google header.", http.StatusForbidden)
			return
		}
		w.Header().Set("Content-Type", "application/text")
		a, ok := answers[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(a))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// envOf is an operator Env of exactly vars.
func envOf(vars map[string]string) opt {
	return func(o *operator.Options) { o.Env = func(k string) string { return vars[k] } }
}

// TestMetadataGKEMetadataHost: GCE_METADATA_HOST (host:port, as Google's libraries take it) leads
// discovery to the metadata server. A GKE node registers with project, name, location and the region
// of the location; a plain GCE VM (no cluster attributes) names exactly GKE_CLUSTER_NAME and GKE_LOCATION.
func TestMetadataGKEMetadataHost(t *testing.T) {
	vm := map[string]string{
		"/computeMetadata/v1/project/project-id": "my-project",
		"/computeMetadata/v1/instance/zone":      "projects/123456789/zones/europe-west4-b",
	}
	node := map[string]string{
		"/computeMetadata/v1/instance/attributes/cluster-name":     "prod-gke",
		"/computeMetadata/v1/instance/attributes/cluster-location": "europe-west4",
	}
	for k, v := range vm {
		node[k] = v
	}
	t.Run("gke node", func(t *testing.T) {
		u, _ := url.Parse(gceServer(t, node).URL)
		ns := newNamespace(t)
		startOperator(t, ns, envOf(map[string]string{metadata.EnvGCEMetadataHost: u.Host}))
		createCluster(t, ns, metadataCluster("gke"))
		waitRegistered(t, ns, fakeAPI(t, ns), func(r fake.RegisteredCluster) bool {
			g := r.Request.GKE
			return g != nil && r.Request.Name == "prod-gke" && g.ClusterName == "prod-gke" && g.ProjectID == "my-project" &&
				g.Location == "europe-west4" && g.Region == "europe-west4"
		})
	})
	t.Run("plain GCE VM", func(t *testing.T) {
		u, _ := url.Parse(gceServer(t, vm).URL)
		ns := newNamespace(t)
		startOperator(t, ns, envOf(map[string]string{metadata.EnvGCEMetadataHost: u.Host}))
		createCluster(t, ns, metadataCluster("gke"))
		waitMissing(t, ns, fakeAPI(t, ns), []string{metadata.EnvGKEClusterName, metadata.EnvGKELocation}, "HTTP 404")
	})
}

// azureServer is a loopback Azure IMDS answering /metadata/instance as the real one does: Metadata: true
// and an api-version required (400 with Azure's JSON error otherwise); status other than 0 answers
// every valid request with that status and Azure's error document instead.
func azureServer(t *testing.T, status int) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		fail := func(code int, msg string) {
			w.WriteHeader(code)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
		}
		switch {
		case r.Header.Get("Metadata") != "true" || r.Header.Get("X-Forwarded-For") != "":
			fail(http.StatusBadRequest, "Bad request. Required metadata header not specified")
		case r.URL.Query().Get("api-version") == "":
			fail(http.StatusBadRequest, "Bad request. api-version was not specified in the request.")
		case r.URL.Path != "/metadata/instance":
			fail(http.StatusNotFound, "Not found")
		case status != 0:
			fail(status, "Too many requests")
		default:
			_, _ = w.Write([]byte(azureInstanceDocument))
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// azureInstanceDocument is an AKS node's /metadata/instance answer (trimmed of fields discovery ignores).
const azureInstanceDocument = `{"compute":{"azEnvironment":"AzurePublicCloud","location":"westeurope",
"name":"aks-nodepool1-12345678-vmss_0","offer":"","osType":"Linux","resourceGroupName":"MC_prod-rg_prod-aks_westeurope",
"resourceId":"/subscriptions/0b1f6471-1bf0-4dda-aec3-111122223333/resourceGroups/MC_prod-rg_prod-aks_westeurope/providers/Microsoft.Compute/virtualMachineScaleSets/aks-nodepool1-12345678-vmss/virtualMachines/0",
"subscriptionId":"0b1f6471-1bf0-4dda-aec3-111122223333","tagsList":[{"name":"aks-managed-poolName","value":"nodepool1"}],
"vmId":"02aab8a4-74ef-476e-8182-f6d2ba4166a6","vmScaleSetName":"aks-nodepool1-12345678-vmss","vmSize":"Standard_D4s_v3","zone":""},
"network":{"interface":[{"ipv4":{"ipAddress":[{"privateIpAddress":"10.224.0.4","publicIpAddress":""}],"subnet":[{"address":"10.224.0.0","prefix":"16"}]},"ipv6":{"ipAddress":[]},"macAddress":"000D3A2B3C4D"}]}}`

// TestMetadataAKSIMDSEndpoint: AZURE_IMDS_ENDPOINT leads discovery to Azure IMDS. An AKS node registers
// with its location, node resource group and subscription; when IMDS refuses (429) and only AKS_LOCATION
// is set, the Cluster names exactly the two variables still missing.
func TestMetadataAKSIMDSEndpoint(t *testing.T) {
	t.Run("aks node", func(t *testing.T) {
		srv := azureServer(t, 0)
		ns := newNamespace(t)
		startOperator(t, ns, envOf(map[string]string{metadata.EnvAzureIMDSEndpoint: srv.URL}))
		createCluster(t, ns, metadataCluster("aks"))
		waitRegistered(t, ns, fakeAPI(t, ns), func(r fake.RegisteredCluster) bool {
			a := r.Request.AKS
			return a != nil && a.Region == "westeurope" && a.NodeResourceGroup == "MC_prod-rg_prod-aks_westeurope" &&
				a.SubscriptionID == "0b1f6471-1bf0-4dda-aec3-111122223333"
		})
	})
	t.Run("IMDS refuses, location from env", func(t *testing.T) {
		srv := azureServer(t, http.StatusTooManyRequests)
		ns := newNamespace(t)
		startOperator(t, ns, envOf(map[string]string{metadata.EnvAzureIMDSEndpoint: srv.URL, metadata.EnvAKSLocation: "westeurope"}))
		createCluster(t, ns, metadataCluster("aks"))
		waitMissing(t, ns, fakeAPI(t, ns), []string{metadata.EnvAKSNodeResourceGroup, metadata.EnvAKSSubscriptionID}, "HTTP 429")
	})
}
