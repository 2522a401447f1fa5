package memlimit

import (
	"math"
	"runtime/debug"
	"testing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestFromEnv(t *testing.T) {
	cases := []struct {
		name    string
		env     map[string]string
		want    int64
		wantErr bool
	}{
		{"no limit", nil, 0, false},
		{"240Mi", map[string]string{EnvLimit: "251658240"}, 226492380, false},
		{"GOMEMLIMIT wins", map[string]string{EnvLimit: "251658240", "GOMEMLIMIT": "100MiB"}, 0, false},
		{"spaces", map[string]string{EnvLimit: " 1000 "}, 900, false},
		{"a quantity, not bytes", map[string]string{EnvLimit: "240Mi"}, 0, true},
		{"zero", map[string]string{EnvLimit: "0"}, 0, true},
		{"negative", map[string]string{EnvLimit: "-5"}, 0, true},
	}
	for _, c := range cases {
		got, err := FromEnv(env(c.env))
		if got != c.want || (err != nil) != c.wantErr {
			t.Errorf("%s: FromEnv = %d, %v; want %d, error %t", c.name, got, err, c.want, c.wantErr)
		}
	}
}

func TestApply(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	debug.SetMemoryLimit(math.MaxInt64)
	got, err := Apply(env(map[string]string{EnvLimit: "268435456"}))
	if err != nil || got != 241591860 {
		t.Fatalf("Apply = %d, %v; want 241591860", got, err)
	}
	if now := debug.SetMemoryLimit(-1); now != got {
		t.Errorf("runtime limit %d, want %d", now, got)
	}
	if got, err := Apply(env(nil)); got != 0 || err != nil {
		t.Errorf("Apply without a limit = %d, %v; want 0, nil", got, err)
	}
	if now := debug.SetMemoryLimit(-1); now != 241591860 {
		t.Errorf("Apply without a limit changed the runtime limit to %d", now)
	}
}
