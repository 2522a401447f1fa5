package console

import (
	"context"
	"errors"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/helm"
)

func TestBackoff(t *testing.T) {
	tests := []struct {
		n    int
		want time.Duration
	}{{0, time.Second}, {1, time.Second}, {2, 2 * time.Second}, {4, 8 * time.Second}, {10, 10 * time.Second}}
	for _, tt := range tests {
		if got := backoff(tt.n, time.Second, 10*time.Second); got != tt.want {
			t.Errorf("backoff(%d) = %s, want %s", tt.n, got, tt.want)
		}
	}
}

func TestFindHandled(t *testing.T) {
	cl := &castwarev1.Cluster{Status: castwarev1.ClusterStatus{HandledActions: []castwarev1.HandledAction{{ID: "a"}, {ID: "b", Error: "boom"}}}}
	if h := findHandled(cl, "b"); h == nil || h.Error != "boom" {
		t.Fatalf("findHandled(b) = %+v", h)
	}
	if findHandled(cl, "c") != nil {
		t.Fatal("unknown action found")
	}
}

func TestMemKey(t *testing.T) {
	k := &memKey{}
	if _, err := k.APIKey(context.Background()); !errors.Is(err, ErrKeyNotLoaded) {
		t.Fatalf("empty key: %v", err)
	}
	if !k.set("a") || k.set("a") || !k.set("b") {
		t.Fatal("set must report changes only")
	}
	if v, _ := k.APIKey(context.Background()); v != "b" {
		t.Fatalf("key = %q", v)
	}
}

func TestDeployedOrLatest(t *testing.T) {
	mk := func(v int, s release.Status) *release.Release {
		return &release.Release{Version: v, Info: &release.Info{Status: s}, Chart: &chart.Chart{Metadata: &chart.Metadata{}}}
	}
	st := helm.NewState([]*release.Release{mk(1, release.StatusSuperseded), mk(2, release.StatusDeployed), mk(3, release.StatusFailed)})
	if r := deployedOrLatest(st); r.Version != 2 {
		t.Fatalf("got revision %d, want the deployed one (2)", r.Version)
	}
	st = helm.NewState([]*release.Release{mk(1, release.StatusPendingInstall)})
	if r := deployedOrLatest(st); r.Version != 1 {
		t.Fatalf("got revision %d, want the latest (1)", r.Version)
	}
}
