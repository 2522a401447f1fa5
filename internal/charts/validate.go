package charts

// ValidateRepository checks a repository string the way the loader reads it (an https, http, oci or file URL,
// or an absolute path) without contacting it; admission webhooks use it.
func ValidateRepository(raw string) error {
	_, err := parseRepo(raw, "chart")
	return err
}
