package migration

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Where an existing agent keeps the cluster ID it registered.
const (
	// AgentMetadataConfigMap is the ConfigMap the agent writes CLUSTER_ID into (its chart's metadataStore).
	AgentMetadataConfigMap = "castai-agent-metadata"
	// ClusterControllerConfigMap is cluster-controller's ConfigMap, which holds CLUSTER_ID.
	ClusterControllerConfigMap = "castai-cluster-controller"
	// ClusterIDKey is the key holding the cluster ID in those ConfigMaps and in key Secrets.
	ClusterIDKey = "CLUSTER_ID"
	// logTailLines is how many lines of each agent pod's log are searched for the cluster ID.
	logTailLines = 1000
)

// clusterIDPattern is the Cluster CRD's spec.cluster.clusterID pattern.
var clusterIDPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-5][0-9a-fA-F]{3}-[89ABab][0-9a-fA-F]{3}-[0-9a-fA-F]{12}$`)

// logClusterID finds "cluster_id=<uuid>" (logfmt) and "cluster_id":"<uuid>" (JSON) in agent logs.
var logClusterID = regexp.MustCompile(`(?i)\bcluster_?id"?\s*[=:]\s*"?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b`)

// NormalizeClusterID returns id in lower case when it is a cluster ID the Cluster CRD accepts, else "".
func NormalizeClusterID(id string) string {
	id = strings.TrimSpace(id)
	if !clusterIDPattern.MatchString(id) {
		return ""
	}
	return strings.ToLower(id)
}

// ClusterIDFromLogs returns the last valid cluster ID an agent logged, or "".
func ClusterIDFromLogs(logs string) string {
	ms := logClusterID.FindAllStringSubmatch(logs, -1)
	for i := len(ms) - 1; i >= 0; i-- {
		if id := NormalizeClusterID(ms[i][1]); id != "" {
			return id
		}
	}
	return ""
}

// LogSource reads container logs.
type LogSource interface {
	// TailLogs returns the last lines of a container's log.
	TailLogs(ctx context.Context, namespace, pod, container string, lines int64) (string, error)
}

// ClusterIDFinder recovers the Cast AI cluster ID an existing installation registered, so the operator keeps
// the cluster's identity instead of registering a new one.
type ClusterIDFinder struct {
	// Reader reads ConfigMaps, Secrets and Pods (uncached).
	Reader client.Reader
	// Logs reads agent logs (optional).
	Logs LogSource
}

// Find looks, in order, at the agent's metadata ConfigMap, the agent's key Secrets (keySecrets), cluster-
// controller's ConfigMap, and the logs of the agent's running pods (podLabels select them, container names the
// agent container). It returns the ID and where it was found, or "" when nothing holds one.
func (f ClusterIDFinder) Find(ctx context.Context, namespace string, keySecrets []string, podLabels map[string]string, container string) (id, source string, err error) {
	for _, name := range []string{AgentMetadataConfigMap, ClusterControllerConfigMap} {
		cm := &corev1.ConfigMap{}
		err := f.Reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, cm)
		if err == nil {
			if id := NormalizeClusterID(cm.Data[ClusterIDKey]); id != "" {
				return id, "ConfigMap " + name, nil
			}
		} else if !apierrors.IsNotFound(err) {
			return "", "", fmt.Errorf("read ConfigMap %s: %w", name, err)
		}
		if name != AgentMetadataConfigMap {
			continue
		}
		for _, s := range keySecrets {
			sec := &corev1.Secret{}
			err := f.Reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: s}, sec)
			if err == nil {
				if id := NormalizeClusterID(string(sec.Data[ClusterIDKey])); id != "" {
					return id, "Secret " + s, nil
				}
			} else if !apierrors.IsNotFound(err) {
				return "", "", fmt.Errorf("read Secret %s: %w", s, err)
			}
		}
	}
	if f.Logs == nil || len(podLabels) == 0 {
		return "", "", nil
	}
	pods := &corev1.PodList{}
	if err := f.Reader.List(ctx, pods, client.InNamespace(namespace), client.MatchingLabelsSelector{Selector: labels.SelectorFromSet(podLabels)}); err != nil {
		return "", "", fmt.Errorf("list agent pods: %w", err)
	}
	for _, p := range pods.Items {
		if p.Status.Phase != corev1.PodRunning {
			continue
		}
		logs, err := f.Logs.TailLogs(ctx, namespace, p.Name, container, logTailLines)
		if err != nil {
			continue // logs are the last resort; a pod whose logs cannot be read is skipped
		}
		if id := ClusterIDFromLogs(logs); id != "" {
			return id, "logs of pod " + p.Name, nil
		}
	}
	return "", "", nil
}

// PodLogs reads container logs through the Kubernetes API.
type PodLogs struct {
	// Client is a clientset.
	Client kubernetes.Interface
}

// maxLogBytes bounds how much of a log is read.
const maxLogBytes = 1 << 20

// TailLogs implements LogSource.
func (p PodLogs) TailLogs(ctx context.Context, namespace, pod, container string, lines int64) (string, error) {
	limit := int64(maxLogBytes)
	raw, err := p.Client.CoreV1().Pods(namespace).GetLogs(pod, &corev1.PodLogOptions{Container: container, TailLines: &lines, LimitBytes: &limit}).DoRaw(ctx)
	if err != nil {
		return "", fmt.Errorf("logs of %s/%s: %w", pod, container, err)
	}
	return string(raw), nil
}
