package selfupgrade

import (
	"reflect"
	"testing"
)

func TestUpgradeValuesDropTheAPIKey(t *testing.T) {
	for _, c := range []struct {
		name   string
		config map[string]any
		want   map[string]any
	}{
		{"key given at install", map[string]any{"apiKeySecret": map[string]any{"apiKey": "k", "create": true, "name": "castai-agent"}},
			map[string]any{"apiKeySecret": map[string]any{"create": false, "name": "castai-agent"}}},
		{"key given, create left to the default", map[string]any{"apiKeySecret": map[string]any{"apiKey": "k"}},
			map[string]any{"apiKeySecret": map[string]any{"create": false}}},
		{"own Secret, no key", map[string]any{"apiKeySecret": map[string]any{"create": false, "name": "mine"}},
			map[string]any{"apiKeySecret": map[string]any{"create": false, "name": "mine"}}},
		{"nothing about the key", map[string]any{"replicaCount": 2}, map[string]any{"replicaCount": 2}},
	} {
		got := UpgradeValues(c.config)
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: UpgradeValues = %v, want %v", c.name, got, c.want)
		}
	}
	cfg := map[string]any{"apiKeySecret": map[string]any{"apiKey": "k"}}
	UpgradeValues(cfg)
	if cfg["apiKeySecret"].(map[string]any)["apiKey"] != "k" {
		t.Error("UpgradeValues modified the release's config")
	}
}
