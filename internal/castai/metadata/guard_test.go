package metadata

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The tests of this package must never reach a real metadata service or cloud API. Two guards
// make a mistake fail instead of dialling out:
//   - TestMain points every endpoint variable the AWS SDK reads at a loopback port where nothing
//     listens, and clears the SDK's credential and profile variables;
//   - every transport this package builds gets a dialer that refuses to dial anything but a
//     literal loopback IP, and any such refusal outside TestGuardRefusesRealEndpoints fails the run.

var (
	guardMu       sync.Mutex
	guardRefused  []string    // addresses refused while no test expected it
	guardExpected atomic.Bool // set by the test that checks the guard itself
)

// loopbackOnly is adjustTransport for tests: no proxy, loopback IPs only.
func loopbackOnly(tr *http.Transport) {
	dialer := &net.Dialer{Timeout: 2 * time.Second}
	tr.Proxy = nil
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			if !guardExpected.Load() {
				guardMu.Lock()
				guardRefused = append(guardRefused, addr)
				guardMu.Unlock()
			}
			return nil, fmt.Errorf("test guard: refusing to dial non-loopback address %s", addr)
		}
		return dialer.DialContext(ctx, network, addr)
	}
}

// isolateAWS clears the variables through which the AWS SDK could find real credentials,
// profiles, regions or endpoints, and points its endpoints at a dead loopback port.
func isolateAWS(dir, dead string) {
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
		"AWS_DEFAULT_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_ENDPOINT_URL",
		"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_CA_BUNDLE", EnvAWSIMDSDisabled, "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
		EnvGCEMetadataHost, EnvAzureIMDSEndpoint, "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"} {
		os.Unsetenv(k)
	}
	os.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "no-credentials"))
	os.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "no-config"))
	os.Setenv(EnvAWSIMDSEndpoint, dead)
	os.Setenv(EnvAWSEC2Endpoint, dead)
}

func TestMain(m *testing.M) {
	adjustTransport = loopbackOnly
	dir, err := os.MkdirTemp("", "metadata-test")
	if err != nil {
		panic(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	dead := "http://" + l.Addr().String()
	l.Close()
	isolateAWS(dir, dead)
	code := m.Run()
	os.RemoveAll(dir)
	if len(guardRefused) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: a test tried to dial non-loopback addresses: %s\n", strings.Join(guardRefused, ", "))
		code = 1
	}
	os.Exit(code)
}

// TestGuardRefusesRealEndpoints checks the guard: with no endpoint overrides at all, every
// provider's default endpoint is refused by the test transport before any packet leaves.
func TestGuardRefusesRealEndpoints(t *testing.T) {
	guardExpected.Store(true)
	defer guardExpected.Store(false)
	t.Setenv(EnvAWSIMDSEndpoint, "")
	t.Setenv(EnvAWSEC2Endpoint, "")
	for _, p := range []string{ProviderEKS, ProviderGKE, ProviderAKS} {
		t.Run(p, func(t *testing.T) {
			_, err := Discover(t.Context(), p, envMap(nil))
			if err == nil || !strings.Contains(err.Error(), "test guard: refusing to dial non-loopback address") {
				t.Fatalf("err = %v", err)
			}
		})
	}
}
