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
	var out []*unstructured.Unstructured
	err := eachDocument(manifest, func(_ string, m map[string]any) error {
		u := &unstructured.Unstructured{Object: m}
		if u.GetKind() == "" {
			return nil
		}
		if u.GetNamespace() == "" && namespacedWorkload(u.GetKind()) {
			u.SetNamespace(defaultNS)
		}
		out = append(out, u)
		return nil
	})
	return out, err
}

// eachDocument calls fn with every non-empty YAML document of a manifest, decoded, in manifest order.
func eachDocument(manifest string, fn func(key string, doc map[string]any) error) error {
	docs := releaseutil.SplitManifests(manifest)
	for _, k := range sortedKeys(docs) {
		doc := docs[k]
		if strings.TrimSpace(doc) == "" {
			continue
		}
		m := map[string]any{}
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			return fmt.Errorf("parse manifest document %s: %w", k, err)
		}
		if len(m) == 0 {
			continue
		}
		if err := fn(k, m); err != nil {
			return err
		}
	}
	return nil
}

// ensureMap returns the map at keys inside m, creating missing levels.
func ensureMap(m map[string]any, keys ...string) map[string]any {
	for _, k := range keys {
		next, _ := m[k].(map[string]any)
		if next == nil {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	return m
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
