// Package version holds the operator's version, set at build time with
// -ldflags "-X github.com/castware-operator/castware-operator/internal/version.Version=v1.2.3".
package version

import "strings"

var (
	// Version is the operator's semantic version with a leading "v".
	Version = "v0.1.0-dev"
	// Commit is the git commit the binary was built from.
	Commit = "unknown"
)

// Plain returns Version without the leading "v".
func Plain() string { return strings.TrimPrefix(Version, "v") }

// UserAgent is the User-Agent the operator sends to Cast AI.
func UserAgent() string { return "castware-operator/" + Version }
