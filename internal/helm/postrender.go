package helm

import (
	"bytes"
	"fmt"
	"strings"

	"helm.sh/helm/v3/pkg/postrender"
	"helm.sh/helm/v3/pkg/releaseutil"
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
	docs := releaseutil.SplitManifests(in.String())
	keys := sortedKeys(docs)
	out := &bytes.Buffer{}
	for _, k := range keys {
		doc := docs[k]
		if strings.TrimSpace(doc) == "" {
			continue
		}
		m := map[string]any{}
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			return nil, fmt.Errorf("post-render: parse %s: %w", k, err)
		}
		if len(m) == 0 {
			continue
		}
		md, _ := m["metadata"].(map[string]any)
		if md == nil {
			md = map[string]any{}
			m["metadata"] = md
		}
		lbls, _ := md["labels"].(map[string]any)
		if lbls == nil {
			lbls = map[string]any{}
			md["labels"] = lbls
		}
		for lk, lv := range r.labels {
			lbls[lk] = lv
		}
		b, err := yaml.Marshal(m)
		if err != nil {
			return nil, fmt.Errorf("post-render: encode %s: %w", k, err)
		}
		out.WriteString("---\n")
		out.Write(b)
	}
	return out, nil
}
