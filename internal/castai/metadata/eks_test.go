package metadata

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/castware-operator/castware-operator/internal/castai/metadata/metadatatest"
)

// The AWS fakes are shared with the integration tests (package metadatatest).
const (
	imdsToken    = metadatatest.IMDSToken
	testInstance = metadatatest.InstanceID
	identityDoc  = metadatatest.IdentityDocument

	roleName   = metadatatest.RoleName
	roleKeyID  = metadatatest.RoleAccessKeyID
	roleSecret = metadatatest.RoleSecretAccessKey
	roleToken  = metadatatest.RoleSessionToken
	envKeyID   = "AKIAENVKEY"
	envSecret  = "env-secret-access-key"
)

type (
	fakeIMDS = metadatatest.IMDS
	fakeEC2  = metadatatest.EC2
)

// serveAWS starts the fakes and points the SDK's standard endpoint variables at them.
func serveAWS(t *testing.T, i *fakeIMDS, e *fakeEC2) {
	t.Helper()
	is, es := httptest.NewServer(i), httptest.NewServer(e)
	t.Cleanup(is.Close)
	t.Cleanup(es.Close)
	t.Setenv(EnvAWSIMDSEndpoint, is.URL)
	t.Setenv(EnvAWSEC2Endpoint, es.URL)
	t.Setenv(EnvAWSIMDSDisabled, "false")
}

// useCredentials gives the SDK env credentials ("env"), the node role through IMDS ("role") or
// none, and tells the EC2 fake which ones to expect.
func useCredentials(t *testing.T, kind string, i *fakeIMDS, e *fakeEC2) {
	t.Helper()
	switch kind {
	case "env":
		t.Setenv("AWS_ACCESS_KEY_ID", envKeyID)
		t.Setenv("AWS_SECRET_ACCESS_KEY", envSecret)
		e.KeyID = envKeyID
	case "role":
		i.Role, e.KeyID, e.Token = roleName, roleKeyID, roleToken
	}
}

// eksNameSuffix is how every EKS error that lacks only the cluster name ends.
const eksNameSuffix = "; set EKS_CLUSTER_NAME on the operator (helm: --set additionalEnv.EKS_CLUSTER_NAME=…)"

// noSecrets fails when msg quotes a credential or the IMDS session token.
func noSecrets(t *testing.T, msg string) {
	t.Helper()
	for _, s := range []string{envSecret, roleSecret, roleToken, imdsToken} {
		if strings.Contains(msg, s) {
			t.Fatalf("message quotes a secret (%s): %q", s, msg)
		}
	}
}

func TestEKSClusterName(t *testing.T) {
	owned := map[string]string{"Name": "node", "kubernetes.io/cluster/prod": "owned"}
	eksTags := map[string]string{"eks:cluster-name": "prod", "eks:nodegroup-name": "ng-1"}
	tests := []struct {
		name       string
		creds      string            // env, role or none
		ec2Tags    map[string]string // the instance's tags in EC2
		imdsTags   map[string]string // the tags IMDS exposes (nil: disabled, the EC2 default)
		refuse     int
		code       string
		want       string
		wantSource string
		wantErr    []string // error substrings; the error then names only EKS_CLUSTER_NAME
		wantCalls  int      // DescribeInstances calls
	}{
		{name: "default node: no IMDS tags, name from DescribeInstances", creds: "env", ec2Tags: eksTags, want: "prod", wantSource: SourceEC2, wantCalls: 1},
		{name: "node role credentials from IMDS", creds: "role", ec2Tags: eksTags, want: "prod", wantSource: SourceEC2, wantCalls: 1},
		{name: "aws:eks:cluster-name", creds: "env", ec2Tags: map[string]string{"aws:eks:cluster-name": "auto"}, want: "auto", wantSource: SourceEC2, wantCalls: 1},
		{name: "alpha.eksctl.io/cluster-name", creds: "env", ec2Tags: map[string]string{"alpha.eksctl.io/cluster-name": "ctl"}, want: "ctl", wantSource: SourceEC2, wantCalls: 1},
		{name: "kubernetes.io/cluster owned", creds: "env", ec2Tags: owned, want: "prod", wantSource: SourceEC2, wantCalls: 1},
		{name: "k8s.io/cluster owned", creds: "env", ec2Tags: map[string]string{"k8s.io/cluster/old": "owned"}, want: "old", wantSource: SourceEC2, wantCalls: 1},
		{name: "kops KubernetesCluster", creds: "env", ec2Tags: map[string]string{"KubernetesCluster": "kops.example.com"}, want: "kops.example.com", wantSource: SourceEC2, wantCalls: 1},
		{name: "shared is not ownership", creds: "env", ec2Tags: map[string]string{"kubernetes.io/cluster/other": "shared", "KubernetesCluster": "kops-b"}, want: "kops-b", wantSource: SourceEC2, wantCalls: 1},
		{name: "aws:eks tag wins over the others", creds: "env", ec2Tags: map[string]string{"aws:eks:cluster-name": "a", "eks:cluster-name": "b", "kubernetes.io/cluster/c": "owned", "KubernetesCluster": "d"}, want: "a", wantSource: SourceEC2, wantCalls: 1},
		{name: "forbidden: falls back to IMDS tags", creds: "role", refuse: 403, code: "UnauthorizedOperation", imdsTags: map[string]string{"Name": "n", "eks:cluster-name": "from-imds"}, want: "from-imds", wantSource: SourceAWS, wantCalls: 1},
		{name: "forbidden, IMDS tags off", creds: "role", refuse: 403, code: "UnauthorizedOperation", wantCalls: 1,
			wantErr: []string{"ec2:DescribeInstances on i-0abc", "lack ec2:DescribeInstances (UnauthorizedOperation", "InstanceMetadataTags"}},
		{name: "wrong credentials, no cluster tag in IMDS", creds: "env", refuse: 401, code: "AuthFailure", imdsTags: map[string]string{"Name": "n"}, wantCalls: 1,
			wantErr: []string{"AWS rejected the credentials (AuthFailure)", "IMDS instance tags: no cluster tag"}},
		{name: "no credentials", creds: "none", ec2Tags: eksTags,
			wantErr: []string{"no AWS credentials", "no EC2 IMDS role found", "InstanceMetadataTags"}},
		{name: "no cluster tag on the instance", creds: "env", ec2Tags: map[string]string{"Name": "n", "kubernetes.io/cluster/x": "shared"}, wantCalls: 1,
			wantErr: []string{"instance i-0abc: no cluster tag"}},
		{name: "two owned clusters", creds: "env", ec2Tags: map[string]string{"kubernetes.io/cluster/a": "owned", "kubernetes.io/cluster/b": "owned"}, wantCalls: 1,
			wantErr: []string{"ambiguous cluster tags: kubernetes.io/cluster/<name>=owned names a and b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			i := &fakeIMDS{IdentityDocument: identityDoc, Tags: tt.imdsTags}
			e := &fakeEC2{Tags: tt.ec2Tags, Refuse: tt.refuse, Code: tt.code}
			useCredentials(t, tt.creds, i, e)
			serveAWS(t, i, e)
			m, err := Discover(t.Context(), ProviderEKS, envMap(nil))
			if calls := e.Calls(); len(calls) != tt.wantCalls || slices.ContainsFunc(calls, func(r string) bool { return r != "eu-central-1" }) {
				t.Fatalf("DescribeInstances calls (signing regions) = %v, want %d in eu-central-1", calls, tt.wantCalls)
			}
			if tt.wantErr != nil {
				checkNameMissing(t, err, tt.wantErr)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.ClusterName != tt.want || m.Region != "eu-central-1" || m.AccountID != "123456789012" || m.InstanceID != testInstance {
				t.Fatalf("metadata = %+v", m)
			}
			if m.Sources[EnvEKSClusterName] != tt.wantSource || m.Sources[EnvEKSRegion] != SourceAWS {
				t.Fatalf("sources = %v", m.Sources)
			}
			if p := i.Requests(); p[0] != "PUT /latest/api/token" {
				t.Fatalf("first IMDS request = %q, want the IMDSv2 token", p[0])
			}
		})
	}
}

// checkNameMissing checks an error that asks for EKS_CLUSTER_NAME only.
func checkNameMissing(t *testing.T, err error, contains []string) {
	t.Helper()
	var me *MissingMetadataError
	if !errors.As(err, &me) || !reflect.DeepEqual(me.MissingEnv, []string{EnvEKSClusterName}) {
		t.Fatalf("err = %v", err)
	}
	msg := err.Error()
	if !strings.HasSuffix(msg, eksNameSuffix) {
		t.Fatalf("message does not end with how to set EKS_CLUSTER_NAME: %q", msg)
	}
	for _, s := range contains {
		if !strings.Contains(msg, s) {
			t.Fatalf("message lacks %q: %q", s, msg)
		}
	}
	noSecrets(t, msg)
}

func TestEKSEnvOverrides(t *testing.T) {
	tests := []struct {
		name      string
		env       map[string]string
		want      [3]string // account, region, name
		sources   [3]string
		wantCalls int
	}{
		{name: "name from env, the rest from IMDS", env: map[string]string{EnvEKSClusterName: "env-name"},
			want: [3]string{"123456789012", "eu-central-1", "env-name"}, sources: [3]string{SourceAWS, SourceAWS, SourceEnv}},
		{name: "region from env, name from EC2", env: map[string]string{EnvEKSRegion: "us-west-2"},
			want: [3]string{"123456789012", "us-west-2", "prod"}, sources: [3]string{SourceAWS, SourceEnv, SourceEC2}, wantCalls: 1},
		{name: "account and region from env", env: map[string]string{EnvEKSAccountID: " 999 ", EnvEKSRegion: "us-east-1"},
			want: [3]string{"999", "us-east-1", "prod"}, sources: [3]string{SourceEnv, SourceEnv, SourceEC2}, wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			i := &fakeIMDS{IdentityDocument: identityDoc}
			e := &fakeEC2{Tags: map[string]string{"eks:cluster-name": "prod"}}
			useCredentials(t, "env", i, e)
			serveAWS(t, i, e)
			m, err := Discover(t.Context(), ProviderEKS, envMap(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			got := [3]string{m.AccountID, m.Region, m.ClusterName}
			src := [3]string{m.Sources[EnvEKSAccountID], m.Sources[EnvEKSRegion], m.Sources[EnvEKSClusterName]}
			if got != tt.want || src != tt.sources {
				t.Fatalf("metadata = %v from %v, want %v from %v", got, src, tt.want, tt.sources)
			}
			// DescribeInstances goes to the instance's own region, whatever EKS_REGION says.
			if calls := e.Calls(); len(calls) != tt.wantCalls || (len(calls) > 0 && calls[0] != "eu-central-1") {
				t.Fatalf("DescribeInstances calls = %v", calls)
			}
		})
	}
}

func TestEKSAllFromEnvAsksNothing(t *testing.T) {
	t.Setenv(EnvAWSIMDSEndpoint, failServer(t))
	t.Setenv(EnvAWSEC2Endpoint, failServer(t))
	env := map[string]string{EnvEKSAccountID: " 123456789012 ", EnvEKSRegion: "us-east-1", EnvEKSClusterName: "prod"}
	m, err := Discover(t.Context(), "EKS", envMap(env))
	if err != nil {
		t.Fatal(err)
	}
	if m.AccountID != "123456789012" || m.Region != "us-east-1" || m.ClusterName != "prod" || m.Sources[EnvEKSRegion] != SourceEnv {
		t.Fatalf("metadata = %+v", m)
	}
}

func TestEKSIMDSFailures(t *testing.T) {
	all := []string{EnvEKSAccountID, EnvEKSRegion, EnvEKSClusterName}
	badDoc := func(t *testing.T) string {
		srv := httptest.NewServer(&fakeIMDS{IdentityDocument: "<html>"})
		t.Cleanup(srv.Close)
		return srv.URL
	}
	tests := []struct {
		name     string
		url      func(t *testing.T) string
		env      map[string]string
		disabled string
		missing  []string
		contains []string
	}{
		{name: "unreachable", url: deadURL, missing: all, contains: []string{"AWS IMDS", "connection refused"}},
		{name: "unreachable, name from env", url: deadURL, env: map[string]string{EnvEKSClusterName: "c"},
			missing: []string{EnvEKSAccountID, EnvEKSRegion}, contains: []string{"connection refused"}},
		{name: "bad identity document", url: badDoc, missing: all, contains: []string{"decode instance identity document"}},
		{name: "IMDS disabled", url: badDoc, disabled: "true", missing: all, contains: []string{"AWS_EC2_METADATA_DISABLED"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(EnvAWSIMDSEndpoint, tt.url(t))
			t.Setenv(EnvAWSEC2Endpoint, failServer(t))
			t.Setenv(EnvAWSIMDSDisabled, tt.disabled)
			_, err := Discover(t.Context(), ProviderEKS, envMap(tt.env))
			var me *MissingMetadataError
			if !errors.As(err, &me) || !reflect.DeepEqual(me.MissingEnv, tt.missing) {
				t.Fatalf("err = %v", err)
			}
			msg := err.Error()
			for _, v := range tt.missing {
				if !strings.Contains(msg, "--set additionalEnv."+v+"=") {
					t.Fatalf("message does not say how to set %s: %q", v, msg)
				}
			}
			for _, s := range tt.contains {
				if !strings.Contains(msg, s) {
					t.Fatalf("message lacks %q: %q", s, msg)
				}
			}
		})
	}
}

// TestEKSEndpointOptions: the package's options win over the SDK's variables (which point at
// dead ports here).
func TestEKSEndpointOptions(t *testing.T) {
	i := &fakeIMDS{IdentityDocument: identityDoc, Role: roleName}
	e := &fakeEC2{Tags: map[string]string{"eks:cluster-name": "opt"}, KeyID: roleKeyID, Token: roleToken}
	is, es := httptest.NewServer(i), httptest.NewServer(e)
	defer is.Close()
	defer es.Close()
	m, err := Discover(t.Context(), ProviderEKS, envMap(nil), WithAWSBaseURL(is.URL), WithEC2Endpoint(es.URL))
	if err != nil {
		t.Fatal(err)
	}
	if m.ClusterName != "opt" || len(e.Calls()) != 1 {
		t.Fatalf("metadata = %+v, calls = %v", m, e.Calls())
	}
}

func TestIMDSFakeRequiresToken(t *testing.T) {
	srv := httptest.NewServer(&fakeIMDS{IdentityDocument: identityDoc})
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/latest/dynamic/instance-identity/document")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the fake must reject GETs without a token; got %d", resp.StatusCode)
	}
}
