package castai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fuzzAPIKey is the key of the fuzzed clients; answers may contain it, errors never may.
const fuzzAPIKey = "fz-api-key-7f3c9a"

// maxDecodeErrorLen bounds the message of a decodeResponse error: two bounded excerpts and some words.
const maxDecodeErrorLen = 2048

// answerKinds are the answers decodeResponse reads, in the order FuzzDecodeResponse picks them.
var answerKinds = []struct {
	name string
	new  func() any
	call func(ctx context.Context, c *Client) (any, error)
}{
	{"Me", func() any { return new(Me) }, func(ctx context.Context, c *Client) (any, error) { return c.Me(ctx) }},
	{"GetCluster", func() any { return new(ExternalCluster) }, func(ctx context.Context, c *Client) (any, error) {
		return c.GetCluster(ctx, "c-1")
	}},
	{"RegisterCluster", func() any { return new(RegisterClusterResponse) }, func(ctx context.Context, c *Client) (any, error) {
		return c.RegisterCluster(ctx, RegisterClusterRequest{Name: "prod", EKS: &EKSParams{ClusterName: "prod", Region: "eu-west-1", AccountID: "123456789012"}})
	}},
	{"GetComponentByName", func() any { return new(ComponentInfo) }, func(ctx context.Context, c *Client) (any, error) {
		return c.GetComponentByName(ctx, "castai-agent")
	}},
	{"ValidateUpgrade", func() any { return new(ValidateUpgradeResponse) }, func(ctx context.Context, c *Client) (any, error) {
		return c.ValidateUpgrade(ctx, "c-1", "castai-agent", "1.2.3")
	}},
}

// fuzzAnswer is a transport that answers every request with one status and body.
type fuzzAnswer struct {
	status int
	body   []byte
}

func (a fuzzAnswer) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
	return &http.Response{
		StatusCode: a.status, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(a.body)), ContentLength: int64(len(a.body)), Request: req,
	}, nil
}

// fuzzClient is a client whose every call gets status and body in one attempt.
func fuzzClient(t *testing.T, status int, body []byte) *Client {
	t.Helper()
	c, err := New("https://api.example.com", StaticKey(fuzzAPIKey),
		WithHTTPClient(&http.Client{Transport: fuzzAnswer{status, body}}), WithMaxAttempts(1), WithComponentCacheTTL(0),
		WithSleep(func(context.Context, time.Duration) error { return nil }))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// httpStatus maps a fuzzed int onto the statuses an HTTP transport can deliver.
func httpStatus(n int) int {
	if n >= 100 && n <= 599 {
		return n
	}
	if n < 0 {
		n = -(n + 1)
	}
	return 100 + n%500
}

// checkKeyless fails when err's message contains the API key.
func checkKeyless(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), fuzzAPIKey) {
		t.Fatalf("error leaks the key: %q", err)
	}
}

// decodeResponseSeeds are answers the API could give: realistic ones for each kind, error statuses,
// an answer quoting the key, and bodies that are empty, truncated, of the wrong shape or not UTF-8.
var decodeResponseSeeds = []struct {
	status int
	kind   byte
	body   string
}{
	{200, 0, `{"id":"5e1f3c0a-8d2b-4c47-9a51-0c6d2f7e9b10","username":"ops@example.com"}`},
	{200, 1, `{"id":"0f7c2a9e-1b3d-4e5f-8a6b-7c8d9e0f1a2b","name":"prod-eks","organization_id":"9a8b7c6d-5e4f-3a2b-1c0d-e9f8a7b6c5d4","created_at":"2026-05-01T10:00:00Z","status":"ready","agent_snapshot_received_at":"2026-08-01T09:59:30.5+02:00","agent_status":"online"}`},
	{200, 1, `{"id":"c-1","created_at":"fz-api-key-7f3c9a"}`},
	{200, 1, `{"id":"c-1","created_at":null,"status":7}`},
	{201, 2, `{"id":"0f7c2a9e-1b3d-4e5f-8a6b-7c8d9e0f1a2b","organizationId":"9a8b7c6d-5e4f-3a2b-1c0d-e9f8a7b6c5d4"}`},
	{200, 2, `{"organizationId":"9a8b7c6d-5e4f-3a2b-1c0d-e9f8a7b6c5d4"}`},
	{200, 2, `null`},
	{200, 3, `{"id":"1","name":"spot-handler","helmChart":"castai-spot-handler","dependencies":["castai-agent"],"latestVersion":"0.35.5","releaseName":"castai-spot-handler"}`},
	{200, 3, `{"id":"2","name":"castai-agent","dependencies":null,"latestVersion":"v0.91.0"}`},
	{200, 3, `{"dependencies":[1,2]}`},
	{200, 4, `{"allowed":true}`},
	{200, 4, `{"allowed":false,"blockReason":"castai-agent 0.60 requires cluster-controller 0.81 or later"}`},
	{412, 4, `{"allowed":true,"blockReason":"needs phase 2"}`},
	{404, 1, `{"message":"cluster not found","fieldViolations":[]}`},
	{401, 0, `{"message":"invalid key fz-api-key-7f3c9a"}`},
	{503, 4, `{"allowed":false,"blockReason":"maintenance"}`},
	{502, 3, `<html><body>Bad Gateway</body></html>`},
	{200, 0, ``},
	{204, 4, " \n\t"},
	{200, 3, `[]`},
	{200, 1, `{"id":`},
	{200, 0, "{\"id\":\"\xff\xfe\",\"username\":\"\\u0000\"}"},
}

// FuzzDecodeResponse feeds arbitrary bodies to the decoder of success answers (me, cluster lookup,
// cluster registration, component lookup, upgrade validation; kind picks one), since the API, or
// whatever answers in its place, controls them. It checks that errors wrap ErrMalformedResponse, stay
// short and never hold the key, that what decodes re-encodes to itself and clones deeply, and that
// the client method returns the same answer for a 2xx status, a refusal, an *APIError or a
// malformed-response error for the others, and a registration only when it names the cluster.
func FuzzDecodeResponse(f *testing.F) {
	for _, seed := range decodeResponseSeeds {
		f.Add(seed.status, seed.kind, []byte(seed.body))
	}
	f.Fuzz(func(t *testing.T, status int, kind byte, body []byte) {
		ak := answerKinds[int(kind)%len(answerKinds)]
		out := ak.new()
		derr := decodeResponse(200, body, out, fuzzAPIKey)
		if derr != nil {
			if !errors.Is(derr, ErrMalformedResponse) {
				t.Fatalf("%s: error does not wrap ErrMalformedResponse: %v", ak.name, derr)
			}
			checkKeyless(t, derr)
			if len(derr.Error()) > maxDecodeErrorLen {
				t.Fatalf("%s: error of %d bytes", ak.name, len(derr.Error()))
			}
		} else {
			if len(bytes.TrimSpace(body)) == 0 {
				t.Fatalf("%s: empty body accepted", ak.name)
			}
			checkFixpoint(t, ak.name, out, ak.new)
			if ci, ok := out.(*ComponentInfo); ok {
				checkClone(t, ci)
			}
		}

		// The same answer through the client method.
		status = httpStatus(status)
		got, err := ak.call(context.Background(), fuzzClient(t, status, body))
		checkKeyless(t, err)
		if (err == nil) == isNil(got) {
			t.Fatalf("%s: result %v with error %v", ak.name, got, err)
		}
		if status < 200 || status > 299 {
			if err == nil {
				if ak.name != "ValidateUpgrade" {
					t.Fatalf("%s: HTTP %d answered %+v", ak.name, status, got)
				}
				if got.(*ValidateUpgradeResponse).Allowed {
					t.Fatalf("HTTP %d allowed an upgrade", status)
				}
			} else if StatusCode(err) != status {
				t.Fatalf("%s: HTTP %d gave %v", ak.name, status, err)
			}
			return
		}
		registerWithoutID := false
		if r, ok := out.(*RegisterClusterResponse); ok && derr == nil && r.ID == "" {
			registerWithoutID = true
		}
		switch {
		case derr != nil || registerWithoutID:
			if !errors.Is(err, ErrMalformedResponse) {
				t.Fatalf("%s: HTTP %d with an undecodable answer gave %v", ak.name, status, err)
			}
		case err != nil:
			t.Fatalf("%s: HTTP %d with a decodable answer gave %v", ak.name, status, err)
		default:
			want, _ := json.Marshal(out)
			have, _ := json.Marshal(got)
			if !bytes.Equal(want, have) {
				t.Fatalf("%s: client returned %s, decoder %s", ak.name, have, want)
			}
		}
	})
}

// upgradeVerdictSeeds are validateUpgrade answers: refusals under several statuses, plain errors,
// wrong types, duplicate keys, retried statuses and a success.
var upgradeVerdictSeeds = []struct {
	status int
	body   string
}{
	{412, `{"allowed":false,"blockReason":"castai-agent 0.60 requires cluster-controller 0.81 or later"}`},
	{409, `{"allowed":true}`},
	{400, `{"blockReason":"target version 9.9.9 is not released"}`},
	{403, `{"message":"forbidden","fieldViolations":[{"field":"component_name","description":"unknown"}]}`},
	{422, `{"allowed":"no","blockReason":"wrong type"}`},
	{400, `{"allowed":false,"BlockReason":"a","blockReason":"b"}`},
	{400, `{"blockReason":null}`},
	{429, `{"allowed":false,"blockReason":"slow down"}`},
	{500, `{"allowed":false,"blockReason":"x"}`},
	{404, `[{"allowed":false}]`},
	{400, `{"blockReason":"key fz-api-key-7f3c9a is not allowed"}`},
	{302, `{"allowed":false}`},
	{400, ``},
	{200, `{"allowed":true}`},
}

// FuzzDecodeUpgradeVerdict feeds arbitrary statuses and bodies to the reader of validateUpgrade
// refusals, since a refusal sent with an error status must block the upgrade rather than fail the
// call. It checks that 5xx and 429 are never read as a verdict, that a verdict never allows the
// upgrade, that every JSON object with "allowed" or "blockReason" that decodes is a verdict carrying
// its blockReason, and that ValidateUpgrade returns the verdict, or else an *APIError, keyless.
func FuzzDecodeUpgradeVerdict(f *testing.F) {
	for _, seed := range upgradeVerdictSeeds {
		f.Add(seed.status, []byte(seed.body))
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		verdict, ok := decodeUpgradeVerdict(status, body)
		if !ok {
			if verdict != nil {
				t.Fatal("verdict returned with ok false")
			}
		} else {
			if status >= 500 || status == http.StatusTooManyRequests {
				t.Fatalf("HTTP %d read as a verdict", status)
			}
			if verdict.Allowed {
				t.Fatal("a refusal allowed the upgrade")
			}
		}
		// Independently: a JSON object naming allowed or blockReason that fits the response type is a verdict.
		var fields map[string]any
		var typed ValidateUpgradeResponse
		if json.Unmarshal(body, &fields) == nil && json.Unmarshal(body, &typed) == nil {
			_, hasAllowed := fields["allowed"]
			reason, hasReason := fields["blockReason"]
			if (hasAllowed || hasReason) && status < 500 && status != http.StatusTooManyRequests && !ok {
				t.Fatalf("HTTP %d %s not read as a verdict", status, body)
			}
			folded := 0
			for k := range fields {
				if strings.EqualFold(k, "blockReason") {
					folded++
				}
			}
			if s, isString := reason.(string); ok && isString && folded == 1 && verdict.BlockReason != s {
				t.Fatalf("blockReason %q read as %q", s, verdict.BlockReason)
			}
		}

		status = httpStatus(status)
		got, err := fuzzClient(t, status, body).ValidateUpgrade(context.Background(), "c-1", "castai-agent", "1.2.3")
		checkKeyless(t, err)
		if status >= 200 && status <= 299 {
			var want ValidateUpgradeResponse
			if derr := decodeResponse(status, body, &want, fuzzAPIKey); (derr == nil) != (err == nil) {
				t.Fatalf("HTTP %d: decoder %v, client %v", status, derr, err)
			} else if err == nil && *got != want {
				t.Fatalf("HTTP %d: client %+v, decoder %+v", status, *got, want)
			}
			return
		}
		verdict, ok = decodeUpgradeVerdict(status, body)
		switch {
		case ok && (err != nil || *got != *verdict):
			t.Fatalf("HTTP %d verdict %+v: client %+v, %v", status, *verdict, got, err)
		case !ok && (err == nil || StatusCode(err) != status):
			t.Fatalf("HTTP %d without a verdict: client %+v, %v", status, got, err)
		}
	})
}

// checkFixpoint checks that a decoded answer re-encodes to JSON that decodes to the same answer.
func checkFixpoint(t *testing.T, name string, out any, fresh func() any) {
	t.Helper()
	js, err := json.Marshal(out)
	if err != nil {
		t.Fatalf("%s: re-encoding %+v: %v", name, out, err)
	}
	again := fresh()
	if err := decodeResponse(200, js, again, fuzzAPIKey); err != nil {
		t.Fatalf("%s: re-encoded %s does not decode: %v", name, js, err)
	}
	if js2, _ := json.Marshal(again); !bytes.Equal(js, js2) {
		t.Fatalf("%s: %s re-decoded as %s", name, js, js2)
	}
}

// checkClone checks that a cached component can be handed out without sharing its dependencies.
func checkClone(t *testing.T, ci *ComponentInfo) {
	t.Helper()
	c := ci.clone()
	if !reflect.DeepEqual(c, ci) {
		t.Fatalf("clone %+v differs from %+v", c, ci)
	}
	if len(c.Dependencies) > 0 {
		before := ci.Dependencies[0]
		c.Dependencies[0] += "-changed"
		if ci.Dependencies[0] != before {
			t.Fatal("clone shares its dependencies")
		}
	}
}

// isNil reports whether v is nil or a nil pointer.
func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	return rv.Kind() == reflect.Pointer && rv.IsNil()
}
