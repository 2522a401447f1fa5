package clusterspec

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
)

// Validate checks what the API server's schema cannot: a provider is set, the API URL is an absolute
// http(s) URL with a host, and an API-key Secret is named.
func Validate(spec *castwarev1.ClusterSpec) error {
	if spec.Provider == "" {
		return errors.New("spec.provider is required (eks, gke, aks, ...)")
	}
	if err := ValidateAPIURL(spec.API.APIURL); err != nil {
		return err
	}
	if spec.APIKeySecret == "" {
		return errors.New("spec.apiKeySecret is required")
	}
	return nil
}

// ValidateAPIURL checks a Cast AI API URL.
func ValidateAPIURL(raw string) error {
	if raw == "" {
		return errors.New("spec.api.apiUrl is required (e.g. https://api.cast.ai)")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("spec.api.apiUrl %q is not a URL: %w", raw, err)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return fmt.Errorf("spec.api.apiUrl %q must start with https:// (or http:// for a local API)", raw)
	}
	if u.Host == "" {
		return fmt.Errorf("spec.api.apiUrl %q has no host", raw)
	}
	if u.User != nil {
		return errors.New("spec.api.apiUrl must not contain credentials")
	}
	return nil
}

// DerivedGRPCURLs returns the gRPC and kvisor endpoints for an API URL the way the documented operator
// defaults them: api.cast.ai gives grpc.cast.ai and kvisor.cast.ai. Hosts with fewer than two labels give "".
func DerivedGRPCURLs(apiURL string) (grpc, kvisor string) {
	u, err := url.Parse(apiURL)
	if err != nil || u.Hostname() == "" {
		return "", ""
	}
	labels := strings.Split(u.Hostname(), ".")
	if len(labels) < 2 {
		return "", ""
	}
	rest := strings.Join(labels[1:], ".")
	return "grpc." + rest, "kvisor." + rest
}

// RegisteredAPIURL keeps a registered Cluster's API key home: once Cast AI gave the Cluster an ID, its
// spec.api.apiUrl must name a Cast AI host (cast.ai or *.cast.ai) or a loopback address. Whoever may edit
// the Cluster could otherwise point the operator, and the key it sends with every call, at any server.
func RegisteredAPIURL(cl *castwarev1.Cluster) error {
	if cl.ClusterID() == "" {
		return nil
	}
	u, err := url.Parse(cl.Spec.API.APIURL)
	if err != nil {
		return fmt.Errorf("spec.api.apiUrl %q is not a URL: %w", cl.Spec.API.APIURL, err)
	}
	host := strings.ToLower(u.Hostname())
	if host == "cast.ai" || strings.HasSuffix(host, ".cast.ai") || IsLoopback(host) {
		return nil
	}
	return fmt.Errorf("spec.api.apiUrl %q: the cluster is registered (id %s), so the API key is only sent to Cast AI's hosts (*.cast.ai) or a loopback address; "+
		"to use another API, remove the Cluster and register again", cl.Spec.API.APIURL, cl.ClusterID())
}
