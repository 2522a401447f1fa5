package helm

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/resource"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/openapi"
)

// fakeOpenAPI serves OpenAPI v3 documents by path ("apis/apps/v1").
type fakeOpenAPI map[string]string

func (f fakeOpenAPI) Paths() (map[string]openapi.GroupVersion, error) {
	out := map[string]openapi.GroupVersion{}
	for k, v := range f {
		out[k] = fakeGroupVersion(v)
	}
	return out, nil
}

type fakeGroupVersion string

func (g fakeGroupVersion) Schema(string) ([]byte, error) { return []byte(g), nil }
func (g fakeGroupVersion) ServerRelativeURL() string     { return "" }

// patchPath is an OpenAPI path whose PATCH operation is kind's and takes params.
func patchPath(path, kind string, params ...string) string {
	var ps []string
	for _, p := range params {
		ps = append(ps, fmt.Sprintf(`{"name": %q, "in": "query", "schema": {"type": "string"}}`, p))
	}
	return fmt.Sprintf(`%q: {"patch": {"operationId": "patch%s%d", "parameters": [%s], "responses": {"200": {"description": "OK"}},
		"x-kubernetes-group-version-kind": {"group": "apps", "version": "v1", "kind": %q}}}`, path, kind, len(path), strings.Join(ps, ", "), kind)
}

// appsDoc: Deployments take fieldValidation on every PATCH, DaemonSets on none, StatefulSets on one of two,
// ReplicaSets have no PATCH operation.
var appsDoc = `{"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.37.2"}, "paths": {` + strings.Join([]string{
	patchPath("/apis/apps/v1/namespaces/{namespace}/deployments/{name}", "Deployment", "dryRun", "fieldValidation"),
	patchPath("/apis/apps/v1/namespaces/{namespace}/deployments/{name}/status", "Deployment", "fieldValidation"),
	patchPath("/apis/apps/v1/namespaces/{namespace}/daemonsets/{name}", "DaemonSet", "dryRun"),
	patchPath("/apis/apps/v1/namespaces/{namespace}/statefulsets/{name}", "StatefulSet", "fieldValidation"),
	patchPath("/apis/apps/v1/namespaces/{namespace}/statefulsets/{name}/status", "StatefulSet", "dryRun"),
	`"/apis/apps/v1/namespaces/{namespace}/replicasets": {"get": {"responses": {"200": {"description": "OK"}}}}`,
}, ", ") + `}}`

func TestValidatedKindsAnswersYesOnlyWhenKubectlDoes(t *testing.T) {
	client := fakeOpenAPI{"apis/apps/v1": appsDoc}
	kinds, err := validatedKinds(client, schema.GroupVersion{Group: "apps", Version: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	kubectl := resource.NewQueryParamVerifierV3(dynamicfake.NewSimpleDynamicClient(runtime.NewScheme()), client, resource.QueryParamFieldValidation)
	want := map[string]bool{"Deployment": true, "DaemonSet": false, "StatefulSet": false, "ReplicaSet": false}
	for kind, yes := range want {
		gvk := schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: kind}
		if kinds[gvk] != yes {
			t.Errorf("%s: validated = %v, want %v", kind, kinds[gvk], yes)
		}
		err := kubectl.HasSupport(gvk)
		if kinds[gvk] && err != nil {
			t.Errorf("%s: validated, but kubectl's verifier answers %v", kind, err)
		}
		if kind == "DaemonSet" && !resource.IsParamUnsupportedError(err) {
			t.Errorf("DaemonSet: kubectl's verifier answers %v, want unsupported (the document is not read as kubectl reads it)", err)
		}
	}
}

func TestValidatedKindsWithoutTheGroupVersion(t *testing.T) {
	if _, err := validatedKinds(fakeOpenAPI{}, schema.GroupVersion{Group: "apps", Version: "v1"}); err == nil {
		t.Fatal("want an error for a group version the server does not describe")
	}
}

func TestManifestKinds(t *testing.T) {
	manifest := `---
# Source: a/templates/a.yaml
apiVersion: apps/v1
kind: Deployment
metadata: {name: a}
---
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: a}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: b}
`
	got, err := manifestKinds([]byte(manifest))
	if err != nil {
		t.Fatal(err)
	}
	want := []schema.GroupVersionKind{{Group: "apps", Version: "v1", Kind: "Deployment"}, {Version: "v1", Kind: "ServiceAccount"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("kinds = %v, want %v", got, want)
	}
	if _, err := manifestKinds([]byte("metadata: {name: a}\n")); err == nil {
		t.Fatal("want an error for a document without apiVersion and kind")
	}
}
