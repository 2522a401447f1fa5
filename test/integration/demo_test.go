package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/castware-operator/castware-operator/internal/devtools/demo"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestDemo runs what `make demo` runs — its own control plane, the fake API, the demo charts, the operator's
// own release and the operator with the shipped catalog — until every component is Available, then stops it
// as Ctrl-C does.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &syncBuffer{}
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- demo.Run(ctx, demo.Options{Addr: "127.0.0.1:0", Out: out, Ready: ready, Nodes: 2}) }()
	var url string
	select {
	case url = <-ready:
	case err := <-done:
		t.Fatalf("demo stopped: %v\n%s", err, out.String())
	case <-time.After(3 * time.Minute):
		t.Fatalf("demo components not Available within 3m:\n%s", out.String())
	}
	resp, err := http.Get(url + "api/components")
	if err != nil {
		t.Fatal(err)
	}
	var rows []demo.ComponentView
	if err := json.NewDecoder(resp.Body).Decode(&rows); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(rows) != 2 {
		t.Fatalf("console lists %d components: %+v", len(rows), rows)
	}
	for _, r := range rows {
		if r.Available != "True" || r.Running == "" || r.Latest == "" || r.Latest == r.Running {
			t.Fatalf("row %+v: want Available, running one version behind latest", r)
		}
	}
	var op demo.OperatorView
	getJSON(t, url+"api/operator", &op)
	if op.Running == "" || op.Revision != 1 || op.Latest == "" || op.Latest == op.Running || op.Upgrading {
		t.Fatalf("operator %+v: want revision 1 of the release, one version behind latest", op)
	}
	for _, want := range []string{"control plane", "fake Cast AI API", "helm install castware-operator " + op.Running, "as pod castware-operator-",
		"operator " + op.Running + " (revision 1)", "console page", "castai-agent", "spot-handler", "every component is Available"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("demo output lacks %q:\n%s", want, out.String())
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("demo did not stop cleanly: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("demo did not stop within a minute of Ctrl-C")
	}
	if !strings.Contains(out.String(), "stopping the control plane") {
		t.Fatalf("demo did not stop what it started:\n%s", out.String())
	}
}
