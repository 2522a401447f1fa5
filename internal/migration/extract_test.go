package migration

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/castware-operator/castware-operator/internal/catalog"
)

var agentSpec = catalog.Workload{
	Kind: "Deployment", Names: []string{"castai-agent"}, Container: "agent",
	ChartEnv: []string{"API_URL", "PROVIDER", "SELF_POD_NAME"},
	Values:   catalog.WorkloadValues{PriorityClassName: "priorityClass.name", PriorityClassEnabled: "priorityClass.enabled"},
}

func agentDeployment(mutate ...func(*appsv1.Deployment)) *appsv1.Deployment {
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "castai-agent", Namespace: "castai-agent", UID: "uid-1",
			Labels: map[string]string{LabelChart: "castai-agent-0.153.2", LabelInstance: "castai-agent"}},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr(int32(2)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "castai-agent"}},
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name:  "agent",
				Image: "us-docker.pkg.dev/castai-hub/library/agent:v0.123.1",
				Env: []corev1.EnvVar{
					{Name: "API_URL", Value: "https://api.cast.ai"},
					{Name: "PROVIDER", Value: "eks"},
					{Name: "SELF_POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
				},
				EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "castai-agent"}}}},
			}}}},
		},
	}
	for _, m := range mutate {
		m(d)
	}
	return d
}

func ptr[T any](v T) *T { return &v }

func mustWorkload(t testing.TB, d *appsv1.Deployment) *Workload {
	t.Helper()
	w, ok := WorkloadFrom(d)
	if !ok {
		t.Fatal("not a workload")
	}
	return w
}

func TestExtract(t *testing.T) {
	tests := []struct {
		name       string
		deploy     *appsv1.Deployment
		spec       catalog.Workload
		wantValues string
		version    string
		candidates []string
		plaintext  bool
		notCarried []string
	}{
		{
			name:       "plain agent: replicas and image only",
			deploy:     agentDeployment(),
			spec:       agentSpec,
			wantValues: `{"image":{"repository":"us-docker.pkg.dev/castai-hub/library/agent","tag":"v0.123.1"},"replicaCount":2}`,
			version:    "0.153.2",
			candidates: []string{"castai-agent"},
		},
		{
			name: "every user setting",
			deploy: agentDeployment(func(d *appsv1.Deployment) {
				d.Spec.Replicas = ptr(int32(3))
				p := &d.Spec.Template.Spec
				p.NodeSelector = map[string]string{"pool": "system"}
				p.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "castai", Effect: corev1.TaintEffectNoSchedule}}
				p.PriorityClassName = "high"
				c := &p.Containers[0]
				c.Env = append(c.Env, corev1.EnvVar{Name: "EKS_CLUSTER_NAME", Value: "prod"}, corev1.EnvVar{Name: "LOG_LEVEL", Value: "debug"})
				c.Resources = corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("512Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
				}
			}),
			spec: agentSpec,
			wantValues: `{"additionalEnv":{"EKS_CLUSTER_NAME":"prod","LOG_LEVEL":"debug"},"image":{"repository":"us-docker.pkg.dev/castai-hub/library/agent","tag":"v0.123.1"},` +
				`"nodeSelector":{"pool":"system"},"priorityClass":{"enabled":true,"name":"high"},"replicaCount":3,` +
				`"resources":{"limits":{"memory":"1Gi"},"requests":{"cpu":"250m","memory":"512Mi"}},` +
				`"tolerations":[{"effect":"NoSchedule","key":"dedicated","operator":"Equal","value":"castai"}]}`,
			version:    "0.153.2",
			candidates: []string{"castai-agent"},
		},
		{
			name: "ancient manifest: literal key never copied, no chart version made up from the image tag",
			deploy: agentDeployment(func(d *appsv1.Deployment) {
				d.Labels = nil
				c := &d.Spec.Template.Spec.Containers[0]
				c.Image = "castai/agent:v0.30.0"
				c.EnvFrom = nil
				c.Env = []corev1.EnvVar{{Name: "API_KEY", Value: "plaintext-key"}, {Name: "API_URL", Value: "https://api.cast.ai"}}
			}),
			spec:       agentSpec,
			wantValues: `{"image":{"repository":"castai/agent","tag":"v0.30.0"},"replicaCount":2}`,
			version:    "",
			plaintext:  true,
		},
		{
			name: "key from a secretKeyRef; valueFrom and ConfigMap envFrom not carried",
			deploy: agentDeployment(func(d *appsv1.Deployment) {
				c := &d.Spec.Template.Spec.Containers[0]
				c.EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "extra"}}}}
				c.Env = append(c.Env,
					corev1.EnvVar{Name: "API_KEY", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "my-key"}, Key: "API_KEY"}}},
					corev1.EnvVar{Name: "NODE_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.hostIP"}}})
			}),
			spec:       agentSpec,
			wantValues: `{"image":{"repository":"us-docker.pkg.dev/castai-hub/library/agent","tag":"v0.123.1"},"replicaCount":2}`,
			version:    "0.153.2",
			candidates: []string{"my-key"},
			notCarried: []string{"env NODE_IP (valueFrom)", "envFrom ConfigMap extra"},
		},
		{
			name: "settings switched off by the catalog",
			deploy: agentDeployment(func(d *appsv1.Deployment) {
				d.Spec.Template.Spec.Containers[0].Env = append(d.Spec.Template.Spec.Containers[0].Env, corev1.EnvVar{Name: "X", Value: "1"})
			}),
			spec: catalog.Workload{Kind: "Deployment", Container: "agent", ChartEnv: []string{"API_URL", "PROVIDER", "SELF_POD_NAME"},
				Values: catalog.WorkloadValues{Replicas: "replicas", ImageRepository: "-", ImageTag: "-", Env: "-"}},
			wantValues: `{"replicas":2}`,
			version:    "0.153.2",
			candidates: []string{"castai-agent"},
			notCarried: []string{"env X"},
		},
		{
			name: "main container missing: first container used",
			deploy: agentDeployment(func(d *appsv1.Deployment) {
				d.Spec.Template.Spec.Containers[0].Name = "renamed"
			}),
			spec:       agentSpec,
			wantValues: `{"image":{"repository":"us-docker.pkg.dev/castai-hub/library/agent","tag":"v0.123.1"},"replicaCount":2}`,
			version:    "0.153.2",
			candidates: []string{"castai-agent"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ex := Extract(mustWorkload(t, tt.deploy), tt.spec, "castai-agent")
			got, _ := json.Marshal(ex.Values)
			if string(got) != tt.wantValues {
				t.Errorf("values\n got %s\nwant %s", got, tt.wantValues)
			}
			if ex.Version != tt.version {
				t.Errorf("version = %q, want %q", ex.Version, tt.version)
			}
			if !reflect.DeepEqual(ex.KeySecretCandidates, tt.candidates) {
				t.Errorf("key secrets = %v, want %v", ex.KeySecretCandidates, tt.candidates)
			}
			if ex.PlaintextKey != tt.plaintext {
				t.Errorf("plaintext = %v, want %v", ex.PlaintextKey, tt.plaintext)
			}
			if !reflect.DeepEqual(ex.NotCarried, tt.notCarried) {
				t.Errorf("not carried = %v, want %v", ex.NotCarried, tt.notCarried)
			}
			if strings.Contains(string(got), "plaintext-key") {
				t.Errorf("key material in values: %s", got)
			}
		})
	}
}

func TestExtractDaemonSetHasNoReplicas(t *testing.T) {
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "castai-spot-handler", Labels: map[string]string{LabelChart: "castai-spot-handler-0.35.5"}},
		Spec: appsv1.DaemonSetSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "spot-handler", Image: "x/spot-handler:v0.23.2"}}}}}}
	w, ok := WorkloadFrom(ds)
	if !ok {
		t.Fatal("DaemonSet not read")
	}
	ex := Extract(w, catalog.Workload{Kind: "DaemonSet", Container: "spot-handler", Values: catalog.WorkloadValues{ImageRepository: "-", ImageTag: "-"}}, "castai-spot-handler")
	if len(ex.Values) != 0 || ex.Version != "0.35.5" {
		t.Fatalf("values %v version %q", ex.Values, ex.Version)
	}
}

func TestPruneImage(t *testing.T) {
	defaults := map[string]any{"image": map[string]any{"repository": "us-docker.pkg.dev/castai-hub/library/agent", "tag": ""}}
	tests := []struct {
		name, repo, tag, version, appVersion string
		defaults                             map[string]any
		want                                 string
	}{
		{"default image at the chart's appVersion: both pruned", "us-docker.pkg.dev/castai-hub/library/agent", "v0.123.1", "0.153.2", "v0.123.1", defaults, `{}`},
		{"mirror repository kept, tag pruned", "mirror.local/agent", "v0.123.1", "0.153.2", "v0.123.1", defaults, `{"image":{"repository":"mirror.local/agent"}}`},
		{"pinned tag kept", "us-docker.pkg.dev/castai-hub/library/agent", "v0.99.0", "0.153.2", "v0.123.1", defaults, `{"image":{"tag":"v0.99.0"}}`},
		{"chart unknown: tag equal to v+version pruned", "castai/agent", "v1.0.0", "1.0.0", "", nil, `{"image":{"repository":"castai/agent"}}`},
		{"chart unknown, version unknown: kept", "castai/agent", "v1.0.0", "", "", nil, `{"image":{"repository":"castai/agent","tag":"v1.0.0"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vals := map[string]any{"image": map[string]any{"repository": tt.repo, "tag": tt.tag}}
			PruneImage(vals, agentSpec, tt.defaults, tt.version, tt.appVersion)
			got, _ := json.Marshal(vals)
			if string(got) != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestSanitizeReleaseValues(t *testing.T) {
	clusterPaths := []string{"apiURL", "provider", "apiKeySecretRef", "castai.clusterID", "castai.apiURL", "phase2Permissions"}
	tests := []struct {
		name    string
		config  map[string]any
		want    string
		dropped []string
	}{
		{"nothing", nil, `{}`, nil},
		{"plaintext key and namespace ownership dropped, settings kept",
			map[string]any{"apiKey": "secret", "createNamespace": true, "replicaCount": 3, "additionalEnv": map[string]any{"LOG_LEVEL": "debug"}},
			`{"additionalEnv":{"LOG_LEVEL":"debug"},"replicaCount":3}`, []string{"apiKey", "createNamespace"}},
		{"what the Cluster provides stays driven by the Cluster, whatever the old value",
			map[string]any{"apiURL": "https://api.eu.cast.ai", "provider": "eks", "phase2Permissions": true, "castai": map[string]any{"clusterID": "c1", "apiKey": "k", "extra": 1}},
			`{"castai":{"extra":1}}`, []string{"apiURL", "castai.apiKey", "castai.clusterID", "phase2Permissions", "provider"}},
		{"key Secret references and secret env dropped",
			map[string]any{"apiKeySecretRef": "old", "additionalSecretEnv": map[string]any{"AWS_SECRET": "x"}, "global": map[string]any{"castai": map[string]any{"apiKeySecretRef": "old"}}},
			`{}`, []string{"additionalSecretEnv", "apiKeySecretRef", "global.castai.apiKeySecretRef"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := json.Marshal(tt.config)
			got, dropped := SanitizeReleaseValues(tt.config, clusterPaths)
			raw, _ := json.Marshal(got)
			if string(raw) != tt.want {
				t.Errorf("values = %s, want %s", raw, tt.want)
			}
			if !reflect.DeepEqual(dropped, tt.dropped) {
				t.Errorf("dropped = %v, want %v", dropped, tt.dropped)
			}
			if after, _ := json.Marshal(tt.config); string(after) != string(before) {
				t.Errorf("input modified: %s", after)
			}
		})
	}
}

func TestRemoveKeyMaterial(t *testing.T) {
	vals := map[string]any{"a": map[string]any{"b": "prefix-KEY12345678-suffix", "c": "ok"}, "list": []any{"x", "KEY12345678"},
		"short": "k", "contains-short": "kk", "n": 1.0}
	removed := RemoveKeyMaterial(vals, "KEY12345678", "k", "")
	got, _ := json.Marshal(vals)
	if string(got) != `{"a":{"c":"ok"},"contains-short":"kk","n":1}` || !reflect.DeepEqual(removed, []string{"a.b", "list", "short"}) {
		t.Fatalf("got %s removed %v (a short key only matches a whole value)", got, removed)
	}
}

// FuzzExtractWorkload feeds arbitrary Deployments (as JSON) through extraction: it must never panic,
// never copy a literal API_KEY value, and always return values that survive a JSON round trip.
func FuzzExtractWorkload(f *testing.F) {
	seed := func(d *appsv1.Deployment) []byte { b, _ := json.Marshal(d); return b }
	f.Add(seed(agentDeployment()), "agent", "castai-agent")
	f.Add(seed(agentDeployment(func(d *appsv1.Deployment) {
		d.Spec.Template.Spec.Containers[0].Env = append(d.Spec.Template.Spec.Containers[0].Env, corev1.EnvVar{Name: "API_KEY", Value: "fuzz-secret-value"})
	})), "agent", "castai-agent")
	f.Add([]byte(`{"metadata":{"labels":{"helm.sh/chart":"x-1.2.3-rc.1"}},"spec":{"replicas":0,"template":{"spec":{"containers":[]}}}}`), "", "x")
	f.Add([]byte(`{"spec":{"template":{"spec":{"tolerations":[{}],"nodeSelector":{"a.b/c":"d"},"containers":[{"name":"a","image":"@:","env":[{"name":""}]}]}}}}`), "a", "")
	f.Add([]byte(`not json`), "agent", "castai-agent")
	f.Fuzz(func(t *testing.T, raw []byte, container, chart string) {
		d := &appsv1.Deployment{}
		if err := json.Unmarshal(raw, d); err != nil {
			return
		}
		// Every literal API_KEY value becomes a sentinel that appears nowhere else: it must not reach the values.
		const sentinel = "\x01api-key-sentinel\x01"
		if strings.Contains(string(raw), "api-key-sentinel") {
			return
		}
		for i := range d.Spec.Template.Spec.Containers {
			for j := range d.Spec.Template.Spec.Containers[i].Env {
				if e := &d.Spec.Template.Spec.Containers[i].Env[j]; e.Name == APIKeyEnv && e.ValueFrom == nil {
					e.Value = sentinel
				}
			}
		}
		spec := catalog.Workload{Kind: "Deployment", Container: container, ChartEnv: []string{"API_URL"}}
		ex := Extract(mustWorkload(t, d), spec, chart)
		out, err := json.Marshal(ex.Values)
		if err != nil {
			t.Fatalf("values not JSON: %v", err)
		}
		if strings.Contains(string(out), "api-key-sentinel") {
			t.Fatalf("API_KEY value copied into values: %s", out)
		}
		if ex.Version != "" && !ValidVersion(ex.Version) {
			t.Fatalf("invalid version %q", ex.Version)
		}
		var back map[string]any
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("values do not round-trip: %v", err)
		}
	})
}
