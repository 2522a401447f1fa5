package redact

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func TestString(t *testing.T) {
	key := "k3y-0123456789abcdef"
	Add(key)
	Add("short") // below MinLength: never registered (it would scrub ordinary words)
	b64 := base64.StdEncoding.EncodeToString([]byte(key))
	cases := []struct{ in, want string }{
		{"", ""},
		{"nothing secret", "nothing secret"},
		{"key " + key + " twice " + key, "key [REDACTED] twice [REDACTED]"},
		{`data[API_KEY]: Invalid value: "` + b64 + `"`, `data[API_KEY]: Invalid value: "[REDACTED]"`},
		{"a short word", "a short word"},
	}
	for _, c := range cases {
		if got := String(c.in); got != c.want {
			t.Errorf("String(%q) = %q, want %q", c.in, got, c.want)
		}
		if Contains(c.in) != (c.in != c.want) {
			t.Errorf("Contains(%q) = %t", c.in, Contains(c.in))
		}
	}
}

func TestLongestSecretFirst(t *testing.T) {
	Add("abcdefgh")
	Add("abcdefgh-and-more")
	if got := String("x abcdefgh-and-more y"); got != "x [REDACTED] y" {
		t.Errorf("got %q", got)
	}
}

func TestError(t *testing.T) {
	key := "error-key-98765"
	Add(key)
	plain := fs.ErrNotExist
	if Error(plain) != plain {
		t.Error("an error without secrets must be returned as is")
	}
	if Error(nil) != nil {
		t.Error("nil")
	}
	err := fmt.Errorf("helm: Secret is invalid: value %q: %w", key, fs.ErrPermission)
	red := Error(err)
	if strings.Contains(red.Error(), key) || !strings.Contains(red.Error(), Placeholder) {
		t.Errorf("not scrubbed: %v", red)
	}
	if !errors.Is(red, fs.ErrPermission) {
		t.Error("the scrubbed error no longer unwraps to its cause")
	}
}

func TestWriterAndCore(t *testing.T) {
	key := "log-key-13579abc"
	Add(key)
	var out bytes.Buffer
	w := Writer(&out)
	if n, err := w.Write([]byte("line with " + key + "\n")); err != nil || n != len("line with "+key+"\n") {
		t.Fatalf("Write: %d, %v", n, err)
	}
	if strings.Contains(out.String(), key) {
		t.Errorf("Writer let the key through: %q", out.String())
	}

	// A core that records what it is given, behind Core.
	var logged bytes.Buffer
	enc := zapcore.NewJSONEncoder(zap.NewDevelopmentEncoderConfig())
	inner := zapcore.NewCore(enc, zapcore.AddSync(&logged), zapcore.DebugLevel)
	logger := zap.New(Core(inner)).With(zap.String("with", key))
	type payload struct{ Token string }
	logger.Debug("message "+key, zap.Error(errors.New("err "+key)), zap.Stringer("stringer", stringer(key)),
		zap.Any("struct", payload{Token: key}), zap.ByteString("bytes", []byte(key)), zap.Int("n", 3), zap.String("fine", "ok"))
	if strings.Contains(logged.String(), key) {
		t.Errorf("Core let the key through:\n%s", logged.String())
	}
	for _, want := range []string{`"fine":"ok"`, `"n":3`, Placeholder} {
		if !strings.Contains(logged.String(), want) {
			t.Errorf("log line lacks %s:\n%s", want, logged.String())
		}
	}
}

type stringer string

func (s stringer) String() string { return "stringer " + string(s) }
