package migration

import (
	"encoding/json"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/castware-operator/castware-operator/internal/helm"
)

// PodSpecReadsSecret reports whether any container of a pod spec reads Secret name (envFrom, an env
// secretKeyRef, or a secret volume).
func PodSpecReadsSecret(spec corev1.PodSpec, name string) bool {
	if name == "" {
		return false
	}
	for _, v := range spec.Volumes {
		if v.Secret != nil && v.Secret.SecretName == name {
			return true
		}
	}
	for _, cs := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for _, c := range cs {
			for _, ef := range c.EnvFrom {
				if ef.SecretRef != nil && ef.SecretRef.Name == name {
					return true
				}
			}
			for _, e := range c.Env {
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && e.ValueFrom.SecretKeyRef.Name == name {
					return true
				}
			}
		}
	}
	return false
}

// ManifestReadsSecret reports whether a workload of a rendered manifest reads Secret name.
func ManifestReadsSecret(manifest, name string) (bool, error) {
	specs, err := manifestPodSpecs(manifest)
	if err != nil {
		return false, err
	}
	for _, spec := range specs {
		if PodSpecReadsSecret(spec, name) {
			return true, nil
		}
	}
	return false, nil
}

// ManifestSetsEnv reports whether a container of a rendered workload sets the environment variable name.
func ManifestSetsEnv(manifest, name string) (bool, error) {
	specs, err := manifestPodSpecs(manifest)
	if err != nil {
		return false, err
	}
	for _, spec := range specs {
		for _, c := range spec.Containers {
			for _, e := range c.Env {
				if e.Name == name {
					return true, nil
				}
			}
		}
	}
	return false, nil
}

// manifestPodSpecs returns the pod specs of the Deployments, DaemonSets and StatefulSets of a manifest.
func manifestPodSpecs(manifest string) ([]corev1.PodSpec, error) {
	objs, err := helm.Objects(manifest, "")
	if err != nil {
		return nil, err
	}
	var out []corev1.PodSpec
	for _, o := range objs {
		raw, err := json.Marshal(o.Object)
		if err != nil {
			return nil, err
		}
		switch o.GetKind() {
		case "Deployment":
			d := &appsv1.Deployment{}
			if json.Unmarshal(raw, d) == nil {
				out = append(out, d.Spec.Template.Spec)
			}
		case "DaemonSet":
			d := &appsv1.DaemonSet{}
			if json.Unmarshal(raw, d) == nil {
				out = append(out, d.Spec.Template.Spec)
			}
		case "StatefulSet":
			s := &appsv1.StatefulSet{}
			if json.Unmarshal(raw, s) == nil {
				out = append(out, s.Spec.Template.Spec)
			}
		}
	}
	return out, nil
}

// ManifestRendersSecret reports whether a rendered manifest holds a Secret named name.
func ManifestRendersSecret(manifest, name string) bool {
	objs, err := helm.Objects(manifest, "")
	if err != nil {
		return false
	}
	for _, o := range objs {
		if o.GetKind() == "Secret" && o.GetAPIVersion() == "v1" && o.GetName() == name {
			return true
		}
	}
	return false
}

// LegacyKeyEnv returns the index of an API_KEY env entry (a literal value or a secretKeyRef) in a container,
// or -1. Such an entry wins over the envFrom the chart renders, so a takeover removes it to rewire the key.
func LegacyKeyEnv(c *corev1.Container) int {
	if c == nil {
		return -1
	}
	for i, e := range c.Env {
		if e.Name == APIKeyEnv {
			return i
		}
	}
	return -1
}
