package values

import (
	"strings"
	"testing"
)

func TestCheckConsolePaths(t *testing.T) {
	for _, c := range []struct {
		name    string
		flat    map[string]string
		allowed []string
		refused []string // paths the error must name; nil: allowed
	}{
		{"ordinary settings", map[string]string{"replicaCount": "2", "resources.limits.memory": "512Mi", "autoscaler.enabled": "true"}, nil, nil},
		{"image rewritten", map[string]string{"image.repository": "evil.example/agent"}, nil, []string{"image.repository"}},
		{"nested image tag", map[string]string{"controller.image.tag": "latest"}, nil, []string{"controller.image.tag"}},
		{"command", map[string]string{"agent.command": "sh"}, nil, []string{"agent.command"}},
		{"host path volume", map[string]string{"extraVolumes.0.hostPath.path": "/"}, nil, []string{"extraVolumes.0.hostPath.path"}},
		{"case does not matter", map[string]string{"HostNetwork": "true", "SecurityContext.privileged": "true"}, nil,
			[]string{"HostNetwork", "SecurityContext.privileged"}},
		{"API endpoint moved", map[string]string{"castai.apiURL": "https://evil.example"}, nil, []string{"castai.apiURL"}},
		{"escaped dot is one key", map[string]string{`annotations.example\.com/image`: "x"}, nil, nil},
		{"allow-list: under a pattern", map[string]string{"resources.limits.cpu": "1", "config.level": "debug"},
			[]string{"resources", "config.level"}, nil},
		{"allow-list: wildcard", map[string]string{"workloads.agent.replicas": "2"}, []string{"workloads.*.replicas"}, nil},
		{"allow-list: outside", map[string]string{"resources.limits.cpu": "1", "nodeSelector.x": "y"}, []string{"resources"},
			[]string{"nodeSelector.x"}},
		{"allow-list may allow an image tag explicitly", map[string]string{"image.tag": "1.2.3"}, []string{"image.tag"}, nil},
		{"pattern longer than the path", map[string]string{"resources": "x"}, []string{"resources.limits"}, []string{"resources"}},
	} {
		err := CheckConsolePaths(c.flat, c.allowed)
		if c.refused == nil {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: allowed, want %v refused", c.name, c.refused)
			continue
		}
		for _, p := range c.refused {
			if !strings.Contains(err.Error(), `"`+p+`"`) {
				t.Errorf("%s: error %q does not name %q", c.name, err, p)
			}
		}
		if !strings.Contains(err.Error(), "spec.values") {
			t.Errorf("%s: error %q does not say where such values go", c.name, err)
		}
	}
}

func TestCheckConsolePathsMalformed(t *testing.T) {
	if err := CheckConsolePaths(map[string]string{"a..b": "x"}, nil); err == nil {
		t.Error("a path with an empty key was accepted")
	}
}
