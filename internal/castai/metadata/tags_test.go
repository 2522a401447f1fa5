package metadata

import (
	"errors"
	"testing"
)

func TestClusterNameFromTags(t *testing.T) {
	tests := []struct {
		name string
		tags map[string]string
		want string
		err  error
	}{
		{name: "eksctl before ownership", tags: map[string]string{"alpha.eksctl.io/cluster-name": "a", "kubernetes.io/cluster/b": "owned"}, want: "a"},
		{name: "eks before eksctl", tags: map[string]string{"eks:cluster-name": "a", "alpha.eksctl.io/cluster-name": "b"}, want: "a"},
		{name: "kubernetes.io before k8s.io", tags: map[string]string{"k8s.io/cluster/b": "owned", "kubernetes.io/cluster/a": "owned"}, want: "a"},
		{name: "ownership before kops", tags: map[string]string{"KubernetesCluster": "b", "k8s.io/cluster/a": "owned"}, want: "a"},
		{name: "same name twice is not ambiguous", tags: map[string]string{"kubernetes.io/cluster/a": "owned", "eks:cluster-name": " ", "KubernetesCluster": "a"}, want: "a"},
		{name: "empty values and names do not count", tags: map[string]string{"eks:cluster-name": "", "kubernetes.io/cluster/": "owned"}, err: errNoClusterTag},
		{name: "none", tags: map[string]string{"Name": "x"}, err: errNoClusterTag},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := clusterNameFromTags(tt.tags)
			if got != tt.want || !errors.Is(err, tt.err) {
				t.Fatalf("got %q, %v; want %q, %v", got, err, tt.want, tt.err)
			}
		})
	}
}
