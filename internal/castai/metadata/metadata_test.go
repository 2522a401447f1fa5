package metadata

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
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

// fakeGCE is a GCE metadata server: plain-text values, Metadata-Flavor: Google on every answer,
// 403 for requests without that header, 404 for unknown paths.
type fakeGCE struct {
	values   map[string]string
	log      pathLog
	noFlavor bool // answer like a proxy or captive portal would: 200 without the header
}

func (f *fakeGCE) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.log.add(r.URL.Path)
	if f.noFlavor {
		_, _ = w.Write([]byte("<html>login</html>"))
		return
	}
	w.Header().Set("Metadata-Flavor", "Google")
	w.Header().Set("Content-Type", "application/text")
	if r.Header.Get("Metadata-Flavor") != "Google" {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	v, ok := f.values[r.URL.Path]
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		return
	}
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
			env := map[string]string{EnvGCEMetadataHost: srv.Listener.Addr().String()} // host:port, as Google's libraries take it
			maps.Copy(env, tt.env)
			m, err := Discover(t.Context(), ProviderGKE, envMap(env))
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
				for _, v := range tt.missing {
					if !strings.Contains(err.Error(), "--set additionalEnv."+v+"=") {
						t.Fatalf("message does not say how to set %s: %v", v, err)
					}
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

func TestGKENotTheMetadataServer(t *testing.T) {
	f := &fakeGCE{noFlavor: true}
	srv := httptest.NewServer(f)
	defer srv.Close()
	_, err := Discover(t.Context(), ProviderGKE, envMap(map[string]string{EnvGCEMetadataHost: srv.URL}))
	var me *MissingMetadataError
	if !errors.As(err, &me) || !reflect.DeepEqual(me.MissingEnv, gkeEnv) {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(err.Error(), "not the GCE metadata server") || len(f.log.get()) != 1 {
		t.Fatalf("err = %v after %d requests", err, len(f.log.get()))
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

// fakeAzure is Azure IMDS: GET /metadata/instance?api-version=2021-05-01 with Metadata: true
// (400 otherwise, with IMDS's JSON error) answers the instance document.
type fakeAzure struct {
	compute map[string]string
	calls   pathLog
}

func (f *fakeAzure) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.calls.add(r.URL.String())
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if r.Method != http.MethodGet || r.Header.Get("Metadata") != "true" || r.Header.Get("X-Forwarded-For") != "" ||
		r.URL.Query().Get("api-version") != "2021-05-01" || r.URL.Path != "/metadata/instance" {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":"Bad request. Required metadata header not specified"}`))
		return
	}
	compute := map[string]any{"azEnvironment": "AzurePublicCloud", "osType": "Linux", "vmSize": "Standard_D4s_v3",
		"tagsList": []any{map[string]string{"name": "aks-managed-poolName", "value": "nodepool1"}}}
	for k, v := range f.compute {
		compute[k] = v
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"compute": compute,
		"network": map[string]any{"interface": []any{map[string]any{"macAddress": "000D3A000000"}}}})
}

func TestAKS(t *testing.T) {
	full := map[string]string{"location": "westeurope", "resourceGroupName": "MC_rg_aks_westeurope",
		"subscriptionId": "0a1b2c3d-0000-4000-8000-000000000001", "vmId": "x", "name": "aks-nodepool1-123-vmss_0"}
	sub := full["subscriptionId"]
	tests := []struct {
		name    string
		env     map[string]string
		compute map[string]string
		want    [3]string
		missing []string
		calls   int
	}{
		{name: "imds", compute: full, want: [3]string{"westeurope", "MC_rg_aks_westeurope", sub}, calls: 1},
		{name: "env", env: map[string]string{EnvAKSLocation: "l", EnvAKSNodeResourceGroup: "g", EnvAKSSubscriptionID: "s"}, want: [3]string{"l", "g", "s"}},
		{name: "partial env", env: map[string]string{EnvAKSLocation: "northeurope"}, compute: full, want: [3]string{"northeurope", "MC_rg_aks_westeurope", sub}, calls: 1},
		{name: "incomplete imds", compute: map[string]string{"location": "westeurope", "resourceGroupName": "rg"}, missing: []string{EnvAKSSubscriptionID}, calls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeAzure{compute: tt.compute}
			srv := httptest.NewServer(f)
			defer srv.Close()
			env := map[string]string{EnvAzureIMDSEndpoint: srv.URL}
			maps.Copy(env, tt.env)
			m, err := Discover(t.Context(), ProviderAKS, envMap(env))
			if got := len(f.calls.get()); got != tt.calls {
				t.Fatalf("IMDS calls = %d, want %d", got, tt.calls)
			}
			if tt.missing != nil {
				var me *MissingMetadataError
				if !errors.As(err, &me) || !reflect.DeepEqual(me.MissingEnv, tt.missing) || !strings.Contains(err.Error(), "Azure IMDS") {
					t.Fatalf("err = %v", err)
				}
				for _, v := range tt.missing {
					if !strings.Contains(err.Error(), "--set additionalEnv."+v+"=") {
						t.Fatalf("message does not say how to set %s: %v", v, err)
					}
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

func TestAKSFailures(t *testing.T) {
	notJSON := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("<html>")) }))
	defer notJSON.Close()
	tests := []struct {
		name, url string
		opts      []Option
		contains  string
	}{
		{name: "unreachable", url: deadURL(t), contains: "connection refused"},
		{name: "not JSON", url: notJSON.URL, contains: "instance document is not JSON"},
		{name: "the option wins over the variable", url: notJSON.URL, opts: []Option{WithAzureBaseURL(deadURL(t))}, contains: "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Discover(t.Context(), ProviderAKS, envMap(map[string]string{EnvAzureIMDSEndpoint: tt.url}), tt.opts...)
			var me *MissingMetadataError
			if !errors.As(err, &me) || !reflect.DeepEqual(me.MissingEnv, aksEnv) || !strings.Contains(err.Error(), tt.contains) {
				t.Fatalf("err = %v", err)
			}
			want := "; set AKS_LOCATION, AKS_NODE_RESOURCE_GROUP, AKS_SUBSCRIPTION_ID on the operator (helm: --set additionalEnv.AKS_LOCATION=… " +
				"--set additionalEnv.AKS_NODE_RESOURCE_GROUP=… --set additionalEnv.AKS_SUBSCRIPTION_ID=…)"
			if !strings.HasSuffix(err.Error(), want) {
				t.Fatalf("message = %q", err.Error())
			}
		})
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
