package castai

import (
	"context"
	"errors"
	"strings"
	"testing"

	secrets "github.com/castware-operator/castware-operator/internal/redact"
)

// TestBodiesNeverContainKeys sends a report and an acknowledgement whose texts quote the client's own key and
// another key the operator read (registered with internal/redact, such as a plaintext key of a chart's values):
// neither reaches Cast AI.
func TestBodiesNeverContainKeys(t *testing.T) {
	other := "0ther-Cluster-Key-no-shape"
	secrets.Add(other)
	quote := "helm: values apiKey: " + testKey + " and " + other + " at https://x/?key=" + testKey
	calls := map[string]func(c *Client) error{
		"recordActionResult": func(c *Client) error {
			return c.RecordActionResult(context.Background(), "c1", ActionResult{Name: "leaky", Action: ActionEnable, Status: StatusError,
				Message: quote, ComponentParams: map[string]string{"token": other}})
		},
		"ack": func(c *Client) error { return c.AckAction(context.Background(), "c1", "a1", errors.New(quote)) },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			s := &scripted{steps: []step{{200, `{}`, nil}}}
			c, _ := newTestClient(t, s)
			if err := call(c); err != nil {
				t.Fatal(err)
			}
			body := string(s.body)
			for _, k := range []string{testKey, other} {
				if strings.Contains(body, k) {
					t.Errorf("the body sent to Cast AI holds a key: %s", body)
				}
			}
			if !strings.Contains(body, redactedMark) {
				t.Errorf("body %s: the message should be kept, redacted", body)
			}
		})
	}
}
