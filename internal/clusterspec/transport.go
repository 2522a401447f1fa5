package clusterspec

import (
	"fmt"
	"net"
	"net/url"
	"strings"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
)

// PlainHTTP lists the Cluster's URLs that travel unencrypted to a host that is not this machine:
// spec.api.apiUrl (which carries the API key) and spec.helmRepoURL (whose charts the operator runs).
func PlainHTTP(spec *castwarev1.ClusterSpec) []string {
	var out []string
	for _, f := range []struct{ field, raw string }{
		{"spec.api.apiUrl", spec.API.APIURL},
		{"spec.helmRepoURL", spec.HelmRepoURL},
	} {
		u, err := url.Parse(f.raw)
		if err == nil && strings.EqualFold(u.Scheme, "http") && !IsLoopback(u.Hostname()) {
			out = append(out, fmt.Sprintf("%s %s", f.field, f.raw))
		}
	}
	return out
}

// AllowsPlainHTTP reports whether the Cluster opted in to plain HTTP (annotation
// castware.cast.ai/allow-plain-http: "true").
func AllowsPlainHTTP(cl *castwarev1.Cluster) bool {
	return cl.Annotations[castwarev1.AnnotationAllowPlainHTTP] == "true"
}

// Transport refuses plain HTTP to a host that is not loopback unless the Cluster opted in.
func Transport(cl *castwarev1.Cluster) error {
	plain := PlainHTTP(&cl.Spec)
	if len(plain) == 0 || AllowsPlainHTTP(cl) {
		return nil
	}
	return fmt.Errorf("%s: plain http to a host that is not loopback (the API key and the charts travel unencrypted); "+
		"use https, or annotate the Cluster %s: \"true\" to accept that", strings.Join(plain, ", "), castwarev1.AnnotationAllowPlainHTTP)
}

// InsecureMessage describes the plain-HTTP URLs a Cluster accepted by opting in ("" when there are none).
func InsecureMessage(cl *castwarev1.Cluster) string {
	plain := PlainHTTP(&cl.Spec)
	if len(plain) == 0 || !AllowsPlainHTTP(cl) {
		return ""
	}
	return fmt.Sprintf("%s: plain http allowed by the %s annotation; the API key and the charts travel unencrypted",
		strings.Join(plain, ", "), castwarev1.AnnotationAllowPlainHTTP)
}

// IsLoopback reports whether host is localhost or a loopback address.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
