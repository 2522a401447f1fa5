package migration

import "testing"

func TestVersionFromChartLabel(t *testing.T) {
	tests := []struct {
		label  string
		charts []string
		want   string
	}{
		{"castai-agent-0.161.1", []string{"castai-agent"}, "0.161.1"},
		{"castai-agent-0.161.1", nil, "0.161.1"},
		{"castai-agent-0.0.1-test", []string{"castai-agent"}, "0.0.1-test"},
		{"castai-agent-0.0.1-test", nil, "0.0.1-test"},
		{"k8s-agent-1.2.3", nil, "1.2.3"},
		{"foo-2x-1.0.0", nil, "1.0.0"},
		{"test-agent-1.0.0", []string{"castai-agent", "test-agent"}, "1.0.0"},
		{"castai-spot-handler-0.35.5", []string{"castai-spot-handler"}, "0.35.5"},
		{"castai-agent", []string{"castai-agent"}, ""},
		{"castai-agent-latest", []string{"castai-agent"}, ""},
		{"", nil, ""},
		{"-1.0.0", nil, "1.0.0"},
		{"chart-01.2.3", nil, ""},
	}
	for _, tt := range tests {
		if got := VersionFromChartLabel(tt.label, tt.charts...); got != tt.want {
			t.Errorf("VersionFromChartLabel(%q, %v) = %q, want %q", tt.label, tt.charts, got, tt.want)
		}
	}
}

func TestImageParts(t *testing.T) {
	tests := []struct{ image, repo, tag string }{
		{"us-docker.pkg.dev/castai-hub/library/agent:v0.161.1", "us-docker.pkg.dev/castai-hub/library/agent", "v0.161.1"},
		{"castai/agent:0.30.0", "castai/agent", "0.30.0"},
		{"registry.local:5000/agent", "registry.local:5000/agent", ""},
		{"registry.local:5000/agent:v1.2.3@sha256:abcd", "registry.local:5000/agent", "v1.2.3"},
		{"agent@sha256:abcd", "agent", ""},
		{"agent:latest", "agent", "latest"},
		{"agent:v1.2", "agent", "v1.2"},
		{"", "", ""},
	}
	for _, tt := range tests {
		repo, tag := ImageParts(tt.image)
		if repo != tt.repo || tag != tt.tag {
			t.Errorf("ImageParts(%q) = %q, %q; want %q, %q", tt.image, repo, tag, tt.repo, tt.tag)
		}
	}
}
