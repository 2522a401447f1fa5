package bench

import (
	"strings"
	"testing"
)

func TestFormatValue(t *testing.T) {
	for _, c := range []struct {
		v    float64
		unit string
		want string
	}{
		{1.234, "s", "1.23 s"},
		{0.5, "×", "0.50×"},
		{7.25, "%", "+7.2 %"},
		{73.94, "MiB", "73.9 MiB"},
		{0.2, "/min", "0.200 /min"},
		{0.042, "s/min", "0.042 s/min"},
		{6, "downloads", "6 downloads"},
		{5.33, "calls", "5.33 calls"},
		{41943040, "B", "41943040 B (40.0 MiB)"},
	} {
		if got := formatValue(c.v, c.unit); got != c.want {
			t.Errorf("formatValue(%v, %q) = %q, want %q", c.v, c.unit, got, c.want)
		}
	}
}

func TestMarkdownListsBothAPIModes(t *testing.T) {
	r := &Result{
		Rows: []Row{{Group: "idle", Metric: "Cast AI API calls per minute at idle, all endpoints (holding API)", Value: 0.33, Unit: "/min", Target: "≤ 1"}},
		IdleAPICalls: map[string]map[string]int{
			holdingMode.Key: {"lifecycle-actions:poll": 1},
			atOnceMode.Key:  {"lifecycle-actions:poll": 15, "/logs": 1},
		},
		Actions: []ActionSample{
			{Mode: holdingMode.Key, Component: "castai-agent", Version: "0.161.1", QuietS: 3.2, StartedS: 0.08, AvailableS: 0.7},
			{Mode: atOnceMode.Key, Component: "spot-handler", Version: "0.35.5", IdleAction: true, QuietS: 300, StartedS: 6.1, AvailableS: 6.9},
		},
	}
	md := r.Markdown("bench/memory.png")
	for _, want := range []string{
		"| lifecycle-actions:poll | 1 | 15 |",
		"| /logs | 0 | 1 |",
		"| holding API | burst | castai-agent → 0.161.1 | 3.2 s | 0.080 s | 0.70 s |",
		"| API answers at once | after idle | spot-handler → 0.35.5 | 300.0 s | 6.100 s | 6.90 s |",
		"0.330 /min",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md)
		}
	}
}
