package helm

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func ptr[T any](v T) *T { return &v }

func TestDeploymentReady(t *testing.T) {
	tests := []struct {
		name   string
		d      appsv1.Deployment
		ready  bool
		failed bool
	}{
		{"rolled out", appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Generation: 2}, Spec: appsv1.DeploymentSpec{Replicas: ptr(int32(2))},
			Status: appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 2}}, true, false},
		{"not observed", appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Generation: 3}, Spec: appsv1.DeploymentSpec{Replicas: ptr(int32(2))},
			Status: appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 2}}, false, false},
		{"old replicas left", appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Generation: 2}, Spec: appsv1.DeploymentSpec{Replicas: ptr(int32(2))},
			Status: appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 2, AvailableReplicas: 2}}, false, false},
		{"not available", appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Generation: 2}, Spec: appsv1.DeploymentSpec{Replicas: ptr(int32(2))},
			Status: appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 1}}, false, false},
		{"default one replica", appsv1.Deployment{Status: appsv1.DeploymentStatus{Replicas: 1, UpdatedReplicas: 1, AvailableReplicas: 1}}, true, false},
		{"scaled to zero", appsv1.Deployment{Spec: appsv1.DeploymentSpec{Replicas: ptr(int32(0))}}, true, false},
		{"deadline exceeded", appsv1.Deployment{Spec: appsv1.DeploymentSpec{Replicas: ptr(int32(1))}, Status: appsv1.DeploymentStatus{
			Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded"}}}}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws := DeploymentReady(&tt.d)
			if ws.Ready != tt.ready || ws.Failed != tt.failed {
				t.Fatalf("ready=%v failed=%v (%s), want ready=%v failed=%v", ws.Ready, ws.Failed, ws.Detail, tt.ready, tt.failed)
			}
		})
	}
}

func TestDaemonSetReady(t *testing.T) {
	none := appsv1.DaemonSet{}
	if !DaemonSetReady(&none).Ready {
		t.Fatal("a DaemonSet scheduled on no node must count as ready")
	}
	partial := appsv1.DaemonSet{Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, UpdatedNumberScheduled: 3, NumberAvailable: 2}}
	if ws := DaemonSetReady(&partial); ws.Ready || ws.Detail != "2/3 pods ready" {
		t.Fatalf("partial: %+v", ws)
	}
	updating := appsv1.DaemonSet{Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, UpdatedNumberScheduled: 1, NumberAvailable: 3}}
	if DaemonSetReady(&updating).Ready {
		t.Fatal("a DaemonSet mid-rollout is not ready")
	}
}

func TestStatefulSetAndJobReady(t *testing.T) {
	ss := appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{Replicas: ptr(int32(2))}, Status: appsv1.StatefulSetStatus{ReadyReplicas: 2, CurrentRevision: "a", UpdateRevision: "b"}}
	if StatefulSetReady(&ss).Ready {
		t.Fatal("StatefulSet on an old revision is not ready")
	}
	ss.Status.CurrentRevision = "b"
	if !StatefulSetReady(&ss).Ready {
		t.Fatal("StatefulSet rolled out is ready")
	}
	j := batchv1.Job{Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Message: "boom"}}}}
	if ws := JobReady(&j); ws.Ready || !ws.Failed {
		t.Fatalf("failed job: %+v", ws)
	}
	j.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}
	if !JobReady(&j).Ready {
		t.Fatal("complete job is ready")
	}
}
