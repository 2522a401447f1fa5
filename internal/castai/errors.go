package castai

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	secrets "github.com/castware-operator/castware-operator/internal/redact"
)

// ErrNoAPIKey is returned, before any request is sent, when the KeySource yields an empty key.
var ErrNoAPIKey = errors.New("castai: no API key")

// ErrNotFound matches (errors.Is) every API answer with status 404.
var ErrNotFound = errors.New("castai: not found")

// ErrUnauthorized matches (errors.Is) every API answer with status 401.
var ErrUnauthorized = errors.New("castai: unauthorized")

// ErrMalformedResponse matches errors about a success answer whose body could not be decoded.
var ErrMalformedResponse = errors.New("castai: malformed response")

// redactedMark replaces the API key wherever it would otherwise appear.
const redactedMark = secrets.Placeholder

// maxErrorSnippet bounds how much of a response body ends up in an error message.
const maxErrorSnippet = 256

// FieldViolation is one entry of an API error's fieldViolations.
type FieldViolation struct {
	Field       string `json:"field"`
	Description string `json:"description"`
}

// APIError is a non-2xx answer of the Cast AI API, decoded from {message, fieldViolations}.
type APIError struct {
	// StatusCode is the HTTP status of the answer.
	StatusCode int
	// Message is the API's message, or a snippet of a body that was not JSON.
	Message string
	// FieldViolations lists the invalid request fields the API named.
	FieldViolations []FieldViolation
	// RetryAfter is how long the answer's Retry-After header asked the client to wait (0: none).
	RetryAfter time.Duration
}

// Error formats the status, message and field violations.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP %d", e.StatusCode)
	if t := http.StatusText(e.StatusCode); t != "" {
		b.WriteString(" " + t)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if len(e.FieldViolations) > 0 {
		parts := make([]string, 0, len(e.FieldViolations))
		for _, v := range e.FieldViolations {
			parts = append(parts, v.Field+": "+v.Description)
		}
		b.WriteString(" (" + strings.Join(parts, "; ") + ")")
	}
	return b.String()
}

// Is makes errors.Is(err, ErrNotFound) and errors.Is(err, ErrUnauthorized) follow the status.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized
	}
	return false
}

// Retryable reports whether the status is worth retrying (429 or 5xx).
func (e *APIError) Retryable() bool {
	return e.StatusCode == http.StatusTooManyRequests || e.StatusCode >= 500
}

// IsUnauthorized reports whether err is (or wraps) an API answer with status 401.
func IsUnauthorized(err error) bool { return errors.Is(err, ErrUnauthorized) }

// IsForbidden reports whether err is (or wraps) an API answer with status 403.
func IsForbidden(err error) bool { return statusOf(err) == http.StatusForbidden }

// IsNotFound reports whether err is (or wraps) an API answer with status 404.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// RetryAfter returns how long the API asked (Retry-After, on a 429 or 5xx answer) to wait before the next
// request, or 0: a caller that retries after the client gave up waits at least that long.
func RetryAfter(err error) time.Duration {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.RetryAfter
	}
	return 0
}

// StatusCode returns the HTTP status of the APIError inside err, or 0.
func StatusCode(err error) int { return statusOf(err) }

func statusOf(err error) int {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.StatusCode
	}
	return 0
}

// apiErrorBody is the wire shape of an error answer.
type apiErrorBody struct {
	Message         string           `json:"message"`
	FieldViolations []FieldViolation `json:"fieldViolations"`
}

// decodeAPIError builds an APIError from a non-2xx answer, never failing: a body that is
// not the documented JSON shape becomes a (truncated) snippet. The key is redacted.
func decodeAPIError(status int, body []byte, key string) *APIError {
	ae := &APIError{StatusCode: status}
	var wire apiErrorBody
	if err := json.Unmarshal(body, &wire); err == nil {
		ae.Message = truncate(redact(strings.TrimSpace(wire.Message), key), 1024)
		for _, v := range wire.FieldViolations {
			ae.FieldViolations = append(ae.FieldViolations, FieldViolation{
				Field:       truncate(redact(v.Field, key), 256),
				Description: truncate(redact(v.Description, key), 1024),
			})
		}
		return ae
	}
	ae.Message = snippet(body, key)
	return ae
}

// snippet returns a printable, redacted, bounded excerpt of a body.
func snippet(body []byte, key string) string {
	s := strings.ToValidUTF8(string(body), "?")
	s = strings.TrimSpace(redact(s, key))
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	return truncate(s, maxErrorSnippet)
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// minRedactLen is the shortest key that is redacted; shorter strings would mangle text.
const minRedactLen = 4

// redact replaces every occurrence of key in s, and of every secret registered with internal/redact (the
// keys the operator read from Secrets: a message may quote another Cluster's key, or the plaintext key of a
// chart's values).
func redact(s, key string) string {
	if len(key) >= minRedactLen {
		for i := 0; i < 8 && strings.Contains(s, key); i++ {
			s = strings.ReplaceAll(s, key, redactedMark)
		}
	}
	return secrets.String(s)
}

// redactedError keeps the chain of err for errors.Is/As but prints a redacted message.
type redactedError struct {
	msg string
	err error
}

// Error returns the redacted message.
func (e *redactedError) Error() string { return e.msg }

// Unwrap returns the original error.
func (e *redactedError) Unwrap() error { return e.err }

// redactErr is the last line of defence: an error whose message contains the key is wrapped
// so that its message no longer does.
func redactErr(err error, key string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := redact(msg, key)
	if clean == msg {
		return err
	}
	return &redactedError{msg: clean, err: err}
}
