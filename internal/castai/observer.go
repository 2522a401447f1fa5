package castai

import (
	"net/http"
	"time"
)

// Observer is told about every HTTP request the client sends (retries included): the endpoint, the HTTP
// status code (0 when no answer came) and how long the answer took. It must be quick and safe for
// concurrent use; the operator records Prometheus metrics with it.
type Observer func(endpoint string, code int, latency time.Duration)

// WithObserver sets the Observer of every request (default: none).
func WithObserver(o Observer) Option { return func(c *Client) { c.observer = o } }

// observe reports one request sent at sent, answered with resp (nil: no answer).
func (c *Client) observe(ep Endpoint, resp *http.Response, sent time.Time) {
	if c.observer == nil {
		return
	}
	code := 0
	if resp != nil {
		code = resp.StatusCode
	}
	c.observer(string(ep), code, c.now().Sub(sent))
}
