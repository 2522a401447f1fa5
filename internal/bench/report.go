package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Row is one line of the benchmark table.
type Row struct {
	Group     string  `json:"group"`
	Metric    string  `json:"metric"`
	Value     float64 `json:"value"`
	Unit      string  `json:"unit"`
	Target    string  `json:"target,omitempty"`
	Reference string  `json:"reference,omitempty"`
}

// MemoryPoint is the operator's memory at one cluster size.
type MemoryPoint struct {
	Pods  int     `json:"pods"`
	RSSMB float64 `json:"rssMiB"`
	// AnonMB is the anonymous part of RSS (Go heap, stacks, runtime): what grows with the cluster.
	AnonMB float64 `json:"anonMiB"`
	HeapMB float64 `json:"heapMiB"`
}

// Machine describes where the benchmark ran.
type Machine struct {
	CPU    string `json:"cpu"`
	Cores  int    `json:"cores"`
	Memory string `json:"memory"`
	Go     string `json:"go"`
	Kernel string `json:"kernel"`
}

// String is a one-line description.
func (m Machine) String() string {
	return fmt.Sprintf("%s, %d cores, %s RAM, %s, Linux %s", m.CPU, m.Cores, m.Memory, m.Go, m.Kernel)
}

// Result is everything one run measured.
type Result struct {
	Machine          Machine        `json:"machine"`
	Scale            float64        `json:"scale"`
	Started          time.Time      `json:"started"`
	Duration         string         `json:"duration"`
	Rows             []Row          `json:"rows"`
	Memory           []MemoryPoint  `json:"memory"`
	IdleKubeRequests map[string]int `json:"idleKubeRequests"`
	IdleAPICalls     map[string]int `json:"idleCastAICalls"`
}

func (r *Result) add(row Row) { r.Rows = append(r.Rows, row) }

// Table renders the rows as an aligned text table (also valid Markdown).
func (r *Result) Table() string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 1, ' ', tabwriter.Debug)
	fmt.Fprintln(tw, " measurement\t value\t target\t documented operator")
	fmt.Fprintln(tw, " ---\t ---\t ---\t ---")
	for _, row := range r.Rows {
		fmt.Fprintf(tw, " %s\t %s\t %s\t %s\n", row.Metric, formatValue(row.Value, row.Unit), row.Target, row.Reference)
	}
	_ = tw.Flush()
	return b.String()
}

func formatValue(v float64, unit string) string {
	switch unit {
	case "s":
		return fmt.Sprintf("%.2f s", v)
	case "×":
		return fmt.Sprintf("%.2f×", v)
	case "%":
		return fmt.Sprintf("%+.1f %%", v)
	case "MiB":
		return fmt.Sprintf("%.1f MiB", v)
	case "/min", "s/min":
		return fmt.Sprintf("%.3f %s", v, unit)
	default:
		if v == float64(int64(v)) {
			return fmt.Sprintf("%d %s", int64(v), unit)
		}
		return fmt.Sprintf("%.2f %s", v, unit)
	}
}

// Write stores results.json and memory.png in dir.
func (r *Result) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	return writeMemoryPNG(filepath.Join(dir, "memory.png"), r.Memory)
}

func machine() Machine {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if raw, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(raw), "\n") {
			if strings.HasPrefix(line, "MemTotal:") {
				var kb float64
				fmt.Sscanf(strings.TrimPrefix(line, "MemTotal:"), "%f", &kb)
				m.Memory = fmt.Sprintf("%.0f GiB", kb/(1<<20))
			}
		}
	}
	if raw, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(raw))
	}
	return m
}

func deploymentObj(ns, name string, labels map[string]string, replicas *int32) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: appsv1.DeploymentSpec{Replicas: replicas, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.local/load:v1"}}}}},
	}
}
