package helm

import (
	"bytes"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/castware-operator/castware-operator/internal/catalog"
)

const sampleManifest = `---
# Source: c/templates/ns.yaml
apiVersion: v1
kind: Namespace
metadata:
  name: castai-agent
---
# Source: c/templates/deploy.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: castai-agent
  labels: {app: a}
spec:
  template:
    spec:
      containers:
      - name: agent
        image: agent:1
        resources: {requests: {memory: 1Gi}}
      - name: monitor
        image: monitor:1
        resources: {requests: {memory: 64Mi}}
`

func TestObjects(t *testing.T) {
	objs, err := Objects(sampleManifest, "ns1")
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 || objs[0].GetKind() != "Namespace" || objs[1].GetNamespace() != "ns1" || objs[0].GetNamespace() != "" {
		t.Fatalf("unexpected objects: %+v", objs)
	}
	if _, err := Objects("---\nkind: [broken", "x"); err == nil {
		t.Fatal("broken YAML must fail")
	}
}

func TestLabelRenderer(t *testing.T) {
	out, err := labelRenderer{labels: map[string]string{LabelComponent: "castai-agent"}}.Run(bytes.NewBufferString(sampleManifest))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := Objects(out.String(), "x")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.GetLabels()[LabelComponent] != "castai-agent" {
			t.Fatalf("%s lacks the component label: %v", o.GetKind(), o.GetLabels())
		}
		if len(o.GetOwnerReferences()) != 0 {
			t.Fatal("owner references must never be added")
		}
	}
	if strings.Contains(out.String(), "template:\n      metadata") {
		t.Fatal("pod templates must not be labelled")
	}
}

func TestKeepNamespacesInManifest(t *testing.T) {
	out, changed, err := keepNamespacesInManifest(sampleManifest)
	if err != nil || !changed {
		t.Fatalf("changed=%v err=%v", changed, err)
	}
	objs, _ := Objects(out, "x")
	if objs[0].GetAnnotations()["helm.sh/resource-policy"] != "keep" {
		t.Fatalf("namespace not kept: %v", objs[0].GetAnnotations())
	}
	if objs[1].GetAnnotations()["helm.sh/resource-policy"] != "" {
		t.Fatal("only namespaces are kept")
	}
	if _, changed, _ := keepNamespacesInManifest(out); changed {
		t.Fatal("second pass must change nothing")
	}
}

func TestStripIgnored(t *testing.T) {
	objs, _ := Objects(sampleManifest, "x")
	d := objs[1]
	StripIgnored(d, []catalog.DriftIgnore{{Kind: "Deployment", Name: "castai-agent", Container: "agent", Fields: []string{"resources"}}, {Kind: "Deployment", Fields: []string{"/metadata/labels/app"}}})
	cs, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	if _, has := cs[0].(map[string]any)["resources"]; has {
		t.Fatal("agent resources not stripped")
	}
	if _, has := cs[1].(map[string]any)["resources"]; !has {
		t.Fatal("monitor resources must stay")
	}
	if _, has := d.GetLabels()["app"]; has {
		t.Fatal("pointer field not stripped")
	}
}

func TestMergeAdditions(t *testing.T) {
	have := map[string]any{"spec": map[string]any{"a": 1.0, "b": "x", "extra": true}}
	want := map[string]any{"spec": map[string]any{"a": 1.0, "b": "y"}}
	got := mergeAdditions(have, want)
	if got == nil || got["spec"].(map[string]any)["b"] != "y" || len(got["spec"].(map[string]any)) != 1 {
		t.Fatalf("mergeAdditions = %#v", got)
	}
	if mergeAdditions(have, map[string]any{"spec": map[string]any{"a": 1.0}}) != nil {
		t.Fatal("no difference must give nil")
	}
}
