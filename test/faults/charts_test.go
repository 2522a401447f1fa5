package faults

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/release"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/devtools/testharness"
)

// Chart repository faults. test/integration/failures_test.go (TestBadInputLeavesTheReleaseUntouched) checks
// the condition each fault gives with the operator in-process; these cases add what happens next: the
// repository slow, down while the running version's chart is needed again (the cache serves it), faults
// that heal (the operator retries by itself, no spec change), and an index holding pre-releases and
// malformed versions. Each case has its own repository, so its faults touch nothing else.

// ownRepo starts a chart repository for the case and a Cluster installing from it.
func ownRepo(t *testing.T, f *fixture) *testharness.ChartServer {
	t.Helper()
	repo, err := testharness.NewChartServer(filepath.Join("testdata", "charts"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(repo.Close)
	f.createCluster(func(c *castwarev1.Cluster) { c.Spec.HelmRepoURL = repo.URL() })
	return repo
}

// waitChartUnavailable waits until the Component says its chart is unavailable for its generation, and
// checks that the running release was not touched.
func (f *fixture) waitChartUnavailable(name string, wantRevs int, want ...string) *castwarev1.Component {
	f.t.Helper()
	c := f.waitComponent(name, "chart unavailable", time.Minute, func(c *castwarev1.Component) error {
		p := condition(c.Status.Conditions, castwarev1.ConditionProgressing)
		if p.Reason != castwarev1.ReasonChartUnavailable || p.ObservedGeneration != c.Generation {
			return fmt.Errorf("not yet")
		}
		for _, w := range want {
			if !strings.Contains(p.Message, w) {
				return fmt.Errorf("message %q lacks %q", p.Message, w)
			}
		}
		return nil
	})
	if condition(c.Status.Conditions, castwarev1.ConditionAvailable).Status != metav1.ConditionTrue {
		f.t.Fatalf("the running component was affected: %s", describe(c))
	}
	if h := f.assertReleaseSane(name); len(h) != wantRevs {
		f.t.Fatalf("release touched: %s", revs(h))
	}
	return c
}

// TestChartRepoSlow: every repository answer takes 5 s.
func TestChartRepoSlow(t *testing.T) {
	f := newFixture(t)
	repo := ownRepo(t, f)
	f.start("op-1", nil)
	f.waitRegistered()
	f.createComponent("hooked", "0.1.0", nil)
	f.waitAvailable("hooked", "0.1.0", 2*time.Minute)
	repo.SetDelay(5 * time.Second)
	start := time.Now()
	f.patchComponent("hooked", func(c *castwarev1.Component) { c.Spec.Version = "0.2.0" })
	f.waitAvailable("hooked", "0.2.0", 2*time.Minute)
	converged := time.Since(start)
	h := f.assertReleaseSane("hooked")
	f.assertNoCrash()
	record(t, catCharts, "repository answers every request after 5 s",
		fmt.Sprintf("the upgrade to 0.2.0 waited for the index and the archive (under the loader's 30 s timeout) and went through (history: %s)", revs(h)), converged)
}

// TestChartRepoDownCacheServes: the repository goes down after 0.1.0 was installed. A values change at the
// running version is installed from the cached archive; a new version waits with a clear condition, the
// running release untouched, and goes through by itself once the repository is back.
func TestChartRepoDownCacheServes(t *testing.T) {
	f := newFixture(t)
	repo := ownRepo(t, f)
	f.start("op-1", nil)
	f.waitRegistered()
	f.createComponent("hooked", "0.1.0", nil)
	f.waitAvailable("hooked", "0.1.0", 2*time.Minute)
	repo.SetDown(true)
	down := time.Now()
	before := repo.Requests("test-hooks-0.1.0.tgz")
	f.patchComponent("hooked", func(c *castwarev1.Component) { c.Spec.Values = rawJSON(t, map[string]any{"replicaCount": 2}) })
	f.waitComponent("hooked", "values change applied from the cache", 2*time.Minute, func(c *castwarev1.Component) error {
		if c.Status.Revision != 2 || condition(c.Status.Conditions, castwarev1.ConditionAvailable).Status != metav1.ConditionTrue ||
			condition(c.Status.Conditions, castwarev1.ConditionProgressing).Status != metav1.ConditionFalse || c.Status.ObservedGeneration != c.Generation {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	cached := time.Since(down)
	if n := repo.Requests("test-hooks-0.1.0.tgz") - before; n != 0 {
		t.Fatalf("the archive was fetched %d times although it was cached", n)
	}
	f.patchComponent("hooked", func(c *castwarev1.Component) { c.Spec.Version = "0.2.0" })
	f.waitChartUnavailable("hooked", 2, "0.2.0", "503")
	repo.SetDown(false)
	back := time.Now()
	f.waitAvailable("hooked", "0.2.0", 3*time.Minute)
	healed := time.Since(back)
	h := f.assertReleaseSane("hooked")
	f.assertNoCrash()
	record(t, catCharts, "repository down (503) after 0.1.0 was installed; then a values change, then an upgrade to 0.2.0",
		fmt.Sprintf("the values change at the running version was installed from the cached archive in %.1f s, no request to the repository; the upgrade gave Progressing=False/ChartUnavailable naming 0.2.0 and the 503, the running release untouched; once the repository was back the operator retried on its own (history: %s)",
			cached.Seconds(), revs(h)), healed)
}

// TestChartRepoFaultsHeal: a missing archive (404 for one version), a corrupt archive and a digest mismatch:
// each gives a clear condition and leaves the running release alone; once the repository serves the right
// archive again the upgrade goes through without anyone touching the Component.
func TestChartRepoFaultsHeal(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault testharness.Fault
		want  string
		cause string
	}{
		{"404 for one version", testharness.FaultNotFound, "404", "404"},
		{"corrupt archive", testharness.FaultCorrupt, "corrupt", "corrupt archive"},
		{"digest mismatch", testharness.FaultDigestMismatch, "digest", "digest mismatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			repo := ownRepo(t, f)
			// Broken before the operator first reads the index, so its cached index holds the broken entry.
			repo.SetFault("test-hooks", "0.2.0", tc.fault)
			f.start("op-1", nil)
			f.waitRegistered()
			f.createComponent("hooked", "0.1.0", nil)
			f.waitAvailable("hooked", "0.1.0", 2*time.Minute)
			f.patchComponent("hooked", func(c *castwarev1.Component) { c.Spec.Version = "0.2.0" })
			f.waitChartUnavailable("hooked", 1, "0.2.0", tc.want)
			repo.SetFault("test-hooks", "0.2.0", testharness.FaultNone)
			healed := time.Now()
			f.waitAvailable("hooked", "0.2.0", 2*time.Minute)
			converged := time.Since(healed)
			h := f.assertReleaseSane("hooked")
			f.assertNoCrash()
			record(t, catCharts, tc.name+" (0.2.0), then repaired",
				fmt.Sprintf("Progressing=False/ChartUnavailable naming 0.2.0 and the %s, the running 0.1.0 untouched; after the repair the operator retried by itself (backoff; a digest or archive failure makes it read the index again instead of trusting its cached copy for the 5 min TTL) and upgraded (history: %s)", tc.cause, revs(h)), converged)
		})
	}
}

// TestChartRepoOddVersions: the index lists a pre-release and malformed versions next to the real ones; a
// Component asking for the latest version gets the newest stable one.
func TestChartRepoOddVersions(t *testing.T) {
	f := newFixture(t)
	repo := ownRepo(t, f)
	for _, v := range []string{"0.3.0-rc.1", "latest", "1.x", "", "not.a.version", "0.2"} {
		repo.AddIndexEntry("test-hooks", v)
	}
	f.start("op-1", nil)
	f.waitRegistered()
	start := time.Now()
	f.createComponent("hooked", "", nil)
	c := f.waitAvailable("hooked", "0.2.0", 2*time.Minute)
	converged := time.Since(start)
	if c.Spec.Version != "0.2.0" {
		t.Fatalf("latest resolved to %q", c.Spec.Version)
	}
	h := f.assertReleaseSane("hooked")
	if len(h) != 1 || h[0].Info.Status != release.StatusDeployed {
		t.Fatalf("history %s", revs(h))
	}
	f.assertNoCrash()
	record(t, catCharts, "index lists 0.3.0-rc.1 and malformed versions (\"latest\", \"1.x\", \"\", \"not.a.version\", \"0.2\") next to 0.1.0 and 0.2.0; the Component asks for the latest",
		"resolved the latest to 0.2.0, the newest stable version (pre-release and malformed entries skipped), wrote it into spec.version and installed it", converged)
}
