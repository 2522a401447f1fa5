package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/castware-operator/castware-operator/internal/devtools/demo"
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

// TestConsolePageInBrowser runs the demo (what `make demo` runs, with its own control plane) and drives
// its console page in headless Chromium: the Operator widget shows the version the operator's release runs
// and the latest one, and its Update upgrades the operator through its own self-upgrade until the row
// shows the new version; a component row shows its version and the latest one, and its Update upgrades
// the component through a real lifecycle action.
func TestConsolePageInBrowser(t *testing.T) {
	browser := chromiumPath(t)
	url, stopDemo := runDemo(t)
	defer stopDemo()

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(browser), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true), chromedp.UserDataDir(t.TempDir()))
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 8*time.Minute)
	defer cancelTimeout()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	checkOperatorRow(ctx, t, url)
	checkComponentRow(ctx, t)
}

// runDemo starts demo.Run and waits until its components are Available; stop ends it as Ctrl-C does.
func runDemo(t *testing.T) (url string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- demo.Run(ctx, demo.Options{Addr: "127.0.0.1:0", Out: out, Ready: ready, Nodes: 2}) }()
	stop = func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("demo did not stop cleanly: %v", err)
			}
		case <-time.After(time.Minute):
			t.Error("demo did not stop within a minute")
		}
		if t.Failed() {
			t.Logf("demo output:\n%s", out.String())
		}
	}
	select {
	case url = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("demo stopped: %v\n%s", err, out.String())
	case <-time.After(4 * time.Minute):
		stop()
		t.Fatalf("demo components not Available within 4m:\n%s", out.String())
	}
	return url, stop
}

// pollText waits until the element's text content satisfies the JavaScript predicate over `t`.
func pollText(selector, predicate string, timeout time.Duration) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](fmt.Sprintf(`((t) => t !== undefined && (%s))(document.querySelector(%q)?.textContent)`, predicate, selector),
		chromedp.WithPollingTimeout(timeout))
}

// checkOperatorRow: the Operator widget shows the release's version one behind the latest; Update runs the
// self-upgrade, and the row then shows the latest version, read from the release the operator upgraded.
func checkOperatorRow(ctx context.Context, t *testing.T, url string) {
	t.Helper()
	row := `tr[data-component="castware-operator"]`
	if err := chromedp.Do(ctx, pollText(row+` td.latest`, `t.includes("update available")`, 2*time.Minute)); err != nil {
		t.Fatalf("the operator row never offered an update: %v", err)
	}
	running, err := chromedp.Run(ctx, chromedp.Text(row+` td.running`))
	if err != nil {
		t.Fatal(err)
	}
	latestText, err := chromedp.Run(ctx, chromedp.Text(row+` td.latest`))
	if err != nil {
		t.Fatal(err)
	}
	latest := strings.Fields(latestText)[0]
	if err := chromedp.Do(ctx, pollText(row+` .reported`, fmt.Sprintf("t.endsWith(%q)", ": "+running), time.Minute)); err != nil {
		t.Fatalf("the operator never reported its version %s to Cast AI: %v", running, err)
	}
	if running == "" || running == "—" || running == latest {
		t.Fatalf("operator row: running %q, latest %q: want a running version behind the latest", running, latestText)
	}
	if err := chromedp.Do(ctx, chromedp.Click(row+` button.update:not([disabled])`),
		pollText(row+` td.running`, fmt.Sprintf("t === %q", latest), 4*time.Minute),
		pollText(row+` td.status`, `t.includes("Succeeded")`, time.Minute)); err != nil {
		status, _ := chromedp.Run(ctx, chromedp.Text(row))
		t.Fatalf("clicking the operator's Update did not upgrade it to %s: %v (row: %q)", latest, err, status)
	}
	if err := chromedp.Do(ctx, pollText(`#actions`, fmt.Sprintf("t.includes(%q)", "upgrade castware-operator "+latest+" — applied"), 30*time.Second)); err != nil {
		t.Fatalf("the action list never showed the operator upgrade applied: %v", err)
	}
	// The operator that finished the upgrade reported it to Cast AI.
	if err := chromedp.Do(ctx, pollText(row+` .reported`, fmt.Sprintf("t.endsWith(%q)", ": "+latest), time.Minute)); err != nil {
		t.Fatalf("the operator never reported %s to Cast AI: %v", latest, err)
	}
	var op demo.OperatorView
	getJSON(t, url+"api/operator", &op)
	if op.Running != latest || op.Revision != 2 || op.Phase != "Succeeded" || op.Reported != latest {
		t.Fatalf("operator after Update: %+v, want %s at revision 2, Succeeded and reported", op, latest)
	}
}

// checkComponentRow: castai-agent shows its version and the latest; Update upgrades it.
func checkComponentRow(ctx context.Context, t *testing.T) {
	t.Helper()
	row := `tr[data-component="castai-agent"]`
	if err := chromedp.Do(ctx, pollText(row+` td.running`, `t === "0.161.0"`, time.Minute)); err != nil {
		t.Fatalf("page did not show the component: %v", err)
	}
	latest, err := chromedp.Run(ctx, chromedp.Text(row+` td.latest`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(latest, "0.161.1") || !strings.Contains(latest, "update available") {
		t.Fatalf("row shows latest %q", latest)
	}
	if err := chromedp.Do(ctx, chromedp.Click(row+` button.update:not([disabled])`), pollText(row+` td.running`, `t === "0.161.1"`, 2*time.Minute)); err != nil {
		t.Fatalf("clicking Update did not upgrade the component: %v", err)
	}
	if err := chromedp.Do(ctx, pollText(`#actions`, `t.includes("upgrade castai-agent 0.161.1 — applied")`, 30*time.Second)); err != nil {
		t.Fatalf("the action list never showed the acknowledgement: %v", err)
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("decode %s: %v", url, err)
	}
}
