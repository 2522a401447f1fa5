package castai

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Me returns the identity behind the API key (GET /v1/me); useful to validate a key.
func (c *Client) Me(ctx context.Context) (*Me, error) {
	var out Me
	if err := c.do(ctx, call{ep: EndpointMe, method: http.MethodGet, path: "/v1/me", out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetCluster returns a registered cluster (GET /v1/kubernetes/external-clusters/{id}).
func (c *Client) GetCluster(ctx context.Context, clusterID string) (*ExternalCluster, error) {
	if err := requireID(EndpointGetCluster, "cluster ID", clusterID); err != nil {
		return nil, err
	}
	var out ExternalCluster
	err := c.do(ctx, call{
		ep: EndpointGetCluster, method: http.MethodGet,
		path: "/v1/kubernetes/external-clusters/" + url.PathEscape(clusterID), out: &out,
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// RegisterCluster registers (or re-registers) the cluster (POST
// /v1/kubernetes/external-clusters). req must carry exactly one provider block; ID defaults
// to ZeroUUID and castware_install_method is always 1 (operator).
func (c *Client) RegisterCluster(ctx context.Context, req RegisterClusterRequest) (*RegisterClusterResponse, error) {
	if req.Provider() == "" {
		return nil, fmt.Errorf("castai %s: exactly one of eks, gke, aks must be set", EndpointRegisterCluster)
	}
	if strings.TrimSpace(req.ID) == "" {
		req.ID = ZeroUUID
	}
	req.CastwareInstallMethod = CastwareInstallMethodOperator
	var out RegisterClusterResponse
	err := c.do(ctx, call{
		ep: EndpointRegisterCluster, method: http.MethodPost,
		path: "/v1/kubernetes/external-clusters", body: req, out: &out,
	})
	if err != nil {
		return nil, err
	}
	if out.ID == "" {
		return nil, fmt.Errorf("castai %s: %w: answer has no cluster id", EndpointRegisterCluster, ErrMalformedResponse)
	}
	return &out, nil
}

// RecordActionResult reports the outcome of an action on a component (POST
// cluster-management/v1/clusters/{id}/components:recordActionResult).
func (c *Client) RecordActionResult(ctx context.Context, clusterID string, res ActionResult) error {
	if err := requireID(EndpointRecordActionResult, "cluster ID", clusterID); err != nil {
		return err
	}
	if res.Name == "" {
		return fmt.Errorf("castai %s: component name is required", EndpointRecordActionResult)
	}
	if !res.Action.Valid() {
		return fmt.Errorf("castai %s: invalid action %q", EndpointRecordActionResult, res.Action)
	}
	if !res.Status.Valid() {
		return fmt.Errorf("castai %s: invalid status %q", EndpointRecordActionResult, res.Status)
	}
	key, err := c.callKey(ctx, EndpointRecordActionResult)
	if err != nil {
		return err
	}
	return c.do(ctx, call{
		ep: EndpointRecordActionResult, method: http.MethodPost,
		path: "/cluster-management/v1/clusters/" + url.PathEscape(clusterID) + "/components:recordActionResult",
		body: redactResult(res, key), key: key,
	})
}

// redactResult returns res with the key (and every registered secret) scrubbed from its message and
// parameters: a message is often a Helm error, which may quote rendered values.
func redactResult(res ActionResult, key string) ActionResult {
	res.Message = redact(res.Message, key)
	if len(res.ComponentParams) > 0 {
		params := make(map[string]string, len(res.ComponentParams))
		for k, v := range res.ComponentParams {
			params[k] = redact(v, key)
		}
		res.ComponentParams = params
	}
	return res
}

// callKey reads the API key for one call of ep before its body is built, so the body can be scrubbed of
// it; a failure counts as a failed call.
func (c *Client) callKey(ctx context.Context, ep Endpoint) (string, error) {
	key, err := c.apiKey(ctx)
	if err != nil {
		c.record(ep, func(s *EndpointStats) { s.Calls++; s.Errors++ })
		return "", fmt.Errorf("castai %s: %w", ep, err)
	}
	return key, nil
}

// DefaultPollMaxActions is the max_actions sent when PollOptions.MaxActions <= 0.
const DefaultPollMaxActions = 10

// PollActions fetches pending lifecycle actions, oldest first (GET
// cluster-management/v1/clusters/{id}/lifecycle-actions:poll). The server may hold the
// request open until an action arrives, so the attempt timeout is the poll timeout (or
// opts.Wait plus the per-call timeout); an attempt that times out is not retried, nor one the API
// asked (Retry-After) to wait for longer than the client's max delay: the error carries the wait
// (RetryAfter) and the caller polls again after it.
func (c *Client) PollActions(ctx context.Context, clusterID string, opts PollOptions) ([]Action, error) {
	if err := requireID(EndpointPollActions, "cluster ID", clusterID); err != nil {
		return nil, err
	}
	maxActions := opts.MaxActions
	if maxActions <= 0 {
		maxActions = DefaultPollMaxActions
	}
	timeout := c.pollTimeout
	var header http.Header
	if opts.Wait > 0 {
		timeout = min(timeout, opts.Wait+c.timeout)
		header = http.Header{PollWaitHeader: {opts.Wait.String()}}
	}
	var out PollResponse
	err := c.do(ctx, call{
		ep: EndpointPollActions, method: http.MethodGet,
		path:   "/cluster-management/v1/clusters/" + url.PathEscape(clusterID) + "/lifecycle-actions:poll",
		query:  url.Values{"max_actions": {strconv.Itoa(maxActions)}},
		header: header, out: &out, timeout: timeout, noTimeoutRetry: true, waitOutRetryAfter: true,
	})
	if err != nil {
		return nil, err
	}
	return out.Actions, nil
}

// DecodeActions decodes a poll answer body; it is what PollActions uses and never panics.
func DecodeActions(body []byte) ([]Action, error) {
	var out PollResponse
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrMalformedResponse, describeJSONError(err))
	}
	return out.Actions, nil
}

// AckAction acknowledges a lifecycle action (POST
// /cluster-management/v1/clusters/{id}/lifecycle-actions/{actionId}:ack). A nil actionErr
// sends {"error": null}; otherwise its message, with the API key redacted.
func (c *Client) AckAction(ctx context.Context, clusterID, actionID string, actionErr error) error {
	if err := requireID(EndpointAckAction, "cluster ID", clusterID); err != nil {
		return err
	}
	if err := requireID(EndpointAckAction, "action ID", actionID); err != nil {
		return err
	}
	key, err := c.callKey(ctx, EndpointAckAction)
	if err != nil {
		return err
	}
	body := AckRequest{}
	if actionErr != nil {
		msg := redact(actionErr.Error(), key)
		body.Error = &msg
	}
	return c.do(ctx, call{
		ep: EndpointAckAction, method: http.MethodPost,
		path: "/cluster-management/v1/clusters/" + url.PathEscape(clusterID) +
			"/lifecycle-actions/" + url.PathEscape(actionID) + ":ack",
		body: body, key: key,
	})
}

// ValidateUpgrade asks whether component may be upgraded to targetVersion (POST
// cluster-management/v1/clusters/{id}/components:validateUpgrade). A non-2xx answer whose
// body carries "allowed" or "blockReason" is returned as a response, not as an error.
func (c *Client) ValidateUpgrade(ctx context.Context, clusterID, component, targetVersion string) (*ValidateUpgradeResponse, error) {
	if err := requireID(EndpointValidateUpgrade, "cluster ID", clusterID); err != nil {
		return nil, err
	}
	if err := requireID(EndpointValidateUpgrade, "component name", component); err != nil {
		return nil, err
	}
	var out ValidateUpgradeResponse
	err := c.do(ctx, call{
		ep: EndpointValidateUpgrade, method: http.MethodPost,
		path: "/cluster-management/v1/clusters/" + url.PathEscape(clusterID) + "/components:validateUpgrade",
		body: ValidateUpgradeRequest{ClusterID: clusterID, ComponentName: component, TargetVersion: targetVersion},
		out:  &out,
		errorBody: func(status int, body []byte) bool {
			verdict, ok := decodeUpgradeVerdict(status, body)
			if ok {
				out = *verdict
			}
			return ok
		},
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// decodeUpgradeVerdict reads a non-2xx validateUpgrade answer whose JSON object carries "allowed" or
// "blockReason" as a refusal (Allowed is false); ok is false for an ordinary error answer, and always
// for 5xx and 429, which are retried.
func decodeUpgradeVerdict(status int, body []byte) (verdict *ValidateUpgradeResponse, ok bool) {
	if status >= 500 || status == http.StatusTooManyRequests {
		return nil, false
	}
	var probe map[string]json.RawMessage
	if json.Unmarshal(body, &probe) != nil {
		return nil, false
	}
	_, hasAllowed := probe["allowed"]
	_, hasReason := probe["blockReason"]
	if !hasAllowed && !hasReason {
		return nil, false
	}
	var out ValidateUpgradeResponse
	if json.Unmarshal(body, &out) != nil {
		return nil, false
	}
	out.Allowed = false
	return &out, true
}

// ShipLogs sends one batch of log entries (POST {apiUrl}/v1/clusters/{id}/components/
// castware-operator/logs). It is best effort: a single attempt, no retries. The API key is
// redacted from messages, field names and values before sending, and fields whose name
// looks secret are masked.
func (c *Client) ShipLogs(ctx context.Context, clusterID string, batch LogBatch) error {
	if err := requireID(EndpointShipLogs, "cluster ID", clusterID); err != nil {
		return err
	}
	if len(batch.Entries) == 0 {
		return nil
	}
	key, err := c.callKey(ctx, EndpointShipLogs)
	if err != nil {
		return err
	}
	if batch.Version == "" {
		batch.Version = "castware-operator/" + vPrefixed(c.version)
	}
	entries := make([]LogEntry, len(batch.Entries))
	for i, e := range batch.Entries {
		entries[i] = redactEntry(e, key)
	}
	batch.Entries = entries
	return c.do(ctx, call{
		ep: EndpointShipLogs, method: http.MethodPost,
		path: "/v1/clusters/" + url.PathEscape(clusterID) + "/components/castware-operator/logs",
		body: batch, attempts: 1, key: key,
	})
}

// vPrefixed adds a leading "v" to versions that start with a digit.
func vPrefixed(v string) string {
	if v != "" && v[0] >= '0' && v[0] <= '9' {
		return "v" + v
	}
	return v
}

// secretFieldHints mark field names whose values are never shipped.
var secretFieldHints = []string{"apikey", "api_key", "api-key", "secret", "password", "token", "authorization"}

// redactEntry returns a copy of e without the key and without secret-looking field values.
func redactEntry(e LogEntry, key string) LogEntry {
	e.Message = redact(e.Message, key)
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	if e.Level == "" {
		e.Level = LogLevelInfo
	}
	if len(e.Fields) == 0 {
		return e
	}
	fields := make(map[string]string, len(e.Fields))
	for k, v := range e.Fields {
		name := redact(k, key)
		lower := strings.ToLower(k)
		masked := false
		for _, h := range secretFieldHints {
			if strings.Contains(lower, h) {
				masked = true
				break
			}
		}
		if masked {
			fields[name] = redactedMark
		} else {
			fields[name] = redact(v, key)
		}
	}
	e.Fields = fields
	return e
}
