package helm

import (
	"fmt"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/releaseutil"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// Objects parses a rendered manifest into objects, in file order. Empty documents are skipped. Objects
// without a namespace get defaultNS when they are namespaced kinds the engine inspects; others keep "".
func Objects(manifest, defaultNS string) ([]*unstructured.Unstructured, error) {
	docs := releaseutil.SplitManifests(manifest)
	keys := sortedKeys(docs)
	var out []*unstructured.Unstructured
	for _, k := range keys {
		doc := docs[k]
		if strings.TrimSpace(doc) == "" {
			continue
		}
		m := map[string]any{}
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			return nil, fmt.Errorf("parse manifest document %s: %w", k, err)
		}
		if len(m) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		if u.GetKind() == "" {
			continue
		}
		if u.GetNamespace() == "" && namespacedWorkload(u.GetKind()) {
			u.SetNamespace(defaultNS)
		}
		out = append(out, u)
	}
	return out, nil
}

// sortedKeys returns the keys of releaseutil.SplitManifests' result in manifest order.
func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Sort(releaseutil.BySplitManifestsOrder(out))
	return out
}

func namespacedWorkload(kind string) bool {
	switch kind {
	case "Deployment", "DaemonSet", "StatefulSet", "Job", "ReplicaSet", "Pod":
		return true
	}
	return false
}

// Images returns the container images of the workloads in a manifest: container name → image reference.
// When two workloads have a container of the same name with different images, the second is keyed
// "<workload>/<container>".
func Images(manifest string) map[string]string {
	objs, err := Objects(manifest, "")
	if err != nil {
		return nil
	}
	out := map[string]string{}
	for _, o := range objs {
		var path []string
		switch o.GetKind() {
		case "Deployment", "DaemonSet", "StatefulSet", "Job", "ReplicaSet":
			path = []string{"spec", "template", "spec", "containers"}
		case "Pod":
			path = []string{"spec", "containers"}
		default:
			continue
		}
		containers, _, _ := unstructured.NestedSlice(o.Object, path...)
		for _, c := range containers {
			m, ok := c.(map[string]any)
			if !ok {
				continue
			}
			name, _ := m["name"].(string)
			image, _ := m["image"].(string)
			if name == "" || image == "" {
				continue
			}
			if prev, ok := out[name]; ok && prev != image {
				name = o.GetName() + "/" + name
			}
			out[name] = image
		}
	}
	return out
}
