package catalog

import (
	"fmt"
	"time"
)

// Claim is a Component's hold on a Helm release name.
type Claim struct {
	// Component is the Component's namespace/name.
	Component string
	// Release is the release name it uses.
	Release string
	// Installed is true once a revision of the release was made for it.
	Installed bool
	// Created is when the Component was created (the older of two uninstalled claims wins).
	Created time.Time
}

// ReleaseConflict says why self may not use its release name: it is the operator's own release (own), or
// another Component holds it (installed first, or created first while neither is installed). "" when
// self may use it.
func ReleaseConflict(self Claim, own string, others []Claim) string {
	if own != "" && self.Release == own {
		return fmt.Sprintf("release name %q is the operator's own release: a Component may never install, upgrade or uninstall it", own)
	}
	for _, o := range others {
		if o.Component == self.Component || o.Release != self.Release || self.Installed {
			continue
		}
		if o.Installed || o.Created.Before(self.Created) || (o.Created.Equal(self.Created) && o.Component < self.Component) {
			return fmt.Sprintf("release name %q belongs to Component %s: two Components cannot share a release", self.Release, o.Component)
		}
	}
	return ""
}
