package charts

import (
	"context"
	"fmt"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// bigIndex renders an index.yaml of about size bytes: charts chart-0, chart-1, … with 40 versions each,
// entries as helm repo index writes them, and "app" with versions versions among them.
func bigIndex(size, versions int) []byte {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nentries:\n")
	entry := func(name string, v int) {
		fmt.Fprintf(&b, "  - apiVersion: v2\n    appVersion: v1.%d.0\n    created: \"2026-08-01T10:00:00.000000000Z\"\n", v)
		fmt.Fprintf(&b, "    description: A Helm chart for %s, a component that does many useful things in the cluster\n", name)
		fmt.Fprintf(&b, "    digest: %064x\n    home: https://example.com/%s\n    maintainers:\n    - email: team@example.com\n      name: team\n", v+len(name), name)
		fmt.Fprintf(&b, "    name: %s\n    sources:\n    - https://github.com/example/%s\n    type: application\n", name, name)
		fmt.Fprintf(&b, "    urls:\n    - https://example.com/charts/%s-1.%d.0.tgz\n    version: 1.%d.0\n", name, v, v)
	}
	for i := 0; b.Len() < size; i++ {
		name := fmt.Sprintf("chart-%d", i)
		if i == 50 {
			name = "app"
		}
		fmt.Fprintf(&b, "  %s:\n", name)
		n := 40
		if name == "app" {
			n = versions
		}
		for v := range n {
			entry(name, v)
		}
	}
	b.WriteString("generated: \"2026-08-01T10:00:00Z\"\n")
	return []byte(b.String())
}

// BenchmarkIndexDecode measures reading an 8 MiB index to find one chart's versions (no cache: every
// operation downloads and decodes the index). peak-heap-MiB is the largest live heap seen during the
// operations above the heap before them.
func BenchmarkIndexDecode(b *testing.B) {
	b.Run("yaml", func(b *testing.B) { benchIndex(b, bigIndex(8<<20-64<<10, 60)) })
	js, err := yaml.YAMLToJSON(bigIndex(8<<20-64<<10, 60))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("json", func(b *testing.B) { benchIndex(b, js) })
}

func benchIndex(b *testing.B, index []byte) {
	s := newRepoServer(b)
	s.set("/index.yaml", index)
	l := NewLoader(WithIndexTTL(0))
	stop, peak := watchHeap()
	b.ReportAllocs()
	for b.Loop() {
		if v, err := l.Latest(context.Background(), s.URL(), "app"); err != nil || v != "1.59.0" {
			b.Fatal(v, err)
		}
	}
	stop()
	b.ReportMetric(float64(peak())/(1<<20), "peak-heap-MiB")
}

// watchHeap samples the live heap every 100µs until stop; peak reports the largest growth over the heap
// at the start.
func watchHeap() (stop func(), peak func() uint64) {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 { metrics.Read(sample); return sample[0].Value.Uint64() }
	base := read()
	var top atomic.Uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			if h := read(); h > base && h-base > top.Load() {
				top.Store(h - base)
			}
			select {
			case <-done:
				return
			case <-time.After(100 * time.Microsecond):
			}
		}
	}()
	return func() { close(done); <-finished }, top.Load
}
