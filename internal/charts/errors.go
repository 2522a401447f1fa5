package charts

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

var (
	// ErrInvalidRef reports a Ref that cannot be used (empty name, unsupported repository scheme, …).
	ErrInvalidRef = errors.New("invalid chart reference")
	// ErrChartNotFound reports that the repository has no chart with the requested name.
	ErrChartNotFound = errors.New("chart not found")
	// ErrVersionNotFound reports that the chart exists but not in the requested version.
	ErrVersionNotFound = errors.New("chart version not found")
	// ErrRepoUnavailable reports that the repository could not be reached or answered with an error status.
	ErrRepoUnavailable = errors.New("chart repository unavailable")
	// ErrArchiveUnavailable reports that the index lists the version but its archive could not be downloaded (for example HTTP 404).
	ErrArchiveUnavailable = errors.New("chart archive unavailable")
	// ErrDigestMismatch reports that a downloaded archive does not have the digest the repository announced.
	ErrDigestMismatch = errors.New("chart archive digest mismatch")
	// ErrCorruptArchive reports an archive that is not a gzipped chart, or holds a different chart or version.
	ErrCorruptArchive = errors.New("corrupt chart archive")
	// ErrArchiveTooLarge reports an archive larger than the configured maximum (see WithMaxArchiveBytes).
	ErrArchiveTooLarge = errors.New("chart archive too large")
	// ErrInvalidIndex reports a repository index that cannot be parsed.
	ErrInvalidIndex = errors.New("invalid repository index")
)

// Error is the error type returned by Loader; it names the repository, chart and version and wraps a sentinel error.
type Error struct {
	// Repo is the repository with credentials, query and fragment removed.
	Repo string
	// Chart is the chart name.
	Chart string
	// Version is the requested (or, once resolved, the selected) version; "" means latest.
	Version string
	// Kind is one of the package's sentinel errors, or a context error; nil when unclassified.
	Kind error
	// Detail is a human-readable explanation, possibly empty.
	Detail string
	// Cause is the underlying error, possibly nil.
	Cause error
}

// Error returns a single-line message suitable for a Kubernetes condition; it never contains URL credentials.
func (e *Error) Error() string {
	var b strings.Builder
	if e.Kind != nil {
		b.WriteString(e.Kind.Error())
	} else {
		b.WriteString("loading chart failed")
	}
	fmt.Fprintf(&b, ": chart %q", e.Chart)
	if e.Version == "" {
		b.WriteString(" (latest version)")
	} else {
		fmt.Fprintf(&b, " version %q", e.Version)
	}
	fmt.Fprintf(&b, " from repository %q", e.Repo)
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	if e.Cause != nil {
		b.WriteString(": ")
		b.WriteString(e.Cause.Error())
	}
	return scrubCredentials(b.String())
}

// Unwrap returns the sentinel kind and the cause so that errors.Is and errors.As see both.
func (e *Error) Unwrap() []error {
	var errs []error
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	if e.Cause != nil {
		errs = append(errs, e.Cause)
	}
	return errs
}

// failure is an internal, not yet contextualised error produced deep in a
// source; Loader turns it into an *Error carrying the Ref.
type failure struct {
	kind   error
	detail string
	cause  error
}

func (f *failure) Error() string {
	msg := f.kind.Error()
	if f.detail != "" {
		msg += ": " + f.detail
	}
	if f.cause != nil {
		msg += ": " + f.cause.Error()
	}
	return scrubCredentials(msg)
}

func (f *failure) Unwrap() []error {
	if f.cause == nil {
		return []error{f.kind}
	}
	return []error{f.kind, f.cause}
}

// fail builds a *failure with a formatted detail.
func fail(kind, cause error, format string, args ...any) error {
	return &failure{kind: kind, detail: fmt.Sprintf(format, args...), cause: cause}
}

// wrapErr attaches the Ref to err. It is idempotent: an *Error is returned unchanged.
func wrapErr(ref Ref, err error) error {
	if err == nil {
		return nil
	}
	var done *Error
	if errors.As(err, &done) {
		return done
	}
	out := &Error{Repo: redactURL(ref.Repo), Chart: ref.Name, Version: ref.Version}
	var f *failure
	switch {
	case errors.As(err, &f):
		out.Kind, out.Detail, out.Cause = f.kind, f.detail, f.cause
	case errors.Is(err, context.DeadlineExceeded):
		out.Kind, out.Detail, out.Cause = ErrRepoUnavailable, "timed out", err
	case errors.Is(err, context.Canceled):
		out.Kind, out.Detail = context.Canceled, "loading was cancelled"
	default:
		out.Cause = err
	}
	return out
}

// redactURL removes user info, query and fragment from a URL for use in messages.
// Strings that are not URLs (local paths) are returned unchanged.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return scrubCredentials(raw)
	}
	u.User = nil
	u.RawQuery = ""
	u.ForceQuery = false
	u.Fragment = ""
	u.RawFragment = ""
	return u.String()
}

// userinfoPattern matches the user-info part of any URL embedded in a message.
var userinfoPattern = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.\-]*://)[^/@\s"']*@`)

// scrubCredentials removes user info from every URL found in s.
func scrubCredentials(s string) string {
	return userinfoPattern.ReplaceAllString(s, "$1")
}
