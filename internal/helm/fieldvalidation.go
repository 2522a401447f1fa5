package helm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/kube"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/cli-runtime/pkg/resource"
	"k8s.io/client-go/openapi"
	"k8s.io/client-go/openapi/cached"
)

// fieldValidationTTL is how long the API server's answers "this kind is validated by the server" are reused.
const fieldValidationTTL = 5 * time.Minute

// serverValidation remembers which kinds the API server validates itself (the fieldValidation query
// parameter). Helm's strict validation of a manifest (install, upgrade) asks exactly that for every object,
// through kubectl's QueryParamVerifierV3, and skips its client-side validation when the answer is yes;
// asking decodes the whole OpenAPI document of the kind's group version into kube-openapi's types, a few
// hundred milliseconds of CPU on every install and upgrade. serverValidation reads each group version's
// document once per fieldValidationTTL, decoding only the PATCH operations' parameters, and answers yes
// only when kubectl's verifier would: every PATCH operation of the kind takes the fieldValidation query
// parameter. Any other answer (no, unknown, an error) leaves the manifest to Helm's own check.
type serverValidation struct {
	now func() time.Time

	mu      sync.Mutex
	openAPI openapi.Client
	since   time.Time
	groups  map[schema.GroupVersion]*groupCheck
}

// groupCheck holds the kinds of one group version the API server validates, read once however many
// installs wait for them.
type groupCheck struct {
	once  sync.Once
	kinds map[schema.GroupVersionKind]bool
}

// check returns the (possibly shared) answer slot of gv and the OpenAPI client to fill it with.
func (s *serverValidation) check(getter action.RESTClientGetter, gv schema.GroupVersion) (*groupCheck, openapi.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if s.now != nil {
		now = s.now()
	}
	if s.openAPI == nil || now.Sub(s.since) >= fieldValidationTTL {
		dc, err := getter.ToDiscoveryClient()
		if err != nil {
			return nil, nil, fmt.Errorf("discovery client: %w", err)
		}
		s.openAPI, s.since, s.groups = cached.NewClient(dc.OpenAPIV3()), now, map[schema.GroupVersion]*groupCheck{}
	}
	gc := s.groups[gv]
	if gc == nil {
		gc = &groupCheck{}
		s.groups[gv] = gc
	}
	return gc, s.openAPI, nil
}

// validates reports whether the API server validates gvk itself.
func (s *serverValidation) validates(getter action.RESTClientGetter, gvk schema.GroupVersionKind) bool {
	gc, client, err := s.check(getter, gvk.GroupVersion())
	if err != nil {
		return false
	}
	gc.once.Do(func() { gc.kinds, _ = validatedKinds(client, gvk.GroupVersion()) })
	return gc.kinds[gvk]
}

// patchParameters is the part of an OpenAPI v3 document validatedKinds reads.
type patchParameters struct {
	Paths map[string]struct {
		Patch *struct {
			GVK *struct {
				Group   string `json:"group"`
				Version string `json:"version"`
				Kind    string `json:"kind"`
			} `json:"x-kubernetes-group-version-kind"`
			Parameters []struct {
				Name string `json:"name"`
				In   string `json:"in"`
			} `json:"parameters"`
		} `json:"patch"`
	} `json:"paths"`
}

// validatedKinds reads gv's OpenAPI document: the kinds all of whose PATCH operations take the
// fieldValidation query parameter.
func validatedKinds(client openapi.Client, gv schema.GroupVersion) (map[schema.GroupVersionKind]bool, error) {
	paths, err := client.Paths()
	if err != nil {
		return nil, fmt.Errorf("OpenAPI paths: %w", err)
	}
	path := "apis/" + gv.Group + "/" + gv.Version
	if gv.Group == "" {
		path = "api/" + gv.Version
	}
	doc, ok := paths[path]
	if !ok {
		return nil, fmt.Errorf("no OpenAPI document for %s", gv)
	}
	b, err := doc.Schema(runtime.ContentTypeJSON)
	if err != nil {
		return nil, fmt.Errorf("OpenAPI document of %s: %w", gv, err)
	}
	var d patchParameters
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("OpenAPI document of %s: %w", gv, err)
	}
	kinds := map[schema.GroupVersionKind]bool{}
	for _, p := range d.Paths {
		if p.Patch == nil || p.Patch.GVK == nil {
			continue
		}
		gvk := schema.GroupVersionKind{Group: p.Patch.GVK.Group, Version: p.Patch.GVK.Version, Kind: p.Patch.GVK.Kind}
		takes := false
		for _, param := range p.Patch.Parameters {
			takes = takes || (param.Name == string(resource.QueryParamFieldValidation) && param.In == "query")
		}
		if ok, seen := kinds[gvk]; !seen || ok {
			kinds[gvk] = takes
		}
	}
	return kinds, nil
}

// validatesAll reports whether every object of manifest is of a kind the API server validates itself; a
// document that cannot be read answers no.
func (s *serverValidation) validatesAll(getter action.RESTClientGetter, manifest []byte) bool {
	gvks, err := manifestKinds(manifest)
	if err != nil || len(gvks) == 0 {
		return false
	}
	for _, gvk := range gvks {
		if !s.validates(getter, gvk) {
			return false
		}
	}
	return true
}

// manifestKinds lists the distinct kinds of a multi-document manifest, in order.
func manifestKinds(manifest []byte) ([]schema.GroupVersionKind, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(manifest), 4096)
	seen := map[schema.GroupVersionKind]bool{}
	var out []schema.GroupVersionKind
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read manifest: %w", err)
		}
		if doc == nil {
			continue
		}
		apiVersion, ok1 := doc["apiVersion"].(string)
		kind, ok2 := doc["kind"].(string)
		if !ok1 || !ok2 || apiVersion == "" || kind == "" {
			return nil, fmt.Errorf("read manifest: a document without apiVersion and kind")
		}
		gv, err := schema.ParseGroupVersion(apiVersion)
		if err != nil {
			return nil, fmt.Errorf("read manifest: %w", err)
		}
		if gvk := gv.WithKind(kind); !seen[gvk] {
			seen[gvk] = true
			out = append(out, gvk)
		}
	}
}

// serverValidatedKube is Helm's kube client, except that a strict Build of a manifest whose kinds are all
// validated by the API server skips the check Helm would make to come to the same conclusion.
type serverValidatedKube struct {
	*kube.Client
	sv     *serverValidation
	getter action.RESTClientGetter
}

// Build implements kube.Interface.
func (k serverValidatedKube) Build(reader io.Reader, validate bool) (kube.ResourceList, error) {
	if !validate {
		return k.Client.Build(reader, false)
	}
	data, err := io.ReadAll(reader)
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	// Helm's strict validation does nothing more for kinds the server validates (kubectl's paramVerifyingSchema).
	return k.Client.Build(bytes.NewReader(data), !k.sv.validatesAll(k.getter, data))
}
