// Package castai is a client for the Cast AI API as spoken by castware-operator: cluster
// registration, the component catalog, lifecycle actions (poll and ack), action results,
// upgrade validation and log shipping.
//
// Every call reads the API key from a KeySource, so a rotated key is used by the next
// request without recreating the client. Calls are retried with jittered exponential
// backoff on 5xx, 429, timeouts and connection errors, never on other 4xx answers. No
// error returned by this package contains the API key.
package castai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultBaseURL is used by New when baseURL is empty.
const DefaultBaseURL = "https://api.cast.ai"

// Defaults of the client options.
const (
	DefaultTimeout           = 10 * time.Second
	DefaultPollTimeout       = 10 * time.Minute
	DefaultMaxAttempts       = 4
	DefaultBaseDelay         = 200 * time.Millisecond
	DefaultMaxDelay          = 5 * time.Second
	DefaultComponentCacheTTL = 10 * time.Minute
	DefaultVersion           = "dev"
)

// maxResponseBytes bounds how much of a response body is read.
const maxResponseBytes = 8 << 20

// KeySource yields the API key; it is asked on every request so rotation needs no restart.
type KeySource interface {
	APIKey(ctx context.Context) (string, error)
}

// StaticKey is a KeySource that always returns the same key (tests, demos).
type StaticKey string

// APIKey returns the key itself.
func (k StaticKey) APIKey(context.Context) (string, error) { return string(k), nil }

// KeyFunc adapts a function to KeySource.
type KeyFunc func(ctx context.Context) (string, error)

// APIKey calls f.
func (f KeyFunc) APIKey(ctx context.Context) (string, error) { return f(ctx) }

// SleepFunc waits for d or until ctx is done, returning ctx.Err() in the latter case.
type SleepFunc func(ctx context.Context, d time.Duration) error

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client (default: a client with its own transport and no
// overall timeout; per-call timeouts come from WithTimeout and WithPollTimeout).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.http = hc } }

// WithVersion sets the operator version used in User-Agent "castware-operator/<v>" and in
// shipped log batches (default "dev").
func WithVersion(v string) Option { return func(c *Client) { c.version = v } }

// WithUserAgent replaces the whole User-Agent header (default "castware-operator/<version>").
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// WithTimeout sets the timeout of one request attempt (default 10s; poll has its own).
func WithTimeout(d time.Duration) Option { return func(c *Client) { c.timeout = d } }

// WithPollTimeout sets the timeout of one long-poll attempt (default 10m).
func WithPollTimeout(d time.Duration) Option { return func(c *Client) { c.pollTimeout = d } }

// WithMaxAttempts sets how many times a retryable call is tried in total (default 4; 1
// disables retries).
func WithMaxAttempts(n int) Option { return func(c *Client) { c.maxAttempts = n } }

// WithBackoff sets the first retry delay and the cap of the exponential backoff (defaults
// 200ms and 5s). Each delay is drawn uniformly from [d/2, d].
func WithBackoff(base, maxDelay time.Duration) Option {
	return func(c *Client) { c.baseDelay, c.maxDelay = base, maxDelay }
}

// WithSleep replaces the wait between retries (default: a timer honouring ctx); tests
// inject one that records delays and returns at once.
func WithSleep(s SleepFunc) Option { return func(c *Client) { c.sleep = s } }

// WithClock replaces time.Now for the component cache and latency statistics.
func WithClock(now func() time.Time) Option { return func(c *Client) { c.now = now } }

// WithComponentCacheTTL sets how long getByName answers are cached (default 10m; 0
// disables the cache). Only successful answers are cached.
func WithComponentCacheTTL(d time.Duration) Option { return func(c *Client) { c.cacheTTL = d } }

// WithLogger sets a logger for retries (default: none). Messages never contain the key.
func WithLogger(l *slog.Logger) Option { return func(c *Client) { c.log = l } }

// Endpoint names an API operation in Stats.
type Endpoint string

// Endpoints counted by Stats.
const (
	EndpointMe                 Endpoint = "Me"
	EndpointGetCluster         Endpoint = "GetCluster"
	EndpointRegisterCluster    Endpoint = "RegisterCluster"
	EndpointGetComponentByName Endpoint = "GetComponentByName"
	EndpointRecordActionResult Endpoint = "RecordActionResult"
	EndpointPollActions        Endpoint = "PollActions"
	EndpointAckAction          Endpoint = "AckAction"
	EndpointValidateUpgrade    Endpoint = "ValidateUpgrade"
	EndpointShipLogs           Endpoint = "ShipLogs"
)

// EndpointStats counts the traffic of one endpoint.
type EndpointStats struct {
	// Calls is the number of method calls that reached the network or the cache.
	Calls uint64
	// Attempts is the number of HTTP requests sent (Calls minus cache hits plus retries).
	Attempts uint64
	// Retries is the number of attempts after the first one of a call.
	Retries uint64
	// Errors is the number of calls that returned an error.
	Errors uint64
	// CacheHits is the number of calls answered from the component cache (or by sharing
	// a request already in flight for the same name).
	CacheHits uint64
	// Latency is the total wall time spent in calls, retries and backoff included.
	Latency time.Duration
}

// Client talks to the Cast AI API. It is safe for concurrent use.
type Client struct {
	base        *url.URL
	keys        KeySource
	http        *http.Client
	version     string
	userAgent   string
	timeout     time.Duration
	pollTimeout time.Duration
	maxAttempts int
	baseDelay   time.Duration
	maxDelay    time.Duration
	sleep       SleepFunc
	now         func() time.Time
	cacheTTL    time.Duration
	log         *slog.Logger
	observer    Observer

	statsMu sync.Mutex
	stats   map[Endpoint]*EndpointStats

	cacheMu  sync.Mutex
	cache    map[string]cacheEntry
	inflight map[string]*inflightCall
	cacheGen uint64
}

// New builds a client for baseURL (DefaultBaseURL when empty) that reads its key from keys.
func New(baseURL string, keys KeySource, opts ...Option) (*Client, error) {
	if keys == nil {
		return nil, errors.New("castai: nil KeySource")
	}
	if strings.TrimSpace(baseURL) == "" {
		baseURL = DefaultBaseURL
	}
	u, err := url.Parse(strings.TrimSpace(baseURL))
	if err != nil {
		return nil, fmt.Errorf("castai: invalid base URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("castai: invalid base URL %q: want http(s)://host[/prefix]", baseURL)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("castai: base URL must not carry credentials, a query or a fragment")
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	c := &Client{
		base:        u,
		keys:        keys,
		version:     DefaultVersion,
		timeout:     DefaultTimeout,
		pollTimeout: DefaultPollTimeout,
		maxAttempts: DefaultMaxAttempts,
		baseDelay:   DefaultBaseDelay,
		maxDelay:    DefaultMaxDelay,
		sleep:       sleepCtx,
		now:         time.Now,
		cacheTTL:    DefaultComponentCacheTTL,
		stats:       map[Endpoint]*EndpointStats{},
		cache:       map[string]cacheEntry{},
		inflight:    map[string]*inflightCall{},
	}
	for _, o := range opts {
		o(c)
	}
	if c.http == nil {
		c.http = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	c.http = withRedirectPolicy(c.http)
	if c.userAgent == "" {
		c.userAgent = "castware-operator/" + c.version
	}
	switch {
	case c.timeout <= 0:
		return nil, errors.New("castai: timeout must be positive")
	case c.pollTimeout <= 0:
		return nil, errors.New("castai: poll timeout must be positive")
	case c.maxAttempts < 1:
		return nil, errors.New("castai: max attempts must be at least 1")
	case c.baseDelay < 0 || c.maxDelay < c.baseDelay:
		return nil, errors.New("castai: backoff needs 0 <= base <= max")
	case c.sleep == nil || c.now == nil:
		return nil, errors.New("castai: sleep and clock must not be nil")
	case c.cacheTTL < 0:
		return nil, errors.New("castai: component cache TTL must not be negative")
	}
	return c, nil
}

// BaseURL returns the API base URL the client was built with.
func (c *Client) BaseURL() string { return c.base.String() }

// Version returns the operator version the client reports.
func (c *Client) Version() string { return c.version }

// Stats returns a snapshot of the per-endpoint counters.
func (c *Client) Stats() map[Endpoint]EndpointStats {
	c.statsMu.Lock()
	defer c.statsMu.Unlock()
	out := make(map[Endpoint]EndpointStats, len(c.stats))
	for k, v := range c.stats {
		out[k] = *v
	}
	return out
}

func (c *Client) record(ep Endpoint, f func(*EndpointStats)) {
	c.statsMu.Lock()
	defer c.statsMu.Unlock()
	s := c.stats[ep]
	if s == nil {
		s = &EndpointStats{}
		c.stats[ep] = s
	}
	f(s)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// apiKey asks the KeySource and trims the key.
func (c *Client) apiKey(ctx context.Context) (string, error) {
	k, err := c.keys.APIKey(ctx)
	if err != nil {
		return "", fmt.Errorf("reading API key: %w", err)
	}
	k = strings.TrimSpace(k)
	if k == "" {
		return "", ErrNoAPIKey
	}
	return k, nil
}

// call describes one API operation.
type call struct {
	ep     Endpoint
	method string
	path   string // relative to the base URL, with or without a leading slash
	query  url.Values
	header http.Header
	body   any // marshalled to JSON when non-nil
	out    any // JSON-decoded from a 2xx answer when non-nil
	// timeout overrides the per-attempt timeout when > 0.
	timeout time.Duration
	// attempts overrides the client's max attempts when > 0.
	attempts int
	// noTimeoutRetry disables retrying attempts that hit their own timeout (long poll).
	noTimeoutRetry bool
	// waitOutRetryAfter ends the call, instead of retrying sooner than asked, when the API's Retry-After is
	// longer than the client's max delay: the caller waits it out (castai.RetryAfter of the error).
	waitOutRetryAfter bool
	// errorBody, when set, may turn a non-2xx answer into a success by decoding it.
	errorBody func(status int, body []byte) bool
	// key, when set, is used for the request instead of asking the KeySource again.
	key string
}

// attemptError is the outcome of one failed attempt.
type attemptError struct {
	err        error
	retry      bool
	retryAfter time.Duration
}

// do runs c with retries and returns an error that never contains the key.
func (c *Client) do(ctx context.Context, cl call) (err error) {
	start := c.now()
	attempts, retries := 0, 0
	var lastKey string
	defer func() {
		err = redactErr(err, lastKey)
		c.record(cl.ep, func(s *EndpointStats) {
			s.Calls++
			s.Attempts += uint64(attempts)
			s.Retries += uint64(retries)
			if err != nil {
				s.Errors++
			}
			s.Latency += c.now().Sub(start)
		})
	}()

	var payload []byte
	if cl.body != nil {
		payload, err = json.Marshal(cl.body)
		if err != nil {
			return fmt.Errorf("castai %s: encoding request: %w", cl.ep, err)
		}
	}
	maxAttempts := c.maxAttempts
	if cl.attempts > 0 {
		maxAttempts = cl.attempts
	}
	for attempt := 1; ; attempt++ {
		key := cl.key
		if key == "" {
			key, err = c.apiKey(ctx)
			if err != nil {
				return fmt.Errorf("castai %s: %w", cl.ep, err)
			}
		}
		lastKey = key
		attempts++
		if attempt > 1 {
			retries++
		}
		ae := c.attempt(ctx, cl, key, payload)
		if ae == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("castai %s: %w (%w)", cl.ep, ctx.Err(), ae.err)
		}
		if !ae.retry || attempt >= maxAttempts || (cl.waitOutRetryAfter && ae.retryAfter > c.maxDelay) {
			if attempt > 1 {
				return fmt.Errorf("castai %s: giving up after %d attempts: %w", cl.ep, attempt, ae.err)
			}
			return fmt.Errorf("castai %s: %w", cl.ep, ae.err)
		}
		delay := c.backoff(attempt)
		if ae.retryAfter > 0 {
			delay = min(ae.retryAfter, c.maxDelay)
		}
		if c.log != nil {
			c.log.Debug("castai API call failed, retrying", "endpoint", string(cl.ep),
				"attempt", attempt, "delay", delay, "error", redact(ae.err.Error(), key))
		}
		if serr := c.sleep(ctx, delay); serr != nil {
			return fmt.Errorf("castai %s: %w (%w)", cl.ep, serr, ae.err)
		}
	}
}

// backoff returns the jittered delay before attempt+1: uniform in [d/2, d] with
// d = min(maxDelay, baseDelay * 2^(attempt-1)).
func (c *Client) backoff(attempt int) time.Duration {
	d := c.baseDelay
	for i := 1; i < attempt && d < c.maxDelay; i++ {
		d *= 2
	}
	d = min(d, c.maxDelay)
	if d <= 1 {
		return d
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// url joins the base URL and an API path whose segments are already escaped.
func (c *Client) url(path string, q url.Values) string {
	u := c.base.String() + "/" + strings.TrimLeft(path, "/")
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// attempt sends one request; nil means success (and cl.out filled).
func (c *Client) attempt(ctx context.Context, cl call, key string, payload []byte) *attemptError {
	timeout := c.timeout
	if cl.timeout > 0 {
		timeout = cl.timeout
	}
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(actx, cl.method, c.url(cl.path, cl.query), body)
	if err != nil {
		return &attemptError{err: fmt.Errorf("building request: %w", err)}
	}
	for k, vs := range cl.header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.Header.Set("X-API-Key", key)
	req.Header.Set("User-Agent", c.userAgent)
	req.Header.Set("Accept", "application/json")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}

	sent := c.now()
	resp, err := c.http.Do(req)
	c.observe(cl.ep, resp, sent)
	if err != nil {
		return c.transportError(ctx, actx, cl, timeout, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return c.transportError(ctx, actx, cl, timeout, fmt.Errorf("reading response: %w", err))
	}
	if len(raw) > maxResponseBytes {
		return &attemptError{err: fmt.Errorf("%w: HTTP %d body larger than %d bytes",
			ErrMalformedResponse, resp.StatusCode, maxResponseBytes)}
	}

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		if cl.errorBody != nil && cl.errorBody(resp.StatusCode, raw) {
			return nil
		}
		apiErr := decodeAPIError(resp.StatusCode, raw, key)
		apiErr.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), c.now)
		return &attemptError{err: apiErr, retry: apiErr.Retryable(), retryAfter: apiErr.RetryAfter}
	}
	if cl.out == nil {
		return nil
	}
	if err := decodeResponse(resp.StatusCode, raw, cl.out, key); err != nil {
		return &attemptError{err: err}
	}
	return nil
}

// decodeResponse decodes the body of a 2xx answer into out; its errors wrap ErrMalformedResponse and
// never contain key, not even where a decoding error quotes a value (a time, for one).
func decodeResponse(status int, body []byte, out any, key string) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return fmt.Errorf("%w: HTTP %d with an empty body", ErrMalformedResponse, status)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%w: HTTP %d: decoding JSON: %s (body starts: %q)",
			ErrMalformedResponse, status, redact(describeJSONError(err), key), snippet(body, key))
	}
	return nil
}

// describeJSONError shortens encoding/json errors without echoing large values.
func describeJSONError(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at offset %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("field %q: cannot use JSON %s as %s", te.Field, te.Value, te.Type)
	}
	return truncate(err.Error(), 200)
}

// transportError classifies an error of the transport (no HTTP answer).
func (c *Client) transportError(ctx, actx context.Context, cl call, timeout time.Duration, err error) *attemptError {
	if ctx.Err() != nil {
		return &attemptError{err: err}
	}
	if actx.Err() != nil || isTimeout(err) {
		return &attemptError{
			err:   fmt.Errorf("request timed out after %s: %w", timeout, err),
			retry: !cl.noTimeoutRetry,
		}
	}
	return &attemptError{err: err, retry: isConnError(err)}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// isConnError reports errors of the connection itself; an invalid URL or a TLS
// verification failure is not retried.
func isConnError(err error) bool {
	var ue *url.Error
	if errors.As(err, &ue) {
		var opErr *net.OpError
		var dnsErr *net.DNSError
		if errors.As(err, &opErr) || errors.As(err, &dnsErr) ||
			errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return true
		}
		msg := ue.Err.Error()
		return strings.Contains(msg, "connection reset") || strings.Contains(msg, "broken pipe") ||
			strings.Contains(msg, "server closed") || strings.Contains(msg, "EOF")
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

// parseRetryAfter understands delta-seconds and HTTP dates; 0 means absent or invalid.
func parseRetryAfter(v string, now func() time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(min(s, 3600)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now()); d > 0 {
			return d
		}
	}
	return 0
}

// requireID rejects an empty path identifier before anything is sent.
func requireID(ep Endpoint, what, v string) error {
	if strings.TrimSpace(v) == "" {
		return fmt.Errorf("castai %s: %s is required", ep, what)
	}
	return nil
}
