package values

import (
	"errors"
	"strings"
	"testing"
)

func TestRejectKeys(t *testing.T) {
	tests := []struct {
		name string
		v    map[string]any
		bad  string
	}{
		{"no key", map[string]any{"replicas": 2, "castai": map[string]any{"clusterID": "x"}}, ""},
		{"agent apiKey", map[string]any{"apiKey": "secret"}, "apiKey"},
		{"castai.apiKey", map[string]any{"castai": map[string]any{"apiKey": "secret"}}, "castai.apiKey"},
		{"any spelling", map[string]any{"castai": map[string]any{"API_KEY": "secret"}}, "castai.API_KEY"},
		{"an empty key is not a key", map[string]any{"apiKey": ""}, ""},
		{"the Secret reference is fine", map[string]any{"apiKeySecretRef": "castai-agent"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := RejectKeys(tt.v)
			if tt.bad == "" {
				if err != nil {
					t.Fatalf("unexpected %v", err)
				}
				return
			}
			if !errors.Is(err, ErrKeyInValues) || !strings.Contains(err.Error(), tt.bad) || !strings.Contains(err.Error(), "spec.apiKeySecret") {
				t.Fatalf("err = %v; want ErrKeyInValues naming %s and the Secret", err, tt.bad)
			}
		})
	}
}
