package selfupgrade

import (
	"fmt"

	"github.com/Masterminds/semver/v3"
)

// CheckTarget decides whether the operator release running chart runName at runVersion may move to
// chart toName at toVersion: the chart must be the same (never another product's chart), both versions
// semantic versions, and the target not lower than the running version unless rollback is asked for.
func CheckTarget(runName, runVersion, toName, toVersion string, rollback bool) error {
	if toName != runName {
		return fmt.Errorf("%w: the release runs chart %q, the target is %q", ErrWrongChart, runName, toName)
	}
	run, err := semver.NewVersion(runVersion)
	if err != nil {
		return fmt.Errorf("running version %q: %w", runVersion, ErrBadVersion)
	}
	to, err := semver.NewVersion(toVersion)
	if err != nil {
		return fmt.Errorf("target version %q: %w", toVersion, ErrBadVersion)
	}
	if to.LessThan(run) && !rollback {
		return fmt.Errorf("%w: %s is lower than the running %s", ErrDowngrade, toVersion, runVersion)
	}
	return nil
}
