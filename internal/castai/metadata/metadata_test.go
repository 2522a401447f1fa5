package metadata

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/castware-operator/castware-operator/internal/castai"
)

// envMap turns a map into an env lookup.
func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// pathLog records request paths of a fake metadata service.
type pathLog struct {
	mu    sync.Mutex
	paths []string
}

func (p *pathLog) add(s string) { p.mu.Lock(); p.paths = append(p.paths, s); p.mu.Unlock() }
func (p *pathLog) get() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.paths...)
}

// deadURL returns a loopback URL where nothing listens.
func deadURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// failServer fails the test on any request: env-only paths must not touch the network.
func failServer(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("unexpected metadata request %s %s", r.Method, r.URL.Path)
		w.WriteHeader(500)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// slowServer never answers until the test ends.
func slowServer(t *testing.T) string {
	t.Helper()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	return srv.URL
}

// fakeIMDS is an AWS IMDSv2 fake: GETs without a valid token are rejected with 401.
type fakeIMDS struct {
	tags        map[string]string // nil: tags not enabled in IMDS (404)
	identityDoc string
	log         pathLog
	ttlHeader   string
}

const imdsToken = "imds-session-token"

func (f *fakeIMDS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.log.add(r.Method + " " + r.URL.Path)
	if r.URL.Path == "/latest/api/token" {
		if r.Method != http.MethodPut {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		f.ttlHeader = r.Header.Get("X-aws-ec2-metadata-token-ttl-seconds")
		if f.ttlHeader == "" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		_, _ = w.Write([]byte(imdsToken))
		return
	}
	if r.Header.Get("X-aws-ec2-metadata-token") != imdsToken {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	switch p := r.URL.Path; {
	case p == "/latest/dynamic/instance-identity/document":
		_, _ = w.Write([]byte(f.identityDoc))
	case p == "/latest/meta-data/tags/instance":
		if f.tags == nil {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		var keys []string
		for k := range f.tags {
			keys = append(keys, k)
		}
		_, _ = w.Write([]byte(strings.Join(keys, "\n")))
	case strings.HasPrefix(p, "/latest/meta-data/tags/instance/"):
		v, ok := f.tags[strings.TrimPrefix(p, "/latest/meta-data/tags/instance/")]
		if !ok || f.tags == nil {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		_, _ = w.Write([]byte(v))
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

const identityDoc = `{"accountId":"123456789012","region":"eu-central-1","instanceId":"i-0abc","availabilityZone":"eu-central-1a"}`

func TestEKSFromEnv(t *testing.T) {
	env := map[string]string{EnvEKSAccountID: " 123456789012 ", EnvEKSRegion: "us-east-1", EnvEKSClusterName: "prod"}
	m, err := Discover(t.Context(), "EKS", envMap(env), WithAWSBaseURL(failServer(t)))
	if err != nil {
		t.Fatal(err)
	}
	if m.AccountID != "123456789012" || m.Region != "us-east-1" || m.ClusterName != "prod" || m.Sources[EnvEKSRegion] != SourceEnv {
		t.Fatalf("metadata = %+v", m)
	}
}

func TestEKSPartialEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		missing []string
	}{
		{"only region", map[string]string{EnvEKSRegion: "us-east-1"}, []string{EnvEKSAccountID, EnvEKSClusterName}},
		{"no name", map[string]string{EnvEKSRegion: "us-east-1", EnvEKSAccountID: "1"}, []string{EnvEKSClusterName}},
		{"only name", map[string]string{EnvEKSClusterName: "prod"}, []string{EnvEKSAccountID, EnvEKSRegion}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Discover(t.Context(), ProviderEKS, envMap(tt.env), WithAWSBaseURL(failServer(t)))
			var me *MissingMetadataError
			if !errors.As(err, &me) || !reflect.DeepEqual(me.MissingEnv, tt.missing) || me.Provider != ProviderEKS {
				t.Fatalf("err = %v", err)
			}
			for _, v := range tt.missing {
				if !strings.Contains(err.Error(), "--set additionalEnv."+v+"=") {
					t.Fatalf("error does not tell how to set %s: %v", v, err)
				}
			}
			if !strings.Contains(err.Error(), "partially set") {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

func TestEKSFromIMDS(t *testing.T) {
	tests := []struct {
		name string
		tags map[string]string
		want string
	}{
		{"kubernetes.io owned", map[string]string{"Name": "node", "kubernetes.io/cluster/prod": "owned"}, "prod"},
		{"k8s.io owned", map[string]string{"k8s.io/cluster/kops-a": "owned"}, "kops-a"},
		{"shared is not ownership", map[string]string{"kubernetes.io/cluster/other": "shared", "KubernetesCluster": "kops-b"}, "kops-b"},
		{"eks managed node group", map[string]string{"eks:cluster-name": "managed", "eks:nodegroup-name": "ng"}, "managed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeIMDS{tags: tt.tags, identityDoc: identityDoc}
			srv := httptest.NewServer(f)
			defer srv.Close()
			m, err := Discover(t.Context(), ProviderEKS, envMap(nil), WithAWSBaseURL(srv.URL))
			if err != nil {
				t.Fatal(err)
			}
			if m.ClusterName != tt.want || m.Region != "eu-central-1" || m.AccountID != "123456789012" || m.InstanceID != "i-0abc" {
				t.Fatalf("metadata = %+v", m)
			}
			if m.Sources[EnvEKSClusterName] != SourceAWS {
				t.Fatalf("sources = %v", m.Sources)
			}
			if f.ttlHeader != "300" {
				t.Fatalf("token TTL header = %q", f.ttlHeader)
			}
			if p := f.log.get(); p[0] != "PUT /latest/api/token" {
				t.Fatalf("first request = %q, want the IMDSv2 token", p[0])
			}
		})
	}
}

func TestEKSIMDSFailures(t *testing.T) {
	all := []string{EnvEKSAccountID, EnvEKSRegion, EnvEKSClusterName}
	tests := []struct {
		name     string
		url      func(t *testing.T) string
		contains []string
	}{
		{"tags not enabled", func(t *testing.T) string {
			srv := httptest.NewServer(&fakeIMDS{identityDoc: identityDoc})
			t.Cleanup(srv.Close)
			return srv.URL
		}, []string{"AWS IMDS", "instance tags", "InstanceMetadataTags=enabled"}},
		{"no cluster tag", func(t *testing.T) string {
			srv := httptest.NewServer(&fakeIMDS{identityDoc: identityDoc, tags: map[string]string{"Name": "x"}})
			t.Cleanup(srv.Close)
			return srv.URL
		}, []string{"no cluster tag"}},
		{"bad identity document", func(t *testing.T) string {
			srv := httptest.NewServer(&fakeIMDS{identityDoc: "<html>", tags: map[string]string{}})
			t.Cleanup(srv.Close)
			return srv.URL
		}, []string{"not JSON"}},
		{"unreachable", deadURL, []string{"AWS IMDS", "IMDSv2 token", "connection refused"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Discover(t.Context(), ProviderEKS, envMap(nil), WithAWSBaseURL(tt.url(t)))
			var me *MissingMetadataError
			if !errors.As(err, &me) || !reflect.DeepEqual(me.MissingEnv, all) {
				t.Fatalf("err = %v", err)
			}
			msg := err.Error()
			want := "; set EKS_ACCOUNT_ID, EKS_REGION, EKS_CLUSTER_NAME on the operator (helm: --set additionalEnv.EKS_ACCOUNT_ID=… --set additionalEnv.EKS_REGION=… --set additionalEnv.EKS_CLUSTER_NAME=…)"
			if !strings.HasPrefix(msg, "cluster metadata unavailable (") || !strings.HasSuffix(msg, want) {
				t.Fatalf("message = %q", msg)
			}
			for _, s := range tt.contains {
				if !strings.Contains(msg, s) {
					t.Fatalf("message lacks %q: %q", s, msg)
				}
			}
		})
	}
}

func TestIMDSTokenRequired(t *testing.T) {
	f := &fakeIMDS{tags: map[string]string{"KubernetesCluster": "x"}, identityDoc: identityDoc}
	srv := httptest.NewServer(f)
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

func TestSlowMetadataTimesOut(t *testing.T) {
	tests := []struct {
		provider string
		opt      func(string) Option
		missing  int
	}{
		{ProviderEKS, WithAWSBaseURL, 3},
		{ProviderGKE, WithGCEBaseURL, 4},
		{ProviderAKS, WithAzureBaseURL, 3},
	}
	for _, tt := range tests {
		t.Run(tt.provider, func(t *testing.T) {
			start := time.Now()
			_, err := Discover(t.Context(), tt.provider, envMap(nil), tt.opt(slowServer(t)), WithTimeout(50*time.Millisecond))
			took := time.Since(start)
			var me *MissingMetadataError
			if !errors.As(err, &me) || len(me.MissingEnv) != tt.missing {
				t.Fatalf("err = %v", err)
			}
			if !strings.Contains(err.Error(), "no answer within 50ms") {
				t.Fatalf("err = %v", err)
			}
			// One request times out, and the service is then considered unreachable.
			if took > 2*time.Second {
				t.Fatalf("took %v", took)
			}
		})
	}
}

// fakeGCE is a GCE metadata server; requests without Metadata-Flavor: Google get 403.
type fakeGCE struct {
	values map[string]string
	log    pathLog
}

func (f *fakeGCE) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.log.add(r.URL.Path)
	if r.Header.Get("Metadata-Flavor") != "Google" {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	v, ok := f.values[r.URL.Path]
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	w.Header().Set("Metadata-Flavor", "Google")
	_, _ = w.Write([]byte(v))
}

var gceAll = map[string]string{
	"/computeMetadata/v1/project/project-id":                   "my-project",
	"/computeMetadata/v1/instance/zone":                        "projects/1234/zones/europe-west1-b",
	"/computeMetadata/v1/instance/attributes/cluster-name":     "gke-prod",
	"/computeMetadata/v1/instance/attributes/cluster-location": "europe-west1",
}

func TestGKE(t *testing.T) {
	tests := []struct {
		name      string
		env       map[string]string
		values    map[string]string
		want      Metadata
		missing   []string
		wantPaths int
	}{
		{
			name: "all from metadata", values: gceAll, wantPaths: 4,
			want: Metadata{ProjectID: "my-project", ClusterName: "gke-prod", Region: "europe-west1", Location: "europe-west1"},
		},
		{
			name: "all from env", env: map[string]string{EnvGKEProjectID: "p", EnvGKEClusterName: "c", EnvGKERegion: "r", EnvGKELocation: "r-a"},
			want: Metadata{ProjectID: "p", ClusterName: "c", Region: "r", Location: "r-a"},
		},
		{
			name: "partial env", env: map[string]string{EnvGKEProjectID: "env-project", EnvGKELocation: "us-central1-a"}, values: gceAll, wantPaths: 2,
			want: Metadata{ProjectID: "env-project", ClusterName: "gke-prod", Region: "europe-west1", Location: "us-central1-a"},
		},
		{
			name: "region derived from location", values: map[string]string{
				"/computeMetadata/v1/project/project-id":                   "p",
				"/computeMetadata/v1/instance/attributes/cluster-name":     "c",
				"/computeMetadata/v1/instance/attributes/cluster-location": "asia-east1-c",
			}, wantPaths: 4,
			want: Metadata{ProjectID: "p", ClusterName: "c", Region: "asia-east1", Location: "asia-east1-c"},
		},
		{
			name: "missing cluster name", values: map[string]string{
				"/computeMetadata/v1/project/project-id":                   "p",
				"/computeMetadata/v1/instance/zone":                        "projects/1/zones/us-east4-a",
				"/computeMetadata/v1/instance/attributes/cluster-location": "us-east4",
			}, wantPaths: 4, missing: []string{EnvGKEClusterName},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeGCE{values: tt.values}
			srv := httptest.NewServer(f)
			defer srv.Close()
			m, err := Discover(t.Context(), ProviderGKE, envMap(tt.env), WithGCEBaseURL(srv.URL))
			if got := len(f.log.get()); got != tt.wantPaths {
				t.Fatalf("metadata requests = %d, want %d: %v", got, tt.wantPaths, f.log.get())
			}
			if tt.missing != nil {
				var me *MissingMetadataError
				if !errors.As(err, &me) || !reflect.DeepEqual(me.MissingEnv, tt.missing) {
					t.Fatalf("err = %v", err)
				}
				if !strings.Contains(err.Error(), "GCE metadata") || !strings.Contains(err.Error(), "HTTP 404") {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.ProjectID != tt.want.ProjectID || m.ClusterName != tt.want.ClusterName || m.Region != tt.want.Region || m.Location != tt.want.Location {
				t.Fatalf("metadata = %+v, want %+v", m, tt.want)
			}
		})
	}
}

func TestGKEUnreachable(t *testing.T) {
	_, err := Discover(t.Context(), ProviderGKE, envMap(map[string]string{EnvGKEClusterName: "c"}), WithGCEBaseURL(deadURL(t)))
	var me *MissingMetadataError
	want := []string{EnvGKEProjectID, EnvGKERegion, EnvGKELocation}
	if !errors.As(err, &me) || !reflect.DeepEqual(me.MissingEnv, want) {
		t.Fatalf("err = %v", err)
	}
	// Only one connection error is reported: after it the server is not asked again.
	if n := strings.Count(err.Error(), "connection refused"); n != 1 {
		t.Fatalf("err = %v", err)
	}
}

// fakeAzure is Azure IMDS; requests without Metadata: true or the API version get 400.
type fakeAzure struct {
	compute map[string]string
	calls   pathLog
}

func (f *fakeAzure) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.calls.add(r.URL.String())
	if r.Header.Get("Metadata") != "true" || r.URL.Query().Get("api-version") != "2021-05-01" || r.URL.Path != "/metadata/instance" {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"compute": f.compute, "network": map[string]any{}})
}

func TestAKS(t *testing.T) {
	full := map[string]string{"location": "westeurope", "resourceGroupName": "MC_rg_aks_westeurope", "subscriptionId": "sub-1", "vmId": "x"}
	tests := []struct {
		name    string
		env     map[string]string
		compute map[string]string
		want    [3]string
		missing []string
		calls   int
	}{
		{name: "imds", compute: full, want: [3]string{"westeurope", "MC_rg_aks_westeurope", "sub-1"}, calls: 1},
		{name: "env", env: map[string]string{EnvAKSLocation: "l", EnvAKSNodeResourceGroup: "g", EnvAKSSubscriptionID: "s"}, want: [3]string{"l", "g", "s"}},
		{name: "partial env", env: map[string]string{EnvAKSLocation: "northeurope"}, compute: full, want: [3]string{"northeurope", "MC_rg_aks_westeurope", "sub-1"}, calls: 1},
		{name: "incomplete imds", compute: map[string]string{"location": "westeurope", "resourceGroupName": "rg"}, missing: []string{EnvAKSSubscriptionID}, calls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeAzure{compute: tt.compute}
			srv := httptest.NewServer(f)
			defer srv.Close()
			m, err := Discover(t.Context(), ProviderAKS, envMap(tt.env), WithAzureBaseURL(srv.URL))
			if got := len(f.calls.get()); got != tt.calls {
				t.Fatalf("IMDS calls = %d, want %d", got, tt.calls)
			}
			if tt.missing != nil {
				var me *MissingMetadataError
				if !errors.As(err, &me) || !reflect.DeepEqual(me.MissingEnv, tt.missing) || !strings.Contains(err.Error(), "Azure IMDS") {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := [3]string{m.Region, m.NodeResourceGroup, m.SubscriptionID}; got != tt.want {
				t.Fatalf("metadata = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestAKSUnreachable(t *testing.T) {
	_, err := Discover(t.Context(), ProviderAKS, envMap(nil), WithAzureBaseURL(deadURL(t)))
	var me *MissingMetadataError
	if !errors.As(err, &me) || !reflect.DeepEqual(me.MissingEnv, []string{EnvAKSLocation, EnvAKSNodeResourceGroup, EnvAKSSubscriptionID}) {
		t.Fatalf("err = %v", err)
	}
}

func TestUnsupportedProvider(t *testing.T) {
	for _, p := range []string{"", "kops", "openshift"} {
		_, err := Discover(t.Context(), p, envMap(nil))
		var me *MissingMetadataError
		if err == nil || errors.As(err, &me) || !strings.Contains(err.Error(), "unsupported provider") {
			t.Fatalf("%q: err = %v", p, err)
		}
	}
}

func TestCancelledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := Discover(ctx, ProviderAKS, envMap(nil), WithAzureBaseURL(slowServer(t)))
	var me *MissingMetadataError
	if !errors.Is(err, context.Canceled) || errors.As(err, &me) {
		t.Fatalf("err = %v", err)
	}
}

func TestMissingMetadataErrorFormat(t *testing.T) {
	cause := errors.New("AWS IMDS: dial tcp 169.254.169.254:80: i/o timeout")
	e := &MissingMetadataError{Provider: ProviderEKS, MissingEnv: []string{EnvEKSRegion}, Cause: cause}
	want := "cluster metadata unavailable (AWS IMDS: dial tcp 169.254.169.254:80: i/o timeout); set EKS_REGION on the operator (helm: --set additionalEnv.EKS_REGION=…)"
	if e.Error() != want {
		t.Fatalf("Error() = %q", e.Error())
	}
	if !errors.Is(e, cause) {
		t.Fatal("Unwrap does not reach the cause")
	}
}

func TestRegisterRequest(t *testing.T) {
	tests := []struct {
		m    Metadata
		want castai.RegisterClusterRequest
	}{
		{
			Metadata{Provider: ProviderEKS, ClusterName: "prod", Region: "us-east-1", AccountID: "1"},
			castai.RegisterClusterRequest{Name: "prod", EKS: &castai.EKSParams{ClusterName: "prod", Region: "us-east-1", AccountID: "1"}},
		},
		{
			Metadata{Provider: ProviderGKE, ClusterName: "g", Region: "r", ProjectID: "p", Location: "r-a"},
			castai.RegisterClusterRequest{Name: "g", GKE: &castai.GKEParams{Region: "r", ProjectID: "p", ClusterName: "g", Location: "r-a"}},
		},
		{
			Metadata{Provider: ProviderAKS, Region: "westeurope", NodeResourceGroup: "rg", SubscriptionID: "s"},
			castai.RegisterClusterRequest{AKS: &castai.AKSParams{Region: "westeurope", NodeResourceGroup: "rg", SubscriptionID: "s"}},
		},
	}
	for _, tt := range tests {
		got := tt.m.RegisterRequest("")
		if !reflect.DeepEqual(got, tt.want) {
			t.Fatalf("%s: got %+v, want %+v", tt.m.Provider, got, tt.want)
		}
		if got.Provider() != tt.m.Provider {
			t.Fatalf("provider = %q", got.Provider())
		}
	}
	if id := (&Metadata{Provider: ProviderEKS}).RegisterRequest("abc").ID; id != "abc" {
		t.Fatalf("id = %q", id)
	}
}
