// Package metadata discovers what cluster registration needs (account, project, region,
// cluster name, ...) from operator environment variables and, for values the environment
// does not give, from the cloud's instance metadata service: AWS IMDSv2, the GCE metadata
// server or Azure IMDS. When neither source has a value, the error names exactly which
// environment variables to set on the operator.
package metadata

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

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

// Default base URLs of the metadata services and the default per-request timeout.
const (
	DefaultAWSBaseURL   = "http://169.254.169.254"
	DefaultAzureBaseURL = "http://169.254.169.254"
	DefaultGCEBaseURL   = "http://metadata.google.internal"
	DefaultTimeout      = 2 * time.Second
	DefaultIMDSTokenTTL = 5 * time.Minute
)

// Sources recorded in Metadata.Sources.
const (
	SourceEnv     = "env"
	SourceAWS     = "aws-imds"
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

// WithAWSBaseURL sets the AWS IMDS base URL (default http://169.254.169.254).
func WithAWSBaseURL(u string) Option { return func(d *discoverer) { d.awsURL = u } }

// WithGCEBaseURL sets the GCE metadata server base URL (default http://metadata.google.internal).
func WithGCEBaseURL(u string) Option { return func(d *discoverer) { d.gceURL = u } }

// WithAzureBaseURL sets the Azure IMDS base URL (default http://169.254.169.254).
func WithAzureBaseURL(u string) Option { return func(d *discoverer) { d.azureURL = u } }

// WithTimeout sets the timeout of each metadata request (default 2s).
func WithTimeout(t time.Duration) Option { return func(d *discoverer) { d.timeout = t } }

// WithHTTPClient sets the HTTP client (default: no proxy, no overall timeout).
func WithHTTPClient(c *http.Client) Option { return func(d *discoverer) { d.http = c } }

// WithIMDSTokenTTL sets the TTL requested for the IMDSv2 session token (default 5m).
func WithIMDSTokenTTL(t time.Duration) Option { return func(d *discoverer) { d.tokenTTL = t } }

type discoverer struct {
	env      func(string) string
	awsURL   string
	gceURL   string
	azureURL string
	timeout  time.Duration
	tokenTTL time.Duration
	http     *http.Client
}

// Discover returns the cluster metadata of provider ("eks", "gke" or "aks"), read from env
// (os.Getenv when nil) first and from the cloud metadata service for what env lacks. Any
// failure to find a value is a *MissingMetadataError.
func Discover(ctx context.Context, provider string, env func(string) string, opts ...Option) (*Metadata, error) {
	if env == nil {
		env = os.Getenv
	}
	d := &discoverer{
		env:      func(k string) string { return strings.TrimSpace(env(k)) },
		awsURL:   DefaultAWSBaseURL,
		gceURL:   DefaultGCEBaseURL,
		azureURL: DefaultAzureBaseURL,
		timeout:  DefaultTimeout,
		tokenTTL: DefaultIMDSTokenTTL,
	}
	for _, o := range opts {
		o(d)
	}
	if d.timeout <= 0 {
		d.timeout = DefaultTimeout
	}
	if d.tokenTTL < time.Second {
		d.tokenTTL = DefaultIMDSTokenTTL
	}
	if d.http == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.Proxy = nil // metadata services are link-local: never go through a proxy
		d.http = &http.Client{Transport: tr}
	}
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

// get performs one bounded metadata request and returns the body of a 200 answer.
func (d *discoverer) get(ctx context.Context, method, url string, header http.Header) ([]byte, error) {
	rctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, method, url, nil)
	if err != nil {
		return nil, err
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := d.http.Do(req)
	if err != nil {
		if rctx.Err() != nil && ctx.Err() == nil {
			return nil, &unreachableError{fmt.Errorf("%s %s: no answer within %s: %w", method, req.URL.Path, d.timeout, err)}
		}
		return nil, &unreachableError{err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, &unreachableError{fmt.Errorf("%s %s: reading answer: %w", method, req.URL.Path, err)}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &statusError{method: method, path: req.URL.Path, status: resp.StatusCode}
	}
	return body, nil
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
