package castai

import (
	"encoding/json"
	"strings"
	"testing"
)

func FuzzDecodeActions(f *testing.F) {
	for _, seed := range []string{
		`{"actions":[]}`,
		`{}`,
		`{"actions":null}`,
		`{"actions":[{"id":"a","createTime":"2026-08-01T10:00:00Z","install":{"version":"1","component":"castai-agent","upsert":true,"valuesOverrides":{"a.b":"c"},"resetThenReuseValues":true,"releaseName":"r"}}]}`,
		`{"actions":[{"id":"b","upgrade":{"component":"x","valuesOverrides":{"k":"v"}}},{"id":"c","rollback":{"component":"x"}},{"id":"d","uninstall":{"component":"x"}}]}`,
		`{"actions":[{"id":"e","createTime":"not a time"}]}`,
		`{"actions":[{"id":1}]}`,
		`{"actions":[{"install":null,"upgrade":{}}]}`,
		`[`, ``, `null`, `"str"`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		acts, err := DecodeActions(body)
		if err != nil {
			if acts != nil {
				t.Fatal("actions returned with an error")
			}
			return
		}
		for i := range acts {
			a := &acts[i]
			k := a.Kind()
			name := a.ComponentName()
			verr := a.Validate()
			if k == ActionKindNone && (name != "" || verr == nil) {
				t.Fatalf("kindless action: name %q, validate %v", name, verr)
			}
			if verr == nil && (a.ID == "" || name == "") {
				t.Fatalf("valid action without id or component: %+v", a)
			}
		}
		// What decoded re-encodes and decodes to the same kinds.
		out, err := json.Marshal(PollResponse{Actions: acts})
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		again, err := DecodeActions(out)
		if err != nil || len(again) != len(acts) {
			t.Fatalf("round trip: %v (%d vs %d)", err, len(again), len(acts))
		}
		for i := range acts {
			if again[i].Kind() != acts[i].Kind() || again[i].ComponentName() != acts[i].ComponentName() {
				t.Fatalf("round trip changed action %d", i)
			}
		}
	})
}

func FuzzDecodeAPIError(f *testing.F) {
	const key = "fuzz-secret-key-42"
	for _, seed := range []struct {
		status int
		body   string
	}{
		{400, `{"message":"bad","fieldViolations":[{"field":"name","description":"required"}]}`},
		{401, `{"message":"Unauthorized"}`},
		{404, `{"message":"not found","fieldViolations":[]}`},
		{500, `<html>oops</html>`},
		{503, ``},
		{401, `{"message":"key fuzz-secret-key-42 is wrong"}`},
		{400, `{"message":"x","fieldViolations":[{"field":"fuzz-secret-key-42","description":"fuzz-secret-key-42"}]}`},
		{400, `{"message":"x","fieldViolations":"not a list"}`},
		{418, "fuzz-secret-key-42\x00\xff"},
		{0, `{"message":null}`},
	} {
		f.Add(seed.status, []byte(seed.body))
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		ae := decodeAPIError(status, body, key)
		if ae == nil || ae.StatusCode != status {
			t.Fatalf("decodeAPIError = %+v", ae)
		}
		msg := ae.Error()
		if strings.Contains(msg, key) {
			t.Fatalf("error leaks key: %q", msg)
		}
		if len(ae.Message) > 1100 {
			t.Fatalf("message not bounded: %d bytes", len(ae.Message))
		}
		_ = IsNotFound(ae)
		_ = IsUnauthorized(ae)
		_ = ae.Retryable()
	})
}
