package values

import (
	"fmt"
	"sort"
	"strings"
)

// consoleDenied are the keys a console valuesOverrides path may not go through when the catalog entry
// lists no paths of its own: they rewrite what runs (image, command), give it host or extra access
// (host namespaces and paths, privileges, volumes, containers, identity) or move its key and traffic
// elsewhere. Compared in lower case.
var consoleDenied = map[string]bool{
	"image": true, "images": true, "repository": true, "registry": true, "tag": true, "digest": true,
	"command": true, "args": true, "entrypoint": true,
	"hostpath": true, "hostnetwork": true, "hostpid": true, "hostipc": true, "hostport": true, "hostaliases": true,
	"privileged": true, "securitycontext": true, "podsecuritycontext": true, "containersecuritycontext": true,
	"capabilities": true, "allowprivilegeescalation": true,
	"volumes": true, "volumemounts": true, "extravolumes": true, "extravolumemounts": true,
	"initcontainers": true, "extracontainers": true, "sidecars": true, "extrainitcontainers": true,
	"serviceaccount": true, "serviceaccountname": true, "rbac": true,
	"apikey": true, "apikeysecretref": true, "apiurl": true, "apiurls": true, "url": true, "endpoint": true,
	"proxy": true, "httpproxy": true, "httpsproxy": true,
}

// CheckConsolePaths refuses the dot paths of a console action's valuesOverrides that the component's
// catalog entry does not allow. With allowed patterns (dot paths; "*" matches any one key) a path must lie
// under one of them; without, no key of the path may be one that rewrites what runs, widens its access or
// redirects its key (see consoleDenied). The error names every refused path.
func CheckConsolePaths(flat map[string]string, allowed []string) error {
	var refused []string
	for path := range flat {
		keys, err := SplitPath(path)
		if err != nil {
			return fmt.Errorf("valuesOverrides: %w", err)
		}
		if !consolePathAllowed(keys, allowed) {
			refused = append(refused, path)
		}
	}
	if len(refused) == 0 {
		return nil
	}
	sort.Strings(refused)
	if len(allowed) > 0 {
		return fmt.Errorf("valuesOverrides: %s not allowed from the console for this component (allowed: %s); set them in the Component's spec.values",
			quoteAll(refused), strings.Join(allowed, ", "))
	}
	return fmt.Errorf("valuesOverrides: %s not allowed from the console: images, commands, host access, privileges, volumes, "+
		"service accounts and API endpoints or keys are set in the Component's spec.values", quoteAll(refused))
}

func consolePathAllowed(keys, allowed []string) bool {
	if len(allowed) == 0 {
		for _, k := range keys {
			if consoleDenied[strings.ToLower(k)] {
				return false
			}
		}
		return true
	}
	for _, pattern := range allowed {
		if underPattern(keys, pattern) {
			return true
		}
	}
	return false
}

// underPattern reports whether keys lie at or under the dot-path pattern.
func underPattern(keys []string, pattern string) bool {
	pk, err := SplitPath(pattern)
	if err != nil || len(pk) > len(keys) {
		return false
	}
	for i, p := range pk {
		if p != "*" && p != keys[i] {
			return false
		}
	}
	return true
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}
