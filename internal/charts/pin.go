package charts

import (
	"regexp"
	"strings"
	"sync"
)

// pinPattern is an explicit digest pin after a version, as Helm writes OCI references: "1.2.3@sha256:<hex>".
var pinPattern = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// splitPin splits "1.2.3@sha256:<hex>" into the version and the pinned manifest digest ("" when unpinned).
func splitPin(version string) (string, string, error) {
	v, pin, found := strings.Cut(version, "@")
	if !found {
		return version, "", nil
	}
	pin = strings.ToLower(pin)
	if v == "" || !pinPattern.MatchString(pin) {
		return "", "", fail(ErrInvalidRef, nil, "version %q: a pin is an exact version followed by @sha256:<64 hex digits>", version)
	}
	return v, pin, nil
}

// tagPins remembers the manifest digest each OCI tag (a chart version) first resolved to: a chart version
// is immutable, so a tag that later resolves to another digest has been moved and is refused.
type tagPins struct {
	mu   sync.Mutex
	seen map[string]string
}

// check records digest for tagRef, or fails with ErrDigestMismatch when tagRef resolved to another digest
// before. An explicit pin that digest matches re-records it (the user vouches for the new content).
func (p *tagPins) check(tagRef, digest, pin string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.seen == nil {
		p.seen = map[string]string{}
	}
	prev, ok := p.seen[tagRef]
	switch {
	case pin != "" && pin != digest:
		return fail(ErrDigestMismatch, nil, "tag %s is pinned to %s but the registry resolves it to %s", tagRef, pin, digest)
	case pin == "" && ok && prev != digest:
		return fail(ErrDigestMismatch, nil, "tag %s moved from %s to %s: a chart version is immutable; to accept the new content, set the Component's spec.chartDigest to %s (or ask for %s@%s)",
			tagRef, prev, digest, digest, tagVersion(tagRef), digest)
	}
	p.seen[tagRef] = digest
	return nil
}

// tagVersion is the tag of "host/path/name:tag".
func tagVersion(tagRef string) string { return tagRef[strings.LastIndex(tagRef, ":")+1:] }
