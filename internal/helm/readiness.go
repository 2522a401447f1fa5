package helm

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/release"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// WorkloadStatus is the readiness of one rendered workload.
type WorkloadStatus struct {
	// Kind, Namespace and Name identify the workload.
	Kind, Namespace, Name string
	// Ready is true when the workload has rolled out completely.
	Ready bool
	// Failed is true when it can no longer become ready (a failed Job).
	Failed bool
	// Detail says what is missing, e.g. "1/2 replicas ready".
	Detail string
}

// String formats the status for messages.
func (w WorkloadStatus) String() string {
	return fmt.Sprintf("%s %s: %s", w.Kind, w.Name, w.Detail)
}

// Readiness is the readiness of all workloads of a revision.
type Readiness struct {
	// Ready is true when every workload is ready (a release without workloads is ready).
	Ready bool
	// Workloads lists each workload's status.
	Workloads []WorkloadStatus
}

// Failed reports whether any workload can no longer become ready.
func (r Readiness) Failed() bool {
	for _, w := range r.Workloads {
		if w.Failed {
			return true
		}
	}
	return false
}

// Summary lists the workloads that are not ready (or "all workloads ready").
func (r Readiness) Summary() string {
	var parts []string
	for _, w := range r.Workloads {
		if !w.Ready {
			parts = append(parts, w.String())
		}
	}
	if len(parts) == 0 {
		return "all workloads ready"
	}
	sort.Strings(parts)
	return strings.Join(parts, "; ")
}

// Readiness reads the live state of every Deployment, DaemonSet, StatefulSet and Job in a revision's
// manifest. It never waits: callers re-check when a workload changes.
func (e *Engine) Readiness(ctx context.Context, rel *release.Release) (Readiness, error) {
	objs, err := Objects(rel.Manifest, rel.Namespace)
	if err != nil {
		return Readiness{}, err
	}
	res := Readiness{Ready: true}
	for _, o := range objs {
		var ws WorkloadStatus
		key := client.ObjectKey{Namespace: o.GetNamespace(), Name: o.GetName()}
		switch o.GetKind() {
		case "Deployment":
			d := &appsv1.Deployment{}
			if err := e.read(ctx, key, d); err != nil {
				ws = missing(o.GetKind(), key, err)
				if !apierrors.IsNotFound(err) {
					return Readiness{}, err
				}
			} else {
				ws = DeploymentReady(d)
			}
		case "DaemonSet":
			d := &appsv1.DaemonSet{}
			if err := e.read(ctx, key, d); err != nil {
				ws = missing(o.GetKind(), key, err)
				if !apierrors.IsNotFound(err) {
					return Readiness{}, err
				}
			} else {
				ws = DaemonSetReady(d)
			}
		case "StatefulSet":
			s := &appsv1.StatefulSet{}
			if err := e.read(ctx, key, s); err != nil {
				ws = missing(o.GetKind(), key, err)
				if !apierrors.IsNotFound(err) {
					return Readiness{}, err
				}
			} else {
				ws = StatefulSetReady(s)
			}
		case "Job":
			j := &batchv1.Job{}
			if err := e.read(ctx, key, j); err != nil {
				ws = missing(o.GetKind(), key, err)
				if !apierrors.IsNotFound(err) {
					return Readiness{}, err
				}
			} else {
				ws = JobReady(j)
			}
		default:
			continue
		}
		res.Workloads = append(res.Workloads, ws)
		if !ws.Ready {
			res.Ready = false
		}
	}
	return res, nil
}

func missing(kind string, key client.ObjectKey, err error) WorkloadStatus {
	detail := "not found"
	if !apierrors.IsNotFound(err) {
		detail = err.Error()
	}
	return WorkloadStatus{Kind: kind, Namespace: key.Namespace, Name: key.Name, Detail: detail}
}

// read gets an object from the cache, falling back to the API for objects the cache does not hold.
func (e *Engine) read(ctx context.Context, key client.ObjectKey, obj client.Object) error {
	if e.reader != nil {
		err := e.reader.Get(ctx, key, obj)
		if err == nil || e.apiReader == nil {
			return err
		}
		// Not in the cache: outside its namespaces or label selection (e.g. an adopted release's
		// workloads before the operator's first upgrade labels them). Ask the API server.
	}
	if e.apiReader == nil {
		return fmt.Errorf("no reader configured")
	}
	return e.apiReader.Get(ctx, key, obj)
}

// DeploymentReady reports whether a Deployment has rolled out: the controller saw the latest spec, every
// replica runs the new template and is available.
func DeploymentReady(d *appsv1.Deployment) WorkloadStatus {
	ws := WorkloadStatus{Kind: "Deployment", Namespace: d.Namespace, Name: d.Name}
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	st := d.Status
	for _, c := range st.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded" {
			ws.Failed = true
			ws.Detail = fmt.Sprintf("progress deadline exceeded (%d/%d ready)", st.ReadyReplicas, want)
			return ws
		}
	}
	switch {
	case st.ObservedGeneration < d.Generation:
		ws.Detail = "rollout not observed yet"
	case st.UpdatedReplicas < want:
		ws.Detail = fmt.Sprintf("%d/%d replicas updated", st.UpdatedReplicas, want)
	case st.Replicas > st.UpdatedReplicas:
		ws.Detail = fmt.Sprintf("%d old replicas pending termination", st.Replicas-st.UpdatedReplicas)
	case st.AvailableReplicas < want:
		ws.Detail = fmt.Sprintf("%d/%d replicas ready", st.AvailableReplicas, want)
	default:
		ws.Ready = true
		ws.Detail = fmt.Sprintf("%d/%d replicas ready", st.AvailableReplicas, want)
	}
	return ws
}

// DaemonSetReady reports whether a DaemonSet has rolled out to every node it is scheduled on. A DaemonSet
// that matches no node (spot-handler on a cluster without spot nodes) is ready.
func DaemonSetReady(d *appsv1.DaemonSet) WorkloadStatus {
	ws := WorkloadStatus{Kind: "DaemonSet", Namespace: d.Namespace, Name: d.Name}
	st := d.Status
	switch {
	case st.ObservedGeneration < d.Generation:
		ws.Detail = "rollout not observed yet"
	case d.Spec.UpdateStrategy.Type == appsv1.OnDeleteDaemonSetStrategyType && st.NumberAvailable < st.DesiredNumberScheduled:
		ws.Detail = fmt.Sprintf("%d/%d pods ready", st.NumberAvailable, st.DesiredNumberScheduled)
	case d.Spec.UpdateStrategy.Type != appsv1.OnDeleteDaemonSetStrategyType && st.UpdatedNumberScheduled < st.DesiredNumberScheduled:
		ws.Detail = fmt.Sprintf("%d/%d pods updated", st.UpdatedNumberScheduled, st.DesiredNumberScheduled)
	case st.NumberAvailable < st.DesiredNumberScheduled:
		ws.Detail = fmt.Sprintf("%d/%d pods ready", st.NumberAvailable, st.DesiredNumberScheduled)
	default:
		ws.Ready = true
		ws.Detail = fmt.Sprintf("%d/%d pods ready", st.NumberAvailable, st.DesiredNumberScheduled)
	}
	return ws
}

// StatefulSetReady reports whether a StatefulSet has rolled out: all replicas ready and on the update revision.
func StatefulSetReady(s *appsv1.StatefulSet) WorkloadStatus {
	ws := WorkloadStatus{Kind: "StatefulSet", Namespace: s.Namespace, Name: s.Name}
	want := int32(1)
	if s.Spec.Replicas != nil {
		want = *s.Spec.Replicas
	}
	st := s.Status
	partition := int32(0)
	if ru := s.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
		partition = *ru.Partition
	}
	switch {
	case st.ObservedGeneration < s.Generation:
		ws.Detail = "rollout not observed yet"
	case st.ReadyReplicas < want:
		ws.Detail = fmt.Sprintf("%d/%d replicas ready", st.ReadyReplicas, want)
	case s.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType && partition == 0 && st.UpdateRevision != "" && st.CurrentRevision != st.UpdateRevision:
		ws.Detail = fmt.Sprintf("%d/%d replicas updated", st.UpdatedReplicas, want)
	default:
		ws.Ready = true
		ws.Detail = fmt.Sprintf("%d/%d replicas ready", st.ReadyReplicas, want)
	}
	return ws
}

// JobReady reports whether a Job completed; a Job that failed can no longer become ready.
func JobReady(j *batchv1.Job) WorkloadStatus {
	ws := WorkloadStatus{Kind: "Job", Namespace: j.Namespace, Name: j.Name, Detail: "running"}
	for _, c := range j.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			ws.Ready, ws.Detail = true, "complete"
		case batchv1.JobFailed:
			ws.Failed, ws.Detail = true, "failed: "+c.Message
		}
	}
	return ws
}
