package v1alpha1

import "strings"

// RetryRequest is the value of AnnotationRetryRequest asking to apply the failed attempt at version again.
func RetryRequest(version, requestID string) string { return version + "/" + requestID }

// ParseRetryRequest splits a value of AnnotationRetryRequest; ok is false when it names no request ID.
func ParseRetryRequest(s string) (version, requestID string, ok bool) {
	version, requestID, ok = strings.Cut(s, "/")
	return version, requestID, ok && requestID != ""
}
