package integration

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/castware-operator/castware-operator/internal/castai"
	"github.com/castware-operator/castware-operator/internal/demo"
)

// chromiumPath finds the browser `make test` installs (Debian's chromium).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := exec.LookPath(p); err == nil {
			return p
		}
	}
	t.Fatal("chromium not found: `make test` installs Debian's chromium package (apt-get install chromium); set CHROMIUM to another binary")
	return ""
}

// TestConsolePageInBrowser drives the demo's console page in headless Chromium: it shows the component
// with its version and the latest one, and clicking Update upgrades it through a real lifecycle action.
func TestConsolePageInBrowser(t *testing.T) {
	browser := chromiumPath(t)
	ns := newNamespace(t)
	startOperator(t, ns)
	createCluster(t, ns)
	api := fakeAPI(t, ns)
	api.SetComponent(castai.ComponentInfo{ID: "c1", Name: "castai-agent", HelmChart: "test-deployment", LatestVersion: "0.2.0", ReleaseName: "castai-agent", Dependencies: []string{}})
	if err := k8s.Create(context.Background(), newComponent(ns, "castai-agent", "castai-agent", "0.1.0", nil)); err != nil {
		t.Fatal(err)
	}
	waitAvailable(t, ns, "castai-agent", "0.1.0", 90*time.Second)

	page := httptest.NewServer((&demo.Console{Client: k8s, API: api, Namespace: ns, Cluster: "castai"}).Handler())
	defer page.Close()

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(browser), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true), chromedp.UserDataDir(t.TempDir()))
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	defer cancelTimeout()

	row := `tr[data-component="castai-agent"]`
	runningIs := func(v string) chromedp.Action[chromedp.Void] {
		return chromedp.Poll[chromedp.Void](`document.querySelector('tr[data-component="castai-agent"] td.running')?.textContent === "`+v+`"`,
			chromedp.WithPollingTimeout(2*time.Minute))
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(page.URL), chromedp.WaitVisible(row+` td.running`), runningIs("0.1.0")); err != nil {
		t.Fatalf("page did not show the component: %v", err)
	}
	latest, err := chromedp.Run(ctx, chromedp.Text(row+` td.latest`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(latest, "0.2.0") || !strings.Contains(latest, "update available") {
		t.Fatalf("row shows latest %q", latest)
	}
	if err := chromedp.Do(ctx, chromedp.Click(row+` button.update:not([disabled])`), runningIs("0.2.0")); err != nil {
		t.Fatalf("clicking Update did not upgrade the component: %v (%s)", err, describe(getComponent(t, ns, "castai-agent")))
	}
	c := getComponent(t, ns, "castai-agent")
	if c.Spec.Version != "0.2.0" || c.Status.CurrentVersion != "0.2.0" {
		t.Fatalf("component after Update: %s", describe(c))
	}
	if err := chromedp.Do(ctx, chromedp.Poll[chromedp.Void](`document.querySelector('#actions').textContent.includes("applied")`, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		t.Fatalf("the action list never showed the acknowledgement: %v", err)
	}
	actions, err := chromedp.Run(ctx, chromedp.Text(`#actions`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(actions, "upgrade castai-agent 0.2.0") {
		t.Fatalf("actions list: %q", actions)
	}
}
