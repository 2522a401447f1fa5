// Package redact keeps secret values (Cast AI API keys) out of what the operator writes for people and
// other systems: logs, Kubernetes events, conditions and reports to Cast AI.
//
// The code never puts a key into a message on purpose; this package is the safety net for what it cannot
// control, such as a Helm or API-server error quoting a rendered value of a chart that takes the key in
// plaintext. Whoever reads a key registers it (Add); messages built from such errors go through String or
// Error; and the operator's log output is scrubbed as a whole (Writer, Core), so not even a debug line can
// carry a registered key.
package redact

import (
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"sync"

	"go.uber.org/zap/zapcore"
)

// Placeholder replaces every occurrence of a registered secret.
const Placeholder = "[REDACTED]"

// MinLength is the shortest value registered: shorter ones would scrub ordinary words.
const MinLength = 8

// maxSecrets bounds the registry: the most recent keys are kept (a key is rotated rarely).
const maxSecrets = 64

var (
	mu      sync.RWMutex
	secrets []string // most recently added last; includes encoded forms
	replace *strings.Replacer
)

// Add registers a secret value, with its base64 forms (Secret data as the API server quotes it).
func Add(secret string) {
	secret = strings.TrimSpace(secret)
	if len(secret) < MinLength {
		return
	}
	forms := []string{secret, base64.StdEncoding.EncodeToString([]byte(secret)), base64.RawStdEncoding.EncodeToString([]byte(secret))}
	mu.Lock()
	defer mu.Unlock()
	changed := false
	for _, f := range forms {
		if idx := indexOf(secrets, f); idx >= 0 {
			if idx == len(secrets)-1 {
				continue
			}
			secrets = append(secrets[:idx], secrets[idx+1:]...)
		}
		secrets = append(secrets, f)
		changed = true
	}
	if !changed {
		return
	}
	if len(secrets) > maxSecrets {
		secrets = secrets[len(secrets)-maxSecrets:]
	}
	// Longest first, so a secret containing another one is replaced whole.
	sorted := append([]string(nil), secrets...)
	for i := 1; i < len(sorted); i++ {
		for j := i; j > 0 && len(sorted[j]) > len(sorted[j-1]); j-- {
			sorted[j], sorted[j-1] = sorted[j-1], sorted[j]
		}
	}
	pairs := make([]string, 0, 2*len(sorted))
	for _, s := range sorted {
		pairs = append(pairs, s, Placeholder)
	}
	replace = strings.NewReplacer(pairs...)
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

// Contains reports whether s holds a registered secret.
func Contains(s string) bool {
	mu.RLock()
	defer mu.RUnlock()
	for _, sec := range secrets {
		if strings.Contains(s, sec) {
			return true
		}
	}
	return false
}

// String returns s with every registered secret replaced by Placeholder.
func String(s string) string {
	mu.RLock()
	r := replace
	mu.RUnlock()
	if r == nil || s == "" {
		return s
	}
	return r.Replace(s)
}

// Error returns err itself when its message holds no registered secret, else an error with the scrubbed
// message that still unwraps to err (errors.Is and errors.As keep working).
func Error(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := String(msg)
	if clean == msg {
		return err
	}
	return &redacted{msg: clean, err: err}
}

type redacted struct {
	msg string
	err error
}

func (r *redacted) Error() string { return r.msg }
func (r *redacted) Unwrap() error { return r.err }

// Writer returns a writer that scrubs registered secrets from every write before passing it on. A log
// encoder writes each entry in one call, so an entry is scrubbed whole.
func Writer(w io.Writer) io.Writer { return writer{w} }

type writer struct{ w io.Writer }

func (w writer) Write(p []byte) (int, error) {
	s := string(p)
	clean := String(s)
	if clean == s {
		return w.w.Write(p)
	}
	if _, err := io.WriteString(w.w, clean); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Core wraps a zap core so that every entry's message and fields are scrubbed of registered secrets before
// the wrapped core sees them (for cores that do not write through Writer, such as the log shipper).
func Core(c zapcore.Core) zapcore.Core { return core{c} }

type core struct{ zapcore.Core }

func (c core) With(fields []zapcore.Field) zapcore.Core {
	return core{c.Core.With(scrubFields(fields))}
}

func (c core) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c core) Write(e zapcore.Entry, fields []zapcore.Field) error {
	e.Message = String(e.Message)
	return c.Core.Write(e, scrubFields(fields))
}

// scrubFields replaces every field whose printed value holds a registered secret by a scrubbed string field.
func scrubFields(fields []zapcore.Field) []zapcore.Field {
	var out []zapcore.Field
	for i, f := range fields {
		s, ok := printed(f)
		if !ok || !Contains(s) {
			continue
		}
		if out == nil {
			out = append([]zapcore.Field(nil), fields...)
		}
		out[i] = zapcore.Field{Key: f.Key, Type: zapcore.StringType, String: String(s)}
	}
	if out == nil {
		return fields
	}
	return out
}

// printed returns how a field's value prints, for the field types that can carry text.
func printed(f zapcore.Field) (string, bool) {
	switch f.Type {
	case zapcore.StringType:
		return f.String, true
	case zapcore.ByteStringType, zapcore.BinaryType:
		if b, ok := f.Interface.([]byte); ok {
			return string(b), true
		}
	case zapcore.ErrorType:
		if err, ok := f.Interface.(error); ok && err != nil {
			return err.Error(), true
		}
	case zapcore.StringerType:
		if s, ok := f.Interface.(fmt.Stringer); ok && s != nil {
			return safeString(s), true
		}
	case zapcore.ReflectType, zapcore.ArrayMarshalerType, zapcore.ObjectMarshalerType:
		return fmt.Sprintf("%+v", f.Interface), true
	}
	return "", false
}

func safeString(s fmt.Stringer) (out string) {
	defer func() {
		if recover() != nil {
			out = ""
		}
	}()
	return s.String()
}
