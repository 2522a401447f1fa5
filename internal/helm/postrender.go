package helm

import (
	"bytes"
	"fmt"

	"helm.sh/helm/v3/pkg/postrender"
	"sigs.k8s.io/yaml"
)

// labelRenderer adds the owning Component's name as a label on every rendered object's metadata (never on
// pod templates, so it causes no rollout), and removes nothing. It replaces helm-operator-plugins'
// default post-renderer, which would add controller owner references to the Component.
type labelRenderer struct {
	labels map[string]string
}

var _ postrender.PostRenderer = labelRenderer{}

// Run implements postrender.PostRenderer.
func (r labelRenderer) Run(in *bytes.Buffer) (*bytes.Buffer, error) {
	out := &bytes.Buffer{}
	err := eachDocument(in.String(), func(k string, m map[string]any) error {
		lbls := ensureMap(m, "metadata", "labels")
		for lk, lv := range r.labels {
			lbls[lk] = lv
		}
		b, err := yaml.Marshal(m)
		if err != nil {
			return fmt.Errorf("post-render: encode %s: %w", k, err)
		}
		out.WriteString("---\n")
		out.Write(b)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("post-render: %w", err)
	}
	return out, nil
}
