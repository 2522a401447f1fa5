package charts

import "errors"

// ErrNoDigest reports an index entry that announces no digest for its archive: nothing would prove the
// archive downloaded is the one the repository published (see WithoutDigests).
var ErrNoDigest = errors.New("chart index entry has no digest")

// WithoutDigests accepts index entries that announce no digest (refused by default: every index Helm's
// `helm repo index` and chart-releaser write has one).
func WithoutDigests() Option {
	return func(c *config) { c.allowNoDigest = true }
}

// requireDigest fails an index entry without a digest unless the loader accepts those.
func (l *Loader) requireDigest(digest string) error {
	if digest != "" || l.cfg.allowNoDigest {
		return nil
	}
	return fail(ErrNoDigest, nil, "the repository's index announces no sha256 digest for the archive, so its content cannot be verified; "+
		"publish the index with digests (helm repo index writes them) or start the operator with --allow-charts-without-digest")
}
