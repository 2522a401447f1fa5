package migration

import (
	"context"
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

const (
	idA = "3f1c9a52-7d4e-4b8a-9c2d-1e5f6a7b8c9d"
	idB = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
)

func TestClusterIDFromLogs(t *testing.T) {
	tests := []struct{ name, logs, want string }{
		{"logfmt", `time="2026-01-01T00:00:00Z" level=info msg="snapshot sent" cluster_id=` + idA, idA},
		{"json", `{"level":"info","cluster_id":"` + idA + `","msg":"x"}`, idA},
		{"upper case normalised", "cluster_id=" + "3F1C9A52-7D4E-4B8A-9C2D-1E5F6A7B8C9D", idA},
		{"last valid one wins", "cluster_id=" + idA + "\ncluster_id=" + idB + "\n", idB},
		{"invalid variant skipped", "cluster_id=" + idA + "\ncluster_id=0a1b2c3d-4e5f-4a6b-0c7d-9e0f1a2b3c4d", idA},
		{"other ids ignored", "node_id=" + idA + " request_id=" + idB, ""},
		{"nothing", "agent started", ""},
	}
	for _, tt := range tests {
		if got := ClusterIDFromLogs(tt.logs); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

type fakeLogs map[string]string

func (f fakeLogs) TailLogs(_ context.Context, _, pod, _ string, _ int64) (string, error) {
	if l, ok := f[pod]; ok {
		return l, nil
	}
	return "", errors.New("no logs")
}

func TestClusterIDFinder(t *testing.T) {
	ns := "castai-agent"
	cm := func(name, id string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Data: map[string]string{ClusterIDKey: id}}
	}
	pod := func(name string, phase corev1.PodPhase) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": "agent"}}, Status: corev1.PodStatus{Phase: phase}}
	}
	tests := []struct {
		name         string
		objs         []*corev1.ConfigMap
		secret       *corev1.Secret
		pods         []*corev1.Pod
		logs         fakeLogs
		want, source string
	}{
		{"agent metadata first", []*corev1.ConfigMap{cm(AgentMetadataConfigMap, idA), cm(ClusterControllerConfigMap, idB)}, nil, nil, nil, idA, "ConfigMap castai-agent-metadata"},
		{"invalid metadata falls through to the key Secret", []*corev1.ConfigMap{cm(AgentMetadataConfigMap, "not-an-id")},
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "castai-agent", Namespace: ns}, Data: map[string][]byte{ClusterIDKey: []byte(idB)}}, nil, nil, idB, "Secret castai-agent"},
		{"cluster-controller ConfigMap", []*corev1.ConfigMap{cm(ClusterControllerConfigMap, idB)}, nil, nil, nil, idB, "ConfigMap castai-cluster-controller"},
		{"logs of running pods only", nil, nil, []*corev1.Pod{pod("old", corev1.PodFailed), pod("unreadable", corev1.PodRunning), pod("live", corev1.PodRunning)},
			fakeLogs{"old": "cluster_id=" + idB, "live": "cluster_id=" + idA}, idA, "logs of pod live"},
		{"nothing anywhere", nil, nil, nil, nil, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := fake.NewClientBuilder()
			for _, o := range tt.objs {
				b.WithObjects(o)
			}
			if tt.secret != nil {
				b.WithObjects(tt.secret)
			}
			for _, p := range tt.pods {
				b.WithObjects(p)
			}
			f := ClusterIDFinder{Reader: b.Build(), Logs: tt.logs}
			id, src, err := f.Find(context.Background(), ns, []string{"castai-agent"}, map[string]string{"app": "agent"}, "agent")
			if err != nil {
				t.Fatal(err)
			}
			if id != tt.want || src != tt.source {
				t.Fatalf("got %q from %q, want %q from %q", id, src, tt.want, tt.source)
			}
		})
	}
}
