package demo

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	fakeclient "sigs.k8s.io/controller-runtime/pkg/client/fake"
)

func operatorPodObject(name string, created time.Time, ready, deleting bool, chartVersion string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: Namespace, CreationTimestamp: metav1.NewTime(created),
			Labels: map[string]string{"app.kubernetes.io/name": "castware-operator", "app.kubernetes.io/instance": OperatorRelease}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "manager", Args: []string{"--self-upgrade=true"}, Env: []corev1.EnvVar{
			{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			{Name: "HELM_RELEASE_NAME", Value: OperatorRelease},
			{Name: "OPERATOR_CHART_VERSION", Value: chartVersion},
			{Name: "FROM_SECRET", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{Key: "k"}}},
		}}}},
	}
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}
	if deleting {
		now := metav1.NewTime(created)
		p.DeletionTimestamp, p.Finalizers = &now, []string{"test/keep"}
	}
	return p
}

// The operator process stands in for the newest Ready, not terminating operator pod, with its environment.
func TestFindOperatorPod(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := fakeclient.NewClientBuilder().WithObjects(
		operatorPodObject("old-terminating", t0, true, true, "0.1.0"),
		operatorPodObject("old", t0.Add(time.Second), true, false, "0.1.0"),
		operatorPodObject("new", t0.Add(2*time.Second), true, false, "0.1.1"),
		operatorPodObject("newest-not-ready", t0.Add(3*time.Second), false, false, "0.1.2"),
	).Build()
	pod, err := findOperatorPod(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if pod == nil || pod.Name != "new" || pod.ChartVersion() != "0.1.1" {
		t.Fatalf("pod %+v, want new (chart 0.1.1)", pod)
	}
	if pod.Env["POD_NAME"] != "new" || pod.Env["HELM_RELEASE_NAME"] != OperatorRelease || pod.Env["FROM_SECRET"] != "" {
		t.Fatalf("environment %v", pod.Env)
	}
	o := (&operatorProcess{}).options(pod)
	if su := o.SelfUpgrade; su == nil || su.ChartVersion != "0.1.1" || su.ReleaseName != OperatorRelease || su.PodName != "new" || su.Disabled {
		t.Fatalf("self-upgrade options %+v", o.SelfUpgrade)
	}
	pod.Args = []string{"--self-upgrade=false"}
	if o := (&operatorProcess{}).options(pod); !o.SelfUpgrade.Disabled {
		t.Fatal("--self-upgrade=false in the pod's arguments did not disable the self-upgrade")
	}
	pod.Args = []string{"--self-upgrade-chart-repo=http://127.0.0.1:1/charts"}
	if o := (&operatorProcess{}).options(pod); o.SelfUpgrade.ChartRepository != "http://127.0.0.1:1/charts" {
		t.Fatalf("the pod's --self-upgrade-chart-repo is not the self-upgrade source: %q", o.SelfUpgrade.ChartRepository)
	}
}

// Without a Ready operator pod there is nothing to stand in for.
func TestFindOperatorPodNone(t *testing.T) {
	c := fakeclient.NewClientBuilder().WithObjects(operatorPodObject("starting", time.Now(), false, false, "0.1.0")).Build()
	pod, err := findOperatorPod(context.Background(), c)
	if err != nil || pod != nil {
		t.Fatalf("pod %+v, err %v: want none", pod, err)
	}
}
