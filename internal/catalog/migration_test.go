package catalog

import (
	"reflect"
	"strings"
	"testing"
)

func TestWorkloadValuesResolved(t *testing.T) {
	tests := []struct {
		name string
		in   WorkloadValues
		want WorkloadValues
	}{
		{"defaults", WorkloadValues{}, WorkloadValues{Replicas: "replicaCount", ImageRepository: "image.repository", ImageTag: "image.tag", Env: "additionalEnv",
			Resources: "resources", NodeSelector: "nodeSelector", Tolerations: "tolerations", PriorityClassName: "priorityClassName"}},
		{"overrides and switches", WorkloadValues{Replicas: "replicas", Env: "-", PriorityClassName: "priorityClass.name", PriorityClassEnabled: "priorityClass.enabled"},
			WorkloadValues{Replicas: "replicas", ImageRepository: "image.repository", ImageTag: "image.tag", Resources: "resources", NodeSelector: "nodeSelector",
				Tolerations: "tolerations", PriorityClassName: "priorityClass.name", PriorityClassEnabled: "priorityClass.enabled"}},
	}
	for _, tt := range tests {
		if got := tt.in.Resolved(); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestMigrationFieldsValidated(t *testing.T) {
	head := "- {group: castware.cast.ai, version: v1alpha1, kind: Component, component: a, chart: a, "
	tests := []struct{ name, entry, err string }{
		{"bad value path", head + `workloads: [{kind: Deployment, names: [a], values: {env: "a..b"}}]}`, "workloads: values"},
		{"legacy object without apiVersion", head + `legacyObjects: [{kind: Role, name: a}]}`, "apiVersion, kind and name are required"},
		{"legacy object with a bad template", head + `legacyObjects: [{apiVersion: v1, kind: Role, name: "{{ .Nope }}"}]}`, "legacyObjects"},
		{"valid", head + `workloads: [{kind: Deployment, names: [a], chartEnv: [API_URL], values: {replicas: replicas, env: "-"}}], ` +
			`legacyObjects: [{apiVersion: rbac.authorization.k8s.io/v1, kind: Role, namespace: kube-system, name: "legacy-{{ .Namespace }}"}]}`, ""},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.entry))
		if (tt.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.err)
		}
	}
}

func TestLegacyObjectsFor(t *testing.T) {
	c, err := Parse([]byte(`- {group: castware.cast.ai, version: v1alpha1, kind: Component, component: a, chart: a, legacyObjects: [
  {apiVersion: rbac.authorization.k8s.io/v1, kind: Role, namespace: kube-system, name: castai-agent},
  {apiVersion: rbac.authorization.k8s.io/v1, kind: ClusterRole, name: "legacy-{{ .Namespace }}"},
  {apiVersion: v1, kind: ConfigMap, namespace: "{{ .Namespace }}", name: "{{ .ClusterID }}"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Entries()[0].LegacyObjectsFor(ClusterFacts{Namespace: "ns1"})
	if err != nil {
		t.Fatal(err)
	}
	want := []LegacyObject{
		{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role", Namespace: "kube-system", Name: "castai-agent"},
		{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole", Name: "legacy-ns1"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v (a name rendering empty is left out)", got, want)
	}
}
