package clusterspec

import (
	"strings"
	"testing"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
)

func TestRegisteredAPIURL(t *testing.T) {
	cluster := func(url, id string) *castwarev1.Cluster {
		cl := &castwarev1.Cluster{}
		cl.Spec.API.APIURL = url
		if id != "" {
			cl.Spec.Cluster = &castwarev1.ClusterMetadataSpec{ClusterID: id}
		}
		return cl
	}
	tests := []struct {
		url, id string
		ok      bool
	}{
		{"https://evil.example", "", true}, // not registered yet: the key reaches Cast AI only through registration
		{"https://api.cast.ai", "c1", true},
		{"https://api.eu.cast.ai/", "c1", true},
		{"https://API.CAST.AI", "c1", true},
		{"http://127.0.0.1:8080", "c1", true},
		{"http://[::1]:8080", "c1", true},
		{"http://localhost:8080", "c1", true},
		{"https://evil.example", "c1", false},
		{"https://cast.ai.evil.example", "c1", false},
		{"https://evilcast.ai", "c1", false},
		{"https://10.0.0.1", "c1", false},
	}
	for _, tt := range tests {
		err := RegisteredAPIURL(cluster(tt.url, tt.id))
		if (err == nil) != tt.ok {
			t.Errorf("%s (id %q): err = %v, want ok %v", tt.url, tt.id, err, tt.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "register again") {
			t.Errorf("%s: the message must say how to use another API: %v", tt.url, err)
		}
	}
}
