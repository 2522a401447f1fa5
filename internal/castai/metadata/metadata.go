// Package metadata discovers what cluster registration needs (account, project, region,
// cluster name, ...) from operator environment variables and, for values the environment
// does not give, from the cloud's instance metadata service: AWS IMDSv2 (plus the EC2 API's
// DescribeInstances for the node's cluster tags), the GCE metadata server or Azure IMDS.
// When neither source has a value, the error names exactly which environment variables to
// set on the operator. docs/cloud-metadata.md lists the variables and endpoints.
package metadata

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"

	"github.com/castware-operator/castware-operator/internal/castai"
)

// Providers supported by Discover.
const (
	ProviderEKS = "eks"
	ProviderGKE = "gke"
	ProviderAKS = "aks"
)

// Environment variables read by Discover.
const (
	EnvEKSAccountID         = "EKS_ACCOUNT_ID"
	EnvEKSRegion            = "EKS_REGION"
	EnvEKSClusterName       = "EKS_CLUSTER_NAME"
	EnvGKEProjectID         = "GKE_PROJECT_ID"
	EnvGKEClusterName       = "GKE_CLUSTER_NAME"
	EnvGKERegion            = "GKE_REGION"
	EnvGKELocation          = "GKE_LOCATION"
	EnvAKSLocation          = "AKS_LOCATION"
	EnvAKSNodeResourceGroup = "AKS_NODE_RESOURCE_GROUP"
	EnvAKSSubscriptionID    = "AKS_SUBSCRIPTION_ID"
)

// Environment variables that point discovery at other metadata and API endpoints (for proxies,
// air-gapped mirrors and tests). The AWS ones are the SDK's own and are read by the SDK from the
// process environment; the GCE and Azure ones are read like the metadata variables above.
const (
	// EnvAWSIMDSEndpoint is the AWS IMDS base URL (AWS SDK standard).
	EnvAWSIMDSEndpoint = "AWS_EC2_METADATA_SERVICE_ENDPOINT"
	// EnvAWSIMDSDisabled set to "true" turns AWS IMDS off (AWS SDK standard).
	EnvAWSIMDSDisabled = "AWS_EC2_METADATA_DISABLED"
	// EnvAWSEC2Endpoint is the EC2 API base URL (AWS SDK standard).
	EnvAWSEC2Endpoint = "AWS_ENDPOINT_URL_EC2"
	// EnvGCEMetadataHost is the GCE metadata server as host[:port], as Google's client libraries read it.
	EnvGCEMetadataHost = "GCE_METADATA_HOST"
	// EnvAzureIMDSEndpoint is the Azure IMDS base URL.
	EnvAzureIMDSEndpoint = "AZURE_IMDS_ENDPOINT"
)

// Default base URLs of the metadata services and the default timeouts.
const (
	// DefaultAWSBaseURL is AWS IMDS (IPv4), the AWS SDK's own default.
	DefaultAWSBaseURL = "http://169.254.169.254"
	// DefaultAzureBaseURL is Azure IMDS.
	DefaultAzureBaseURL = "http://169.254.169.254"
	// DefaultGCEBaseURL is the GCE metadata server.
	DefaultGCEBaseURL = "http://metadata.google.internal"
	// DefaultTimeout bounds one metadata-service request.
	DefaultTimeout = 2 * time.Second
	// DefaultAPITimeout bounds one cloud API call (EC2 DescribeInstances with its credential lookup).
	DefaultAPITimeout = 10 * time.Second
)

// Sources recorded in Metadata.Sources.
const (
	SourceEnv     = "env"
	SourceAWS     = "aws-imds"
	SourceEC2     = "aws-ec2-api" // ec2:DescribeInstances on the node's own instance
	SourceGCE     = "gce-metadata"
	SourceAzure   = "azure-imds"
	SourceDerived = "derived"
)

// maxBody bounds a metadata response.
const maxBody = 1 << 20

// Metadata is what was discovered about the cluster.
type Metadata struct {
	// Provider is "eks", "gke" or "aks".
	Provider string
	// ClusterName is the cluster's name (EKS, GKE; empty on AKS).
	ClusterName string
	// Region is the cloud region (AKS: the location).
	Region string
	// AccountID is the AWS account (EKS).
	AccountID string
	// InstanceID is the EC2 instance the operator runs on, when IMDS was asked (EKS).
	InstanceID string
	// ProjectID is the GCP project (GKE).
	ProjectID string
	// Location is the GKE cluster location (a region or a zone).
	Location string
	// NodeResourceGroup is the AKS node resource group.
	NodeResourceGroup string
	// SubscriptionID is the Azure subscription (AKS).
	SubscriptionID string
	// Sources maps each environment variable name to where its value came from.
	Sources map[string]string
}

// RegisterRequest builds the registration request for this cluster; clusterID may be empty
// (a new cluster) or the ID already known.
func (m *Metadata) RegisterRequest(clusterID string) castai.RegisterClusterRequest {
	req := castai.RegisterClusterRequest{ID: clusterID}
	switch m.Provider {
	case ProviderEKS:
		req.Name = m.ClusterName
		req.EKS = &castai.EKSParams{ClusterName: m.ClusterName, Region: m.Region, AccountID: m.AccountID}
	case ProviderGKE:
		req.Name = m.ClusterName
		req.GKE = &castai.GKEParams{Region: m.Region, ProjectID: m.ProjectID, ClusterName: m.ClusterName, Location: m.Location}
	case ProviderAKS:
		req.Name = m.ClusterName
		req.AKS = &castai.AKSParams{Region: m.Region, NodeResourceGroup: m.NodeResourceGroup, SubscriptionID: m.SubscriptionID}
	}
	return req
}

// MissingMetadataError says that some metadata could be found neither in the environment
// nor in the cloud metadata service, and which environment variables provide it.
type MissingMetadataError struct {
	// Provider is "eks", "gke" or "aks".
	Provider string
	// MissingEnv lists the environment variables to set on the operator.
	MissingEnv []string
	// Cause is why discovery failed (unreachable service, missing attribute, partial env).
	Cause error
}

// Error names the cause and the environment variables to set, with the Helm flags.
func (e *MissingMetadataError) Error() string {
	var b strings.Builder
	b.WriteString("cluster metadata unavailable")
	if e.Cause != nil {
		b.WriteString(" (" + e.Cause.Error() + ")")
	}
	if len(e.MissingEnv) > 0 {
		b.WriteString("; set " + strings.Join(e.MissingEnv, ", ") + " on the operator (helm:")
		for _, v := range e.MissingEnv {
			b.WriteString(" --set additionalEnv." + v + "=…")
		}
		b.WriteString(")")
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *MissingMetadataError) Unwrap() error { return e.Cause }

// Option configures Discover.
type Option func(*discoverer)

// WithAWSBaseURL sets the AWS IMDS base URL (default: AWS_EC2_METADATA_SERVICE_ENDPOINT, else http://169.254.169.254).
func WithAWSBaseURL(u string) Option { return func(d *discoverer) { d.awsURL = u } }

// WithEC2Endpoint sets the EC2 API base URL (default: AWS_ENDPOINT_URL_EC2, else the region's endpoint).
func WithEC2Endpoint(u string) Option { return func(d *discoverer) { d.ec2URL = u } }

// WithGCEBaseURL sets the GCE metadata server base URL (default: GCE_METADATA_HOST, else http://metadata.google.internal).
func WithGCEBaseURL(u string) Option { return func(d *discoverer) { d.gceURL = u } }

// WithAzureBaseURL sets the Azure IMDS base URL (default: AZURE_IMDS_ENDPOINT, else http://169.254.169.254).
func WithAzureBaseURL(u string) Option { return func(d *discoverer) { d.azureURL = u } }

// WithTimeout sets the timeout of each metadata request (default 2s).
func WithTimeout(t time.Duration) Option { return func(d *discoverer) { d.timeout = t } }

// WithAPITimeout sets the timeout of each cloud API call (default 10s).
func WithAPITimeout(t time.Duration) Option { return func(d *discoverer) { d.apiTimeout = t } }

// WithHTTPClient sets the HTTP client of every request, metadata and API alike (default: metadata
// requests never use a proxy; API calls honour HTTPS_PROXY/NO_PROXY and AWS_CA_BUNDLE, which
// the AWS SDK cannot apply to a client given here).
func WithHTTPClient(c *http.Client) Option { return func(d *discoverer) { d.http, d.apiHTTP = c, c } }

type discoverer struct {
	env        func(string) string
	awsURL     string // empty: the AWS SDK's resolution
	ec2URL     string // empty: the AWS SDK's resolution
	gceURL     string
	azureURL   string
	timeout    time.Duration
	apiTimeout time.Duration
	http       *http.Client   // metadata services
	apiHTTP    aws.HTTPClient // cloud APIs
}

// adjustTransport is applied to every transport this package builds; tests make it refuse any
// address that is not loopback.
var adjustTransport = func(*http.Transport) {}

// Discover returns the cluster metadata of provider ("eks", "gke" or "aks"), read from env
// (os.Getenv when nil) first, each variable overriding its own value, and from the cloud for
// what env lacks. Any failure to find a value is a *MissingMetadataError.
func Discover(ctx context.Context, provider string, env func(string) string, opts ...Option) (*Metadata, error) {
	if env == nil {
		env = os.Getenv
	}
	d := newDiscoverer(env, opts)
	var m *Metadata
	var err error
	switch p := strings.ToLower(strings.TrimSpace(provider)); p {
	case ProviderEKS:
		m, err = d.eks(ctx)
	case ProviderGKE:
		m, err = d.gke(ctx)
	case ProviderAKS:
		m, err = d.aks(ctx)
	default:
		return nil, fmt.Errorf("cluster metadata: unsupported provider %q (want eks, gke or aks)", provider)
	}
	if err != nil && ctx.Err() != nil {
		// The caller gave up: that is not a reason to ask for environment variables.
		return nil, fmt.Errorf("cluster metadata: %w", ctx.Err())
	}
	return m, err
}

// newDiscoverer applies opts over the defaults; endpoint variables fill what no option set.
func newDiscoverer(env func(string) string, opts []Option) *discoverer {
	d := &discoverer{env: func(k string) string { return strings.TrimSpace(env(k)) }}
	for _, o := range opts {
		o(d)
	}
	if d.gceURL == "" {
		d.gceURL = DefaultGCEBaseURL
		if h := d.env(EnvGCEMetadataHost); strings.Contains(h, "://") {
			d.gceURL = h
		} else if h != "" {
			d.gceURL = "http://" + h // host[:port], as Google's libraries take it
		}
	}
	if d.azureURL == "" {
		d.azureURL = cmp.Or(d.env(EnvAzureIMDSEndpoint), DefaultAzureBaseURL)
	}
	if d.timeout <= 0 {
		d.timeout = DefaultTimeout
	}
	if d.apiTimeout <= 0 {
		d.apiTimeout = DefaultAPITimeout
	}
	if d.http == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.Proxy = nil // metadata services are link-local: never go through a proxy
		adjustTransport(tr)
		d.http = &http.Client{Transport: tr}
	}
	if d.apiHTTP == nil {
		d.apiHTTP = awshttp.NewBuildableClient().WithTransportOptions(adjustTransport)
	}
	return d
}

// get performs one bounded metadata request and returns the body of a 200 answer and the
// answer's header (also with a statusError).
func (d *discoverer) get(ctx context.Context, method, url string, header http.Header) ([]byte, http.Header, error) {
	rctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, method, url, nil)
	if err != nil {
		return nil, nil, err
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := d.http.Do(req)
	if err != nil {
		if rctx.Err() != nil && ctx.Err() == nil {
			return nil, nil, &unreachableError{fmt.Errorf("%s %s: no answer within %s: %w", method, req.URL.Path, d.timeout, err)}
		}
		return nil, nil, &unreachableError{err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, resp.Header, &unreachableError{fmt.Errorf("%s %s: reading answer: %w", method, req.URL.Path, err)}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, resp.Header, &statusError{method: method, path: req.URL.Path, status: resp.StatusCode}
	}
	return body, resp.Header, nil
}

// unreachableError marks a transport failure: no further request to that service is tried.
type unreachableError struct{ err error }

// Error returns the transport error's message.
func (e *unreachableError) Error() string { return e.err.Error() }

// Unwrap returns the transport error.
func (e *unreachableError) Unwrap() error { return e.err }

// statusError is a non-200 answer of a metadata service.
type statusError struct {
	method, path string
	status       int
}

// Error names the request and the status.
func (e *statusError) Error() string {
	return fmt.Sprintf("%s %s: HTTP %d %s", e.method, e.path, e.status, http.StatusText(e.status))
}

func isUnreachable(err error) bool {
	var u *unreachableError
	return errors.As(err, &u)
}

// envPick reads names from env and returns the values, and those missing, in order.
func (d *discoverer) envPick(m *Metadata, names ...string) (vals map[string]string, missing []string) {
	vals = map[string]string{}
	for _, n := range names {
		if v := d.env(n); v != "" {
			vals[n] = v
			m.Sources[n] = SourceEnv
		} else {
			missing = append(missing, n)
		}
	}
	return vals, missing
}
