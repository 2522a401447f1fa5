package values

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// ErrKeyInValues is returned for values that carry an API key.
var ErrKeyInValues = errors.New("API keys are not accepted in values")

// keyNames are the value names (compared without case, '_' or '-') that hold a Cast AI API key in the
// component charts: apiKey at the top (castai-agent) or under castai (cluster-controller, spot-handler, ...).
var keyNames = map[string]bool{"apikey": true}

// RejectKeys fails when v sets an API key at any depth: values are stored in plain text in the Helm
// release, while the key belongs in the Secret the Cluster's spec.apiKeySecret names.
func RejectKeys(v map[string]any) error {
	var found []string
	findKeys(v, "", &found)
	if len(found) == 0 {
		return nil
	}
	sort.Strings(found)
	return fmt.Errorf("%w: %s would be stored in plain text in the Helm release; put the key in the Secret named by the Cluster's spec.apiKeySecret (key API_KEY) and remove it from the values",
		ErrKeyInValues, strings.Join(found, ", "))
}

func findKeys(v map[string]any, prefix string, found *[]string) {
	for k, x := range v {
		path := k
		if prefix != "" {
			path = prefix + "." + k
		}
		norm := strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(k))
		if keyNames[norm] && x != nil && x != "" {
			*found = append(*found, path)
		}
		if m, ok := x.(map[string]any); ok {
			findKeys(m, path, found)
		}
	}
}
