package charts

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
)

func TestMatchAppVersion(t *testing.T) {
	t.Parallel()
	entries := []ChartApp{
		{Version: "0.20.0", AppVersion: "v0.48.2"},
		{Version: "0.21.0", AppVersion: "v0.49.0"},
		{Version: "0.20.1", AppVersion: "0.48.2"},
		{Version: "0.19.9", AppVersion: "v0.48.2"},
		{Version: "not-semver", AppVersion: "v0.48.2"},
		{Version: "0.30.0", AppVersion: ""},
	}
	tests := []struct {
		name, tag string
		want      []string
	}{
		{"tag with v matches both spellings, newest first", "v0.48.2", []string{"0.20.1", "0.20.0", "0.19.9", "not-semver"}},
		{"tag without v matches too", "0.48.2", []string{"0.20.1", "0.20.0", "0.19.9", "not-semver"}},
		{"one match", "v0.49.0", []string{"0.21.0"}},
		{"no match", "v9.9.9", nil},
		{"empty tag never matches an empty appVersion", "", nil},
		{"a bare v never matches", "v", nil},
		{"chart version is not an app version", "0.21.0", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MatchAppVersion(entries, tt.tag); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("MatchAppVersion(%q) = %v, want %v", tt.tag, got, tt.want)
			}
		})
	}
}

func TestVersionsForAppVersionHTTP(t *testing.T) {
	t.Parallel()
	s := newRepoServer(t)
	s.set("/index.yaml", indexYAML(
		idxEntry{chart: "agent", raw: "  - apiVersion: v2\n    name: agent\n    version: 0.60.0\n    appVersion: v0.49.0\n    urls: [agent-0.60.0.tgz]\n"},
		idxEntry{chart: "agent", raw: "  - apiVersion: v2\n    name: agent\n    version: 0.59.1\n    appVersion: v0.48.2\n    urls: [agent-0.59.1.tgz]\n"},
		idxEntry{chart: "agent", raw: "  - apiVersion: v2\n    name: agent\n    version: 0.59.0\n    appVersion: v0.48.2\n    urls: [agent-0.59.0.tgz]\n"},
	))
	l := NewLoader()
	got, err := l.VersionsForAppVersion(context.Background(), s.URL(), "agent", "0.48.2")
	if err != nil || !reflect.DeepEqual(got, []string{"0.59.1", "0.59.0"}) {
		t.Fatalf("VersionsForAppVersion = %v, %v; want [0.59.1 0.59.0]", got, err)
	}
	if n := s.count("/agent-0.59.1.tgz") + s.count("/agent-0.59.0.tgz"); n != 0 {
		t.Fatalf("%d archives downloaded; the index carries appVersion", n)
	}
	got, err = l.VersionsForAppVersion(context.Background(), s.URL(), "other", "0.48.2")
	if err != nil || len(got) != 0 {
		t.Fatalf("unknown chart = %v, %v; want no versions and no error", got, err)
	}
	s.fail("/index.yaml", 500)
	if _, err := NewLoader().VersionsForAppVersion(context.Background(), s.URL(), "agent", "0.48.2"); err == nil {
		t.Fatal("an unreachable index gave no error")
	}
}

func TestVersionsForAppVersionLocal(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, c := range []struct{ version, app string }{{"1.0.0", "v0.48.2"}, {"1.1.0", "v0.49.0"}, {"0.9.0", "0.48.2"}} {
		ch := testChart("app", c.version)
		ch.Metadata.AppVersion = c.app
		writeFile(t, filepath.Join(dir, "app-"+c.version+".tgz"), packChartFrom(t, ch))
	}
	got, err := NewLoader().VersionsForAppVersion(context.Background(), dir, "app", "v0.48.2")
	if err != nil || !reflect.DeepEqual(got, []string{"1.0.0", "0.9.0"}) {
		t.Fatalf("VersionsForAppVersion = %v, %v; want [1.0.0 0.9.0]", got, err)
	}
}
