package catalog

import (
	"strings"
	"testing"

	"github.com/castware-operator/castware-operator/internal/values"
)

// TestShippedCatalogUsesSecretReferences: every shipped component takes the API key as a Secret reference, so
// no release's values ever hold it; a catalog entry mapping {{ .APIKey }} (a chart that only takes plaintext)
// is rendered from the Secret at install time instead, which is for charts outside the shipped catalog.
func TestShippedCatalogUsesSecretReferences(t *testing.T) {
	const key = "a-key-that-must-not-appear"
	facts := ClusterFacts{APIURL: "https://api.cast.ai", Provider: "eks", ProviderCloud: "aws", ClusterID: "3f1c9a52-7d4e-4b8a-9c2d-1e5f6a7b8c9d",
		APIKeySecret: "castware-api-key", Namespace: "castai-agent", APIKey: key}
	for _, e := range repoCatalog(t).Entries() {
		if e.UsesFact("APIKey") {
			t.Errorf("%s maps the plaintext API key into its values", e.Component)
		}
		vals, err := e.Compose(facts, nil, func(string) string { return "" })
		if err != nil {
			t.Fatalf("%s: %v", e.Component, err)
		}
		referenced := false
		for _, p := range values.Paths(vals) {
			v, _ := values.GetPath(vals, p)
			if s, ok := v.(string); ok {
				if strings.Contains(s, key) {
					t.Errorf("%s: values %s hold the key", e.Component, p)
				}
				referenced = referenced || s == facts.APIKeySecret
			}
		}
		if !referenced {
			t.Errorf("%s: no value references the API-key Secret %s", e.Component, facts.APIKeySecret)
		}
	}
}
