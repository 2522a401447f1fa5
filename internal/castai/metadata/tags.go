package metadata

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Instance tags that name the EKS cluster, in the order clusterNameFromTags trusts them.
// Tags only AWS can write come first, then the tags of the tools that create node groups, then
// the ownership tags (which carry the name in the key), then kops' legacy tag:
//
//  1. aws:eks:cluster-name=<name>          (the aws: prefix is reserved to AWS; EKS sets it)
//  2. eks:cluster-name=<name>              (EKS managed node groups)
//  3. alpha.eksctl.io/cluster-name=<name>  (eksctl node groups)
//  4. kubernetes.io/cluster/<name>=owned   (Kubernetes cloud provider ownership)
//  5. k8s.io/cluster/<name>=owned          (the same, older prefix)
//  6. KubernetesCluster=<name>             (kops)
//
// A "shared" ownership tag does not name the node's cluster. Two different names at the same
// step are an error rather than a guess.
var clusterTagRules = []struct{ key, prefix string }{
	{key: "aws:eks:cluster-name"},
	{key: "eks:cluster-name"},
	{key: "alpha.eksctl.io/cluster-name"},
	{prefix: "kubernetes.io/cluster/"},
	{prefix: "k8s.io/cluster/"},
	{key: "KubernetesCluster"},
}

// errNoClusterTag says that no tag names the cluster.
var errNoClusterTag = errors.New("no cluster tag (aws:eks:cluster-name, eks:cluster-name, alpha.eksctl.io/cluster-name, " +
	"kubernetes.io/cluster/<name>=owned, k8s.io/cluster/<name>=owned or KubernetesCluster)")

// isClusterTagKey reports whether key is one clusterNameFromTags reads.
func isClusterTagKey(key string) bool {
	for _, r := range clusterTagRules {
		if key == r.key || (r.prefix != "" && strings.HasPrefix(key, r.prefix)) {
			return true
		}
	}
	return false
}

// clusterNameFromTags returns the cluster name that tags give, by the precedence of clusterTagRules.
func clusterNameFromTags(tags map[string]string) (string, error) {
	for _, r := range clusterTagRules {
		names := namesByRule(tags, r.key, r.prefix)
		switch len(names) {
		case 0:
			continue
		case 1:
			return names[0], nil
		default:
			return "", fmt.Errorf("ambiguous cluster tags: %s names %s", ruleName(r.key, r.prefix), strings.Join(names, " and "))
		}
	}
	return "", errNoClusterTag
}

// namesByRule returns the distinct, sorted cluster names that one rule finds in tags.
func namesByRule(tags map[string]string, key, prefix string) []string {
	var names []string
	for k, v := range tags {
		v = strings.TrimSpace(v)
		switch {
		case key != "" && k == key && v != "":
			names = append(names, v)
		case prefix != "" && strings.HasPrefix(k, prefix) && v == "owned" && len(k) > len(prefix):
			names = append(names, strings.TrimPrefix(k, prefix))
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// ruleName names a rule in messages.
func ruleName(key, prefix string) string {
	if key != "" {
		return key
	}
	return prefix + "<name>=owned"
}
